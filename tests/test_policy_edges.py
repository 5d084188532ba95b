"""Edges of a saved policy: the observations predict() takes, files that are no policy, --play's env, and a run
resumed with another number of MPI ranks than made it."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
from test_cli import cli
from test_faults import line, listing, quiet

O, A, H = 3, 1, 8  # Pendulum-v1: 3 observations, 1 action; a small hidden layer


def write_policy(path, env="Pendulum-v1", obs_dim=O, seed=0):
    """A policy file as save_policy writes it (actor, observation statistics, config), with made-up weights and only
    the config entries a saved policy reads: no TF."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, (n_in, n_out) in enumerate([(obs_dim, H), (H, H)]):
        arrays[f"actor/kernel_{i}"] = rng.normal(size=(n_in, n_out))
        arrays[f"actor/bias_{i}"] = rng.normal(size=n_out)
        arrays[f"actor/gamma_{i}"], arrays[f"actor/beta_{i}"] = np.ones(n_out), np.zeros(n_out)
        arrays[f"actor/eps_{i}"] = np.float64(1e-3)
    arrays["actor/out_kernel"], arrays["actor/out_bias"] = rng.normal(size=(H, A)), np.zeros(A)
    arrays["obs_mean"], arrays["obs_std"] = np.zeros(obs_dim), np.ones(obs_dim)
    meta = {"config": {"env_id": env, "ddpg": {"obs_clip": 5.0}}, "obs_dim": obs_dim, "act_dim": A}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def policy(tmp_path):
    return write_policy(tmp_path / "policy.npz")


# ---------------------------------------------------------------------------------------------- 1. observations
def test_predict_takes_one_observation_or_a_batch(policy):
    import baselines_meta

    pol = baselines_meta.load_policy(policy)
    assert pol.predict(np.zeros(O, np.float32)).shape == (A,)
    assert pol.predict([0.1, -0.2, 0.3]).shape == (A,)
    assert pol.predict(np.zeros((5, O))).shape == (5, A)
    assert pol.predict(np.zeros((0, O))).shape == (0, A)
    a = pol.predict(np.ones(O))
    assert np.all(np.isfinite(a)) and np.all(np.abs(a) <= 2.0)  # Pendulum's torque bounds


@pytest.mark.parametrize("shape", [(4,), (2,), (5, 4), (2, 2, O), (), (O, 1)])
def test_predict_refuses_a_wrong_shape_naming_the_one_it_wants(policy, shape):
    import baselines_meta
    from baselines_meta.runtime.policy_io import ObservationError

    with pytest.raises(ObservationError) as e:
        baselines_meta.load_policy(policy).predict(np.zeros(shape))
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in msg
    assert f"[{O}]" in msg and f"[N, {O}]" in msg and str(shape) in msg and "Pendulum-v1" in msg, msg


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predict_refuses_non_finite_observations(policy, bad):
    import baselines_meta
    from baselines_meta.runtime.policy_io import ObservationError

    pol = baselines_meta.load_policy(policy)
    obs = np.zeros(O)
    obs[1] = bad
    with pytest.raises(ObservationError, match=r"not finite .*index 1\b"):
        pol.predict(obs)
    batch = np.zeros((4, O), np.float32)
    batch[2, 0] = bad
    with pytest.raises(ObservationError, match=r"not finite .*row 2\b"):
        pol.predict(batch)


def test_predict_refuses_what_is_not_numbers(policy):
    import baselines_meta
    from baselines_meta.runtime.policy_io import ObservationError

    pol = baselines_meta.load_policy(policy)
    for obs in (["a", "b", "c"], [[0.0, 1.0], [0.0]], None):
        with pytest.raises(ObservationError, match=r"\[N, 3\]"):
            pol.predict(obs)


def test_play_runs_unchanged(policy, capsys):
    from baselines_meta.runtime.policy_io import play

    returns = play(policy, 2, 0, None)
    assert len(returns) == 2 and all(np.isfinite(returns))
    assert "mean return over 2 episodes" in capsys.readouterr().out
    assert play(policy, 2, 0, None, env_id="Pendulum-v1") == returns  # the policy's own env, given explicitly


@pytest.mark.slow
def test_cli_play_runs_unchanged(policy):
    r = cli("--play", "--load_path", policy, "--play_episodes", "1")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "episode 0: return" in r.stdout


# ---------------------------------------------------------------------------------------------- 2. not a policy file
class _Thing:
    pass


def _bad_file(kind, tmp_path):
    """A path that is no policy file, and the words its one-line message must hold."""
    p = str(tmp_path / f"bad-{kind}")
    if kind == "text":
        open(p, "w").write("hello\nworld\n")
    elif kind == "empty":
        open(p, "w").close()
    elif kind == "npz":
        p += ".npz"
        np.savez(p, a=np.random.default_rng(0).normal(size=(4, 4)), b=np.arange(3))
    elif kind == "npy":
        p += ".npy"
        np.save(p, np.zeros(3))
    elif kind == "pickle":
        p += ".pkl"
        pickle.dump({"actor": [np.zeros(3)], "x": _Thing()}, open(p, "wb"))
    elif kind == "object_npz":
        p += ".npz"
        np.savez(p, meta_json=np.zeros(2, np.uint8), payload=np.array([{"a": 1}], dtype=object))
    elif kind == "bad_json":
        p += ".npz"
        np.savez(p, meta_json=np.frombuffer(b"\xff[1,", np.uint8))
    elif kind == "list_json":
        p += ".npz"
        np.savez(p, meta_json=np.frombuffer(b"[1, 2]", np.uint8))
    elif kind == "no_actor":
        p += ".npz"
        z = dict(np.load(write_policy(tmp_path / "full.npz")))
        np.savez(p, **{k: v for k, v in z.items() if not k.startswith("actor/")})
    elif kind == "misfit":  # weights of another obs_dim than the header's
        p += ".npz"
        z = dict(np.load(write_policy(tmp_path / "full.npz", obs_dim=5)))
        meta = json.loads(bytes(z["meta_json"]).decode())
        z["meta_json"] = np.frombuffer(json.dumps({**meta, "obs_dim": O}).encode(), np.uint8)
        np.savez(p, **z)
    elif kind == "truncated":
        p += ".npz"
        full = open(write_policy(tmp_path / "full.npz"), "rb").read()
        open(p, "wb").write(full[: len(full) // 2])
    elif kind == "directory":
        os.makedirs(p)
        return p, ["is a directory, not a policy file written by --save_path"]
    elif kind == "missing":
        p += ".npz"
        return p, ["no such file"]
    return p, ["is not a policy file written by --save_path ("]


BAD = ["text", "empty", "npz", "npy", "pickle", "object_npz", "bad_json", "list_json", "no_actor", "misfit", "truncated",
       "directory", "missing"]


@pytest.mark.parametrize("kind", BAD)
def test_load_policy_of_a_file_that_is_no_policy(kind, tmp_path):
    import baselines_meta
    from baselines_meta.runtime.policy_io import PolicyFileError

    p, words = _bad_file(kind, tmp_path)
    with pytest.raises(PolicyFileError) as e:
        baselines_meta.load_policy(p)
    msg = str(e.value)
    assert "\n" not in msg and p in msg and "allow_pickle" not in msg, msg
    assert all(w in msg for w in words), msg
    if kind in ("pickle", "object_npz"):
        assert "pickle" in msg and "not loaded" in msg, msg


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["text", "npz", "pickle", "object_npz", "directory", "missing"])
def test_cli_play_of_a_file_that_is_no_policy(kind, tmp_path):
    p, words = _bad_file(kind, tmp_path)
    r = cli("--play", "--load_path", p)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("baselines_meta.run: error: "), r.stderr[-3000:]
    assert p in err[0] and all(w in err[0] for w in words), err


# ---------------------------------------------------------------------------------------------- 3. --play's env
def test_play_refuses_another_env_than_the_policys(policy, capsys):
    from baselines_meta.runtime.policy_io import PolicyFileError, play

    with pytest.raises(PolicyFileError) as e:
        play(policy, 1, 0, None, env_id="Hopper-v4")
    assert str(e.value) == ("--env Hopper-v4 differs from the policy's env Pendulum-v1 (--play runs the policy's env; "
                            "drop --env)")
    assert "episode" not in capsys.readouterr().out  # refused before any episode


# ---------------------------------------------------------------------------------------------- 4. MPI rank count
RUN = ["--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "400", "--nb_epoch_cycles", "2", "--eval_interval",
       "400", "--eval_episodes", "1", "--log_formats", "csv", "--no-progress_bar"]


@pytest.mark.slow
@pytest.mark.parametrize("made,resumed", [(1, 2), (2, 1)])
def test_resume_with_another_number_of_ranks(made, resumed, tmp_path):
    d = str(tmp_path / "run")
    quiet(cli(*RUN, "--log_path", d, mpi_np=made if made > 1 else 0))
    before = listing(d)
    for extra in ([], ["--num_timesteps", "800"]):  # its own budget (finished) and a larger one
        msg = line(cli("--resume", "--log_path", d, *extra, mpi_np=resumed if resumed > 1 else 0), 2)
        want = (f"this run was made with {made} MPI rank{'s' if made > 1 else ''} and is resumed with {resumed}: "
                f"resume it with the same number of ranks (mpirun -np {made})")
        assert want in msg and "nothing was changed" in msg, msg
        assert listing(d) == before


def test_checkpointer_names_the_rank_count_of_the_files(tmp_path):
    """In-process: the ranks that made a run are read from its checkpoint files (here one rank's files only are
    copied next to a second rank's, which is what a 2-rank run leaves)."""
    from baselines_meta.storage.checkpoint import Checkpointer, ranks_in

    d = str(tmp_path / "run")
    assert ranks_in(os.path.join(d, "checkpoints")) == 0
    Checkpointer(d, 0).save(10, 1, {"x": 1})
    assert ranks_in(os.path.join(d, "checkpoints")) == 1
    shutil.copy(os.path.join(d, "checkpoints", "rank0.pkl"), os.path.join(d, "checkpoints", "rank1.prev.pkl"))
    assert ranks_in(os.path.join(d, "checkpoints")) == 2
