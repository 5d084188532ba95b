"""Runs that survive: checkpoints, resume after SIGKILL / SIGTERM (also under MPI), NaN guard, MPI abort,
save / load / play."""
import os
import shutil
import signal
import subprocess

import gymnasium as gym
import numpy as np
import pytest
from conftest import PY, ROOT
from runs import assert_same_run, final_state, restored_replay, start
from test_cli import MPIEXEC, cli, rows

pytestmark = pytest.mark.slow  # subprocess runs: not in the fast tier (run/test -m 'not slow')

BASE = ["--env", "Pendulum-v1", "--nb_epoch_cycles", "5", "--eval_interval", "1000", "--eval_episodes", "2",
        "--log_formats", "csv,log", "--seed", "5"]


def fault(spec):
    """The test hook of baselines_meta.faults: stop a run at an exact point instead of racing it."""
    return {"BASELINES_META_FAULT": spec}


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    args = ["--alg", "ddpg", "--num_timesteps", "9000", *BASE]
    assert cli(*args, "--log_path", a).returncode == 0
    p = start(*args, "--log_path", b, env=fault("saved:3"))  # SIGKILL right after the third checkpoint
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    n_before = len(rows(os.path.join(b, "progress.csv")))
    assert n_before < 9
    r = cli("--resume", "--log_path", b)
    assert r.returncode == 0, r.stderr[-2000:]
    # continuous logs: no duplicated, no missing rows, and the very same numbers as the uninterrupted run
    assert [x["total/epochs"] for x in rows(os.path.join(b, "progress.csv"))] == [str(i) for i in range(1, 10)]
    assert final_state(b)[0]["steps"] == 9000
    assert_same_run(a, b)


def test_sigterm_checkpoints_and_meta_resumes(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    args = ["--alg", "meta", "--num_timesteps", "8000", "--nb_epoch_cycles", "3", "--record_states", *BASE[2:]]
    args = ["--env", "Pendulum-v1"] + args
    assert cli(*args, "--log_path", a).returncode == 0
    p = start(*args, "--log_path", b, env=fault("saved:2:term"))  # SIGTERM right after the second checkpoint
    out, err = p.communicate(timeout=300)
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "checkpoint saved" in err and "--resume" in err
    r = cli("--resume", "--log_path", b)
    assert r.returncode == 0, r.stderr[-2000:]
    assert final_state(b)[0]["steps"] == 8000
    assert_same_run(a, b)  # states.npz included
    z = np.load(os.path.join(b, "states.npz"))
    # 16 cycles of 500 steps: D0 takes 100 a cycle, 8 teacher episodes of 200; the student's R_pi rollout 200 from
    # a fresh reset, 16 episodes (fewer than 50: first and last hold them all)
    for name, n_eps in (("teacher", 8), ("student", 16)):
        assert z[f"{name}_first_obs"].shape == z[f"{name}_last_obs"].shape == (200 * n_eps, 3)
        np.testing.assert_array_equal(z[f"{name}_first_episode"], np.repeat(np.arange(n_eps), 200))
    # resuming a finished run changes nothing
    before = open(os.path.join(b, "progress.csv")).read()
    assert cli("--resume", "--log_path", b).returncode == 0
    assert open(os.path.join(b, "progress.csv")).read() == before


def test_two_ranks_stop_and_resume(tmp_path):
    a, d = str(tmp_path / "a"), str(tmp_path / "run")
    assert cli("--alg", "meta", "--num_timesteps", "6000", *BASE, "--log_path", a, mpi_np=2).returncode == 0
    # each rank sends itself SIGTERM after its second checkpoint (as mpiexec forwards a user's Ctrl-C to both)
    p = start("--alg", "meta", "--num_timesteps", "6000", *BASE, "--log_path", d, mpi_np=2, env=fault("saved:2:term"))
    p.communicate(timeout=300)
    h0, _ = final_state(d, 0)
    h1, _ = final_state(d, 1)
    assert h0["steps"] == h1["steps"] < 6000
    r = cli("--resume", "--log_path", d, mpi_np=2)
    assert r.returncode == 0, r.stderr[-2000:]
    (h0, s0), (h1, s1) = final_state(d, 0), final_state(d, 1)
    assert h0["steps"] == h1["steps"] == 6000
    # networks, targets, Adam slots and counters agree (meta's student has no parameter noise, whose generator state
    # would be each rank's own)
    for x, y in zip(s0["learner"]["vars"], s1["learner"]["vars"], strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(s0["teacher"]["vars"], s1["teacher"]["vars"], strict=True):
        np.testing.assert_array_equal(x, y)
    assert s0["replay"]["total"] == s1["replay"]["total"] == 6000
    b0, b1 = restored_replay(d, 0, s0), restored_replay(d, 1, s1)
    assert b0.size == b1.size == 6000 and not np.array_equal(b0.obs0, b1.obs0)  # each rank its own env and replay
    steps = [int(x["total/steps"]) for x in rows(os.path.join(d, "progress.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 6000
    # exact: each rank ends as in the uninterrupted 2-rank run (batches exchanged: the same fused union on both)
    assert "exchange batches" in open(os.path.join(d, "log.txt")).read()
    for rank in (0, 1):
        assert_same_run(a, d, rank)


class NaNAfter(gym.Wrapper):
    def __init__(self, n=600):
        super().__init__(gym.make("Pendulum-v1"))
        self.t, self.n = 0, n

    def step(self, a):
        o, r, te, tr, i = self.env.step(a)
        self.t += 1
        return o, (float("nan") if self.t > self.n else r), te, tr, i


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, capsys):
    from baselines_meta.run import main

    gym.register("NaNPendulum-v0", entry_point=NaNAfter)
    d = str(tmp_path / "run")
    rc = main(["--alg", "ddpg", "--env", "NaNPendulum-v0", "--num_timesteps", "2000", "--nb_epoch_cycles", "1",
               "--eval_episodes", "0", "--log_path", d, "--log_formats", "csv"])
    err = capsys.readouterr().err
    assert rc == 3 and "non-finite" in err and "at step 800" in err and "checkpoint" in err
    header, state = final_state(d)
    assert header["steps"] == 600
    assert all(np.all(np.isfinite(v)) for v in state["learner"]["vars"])


def test_exception_on_one_rank_aborts_the_job(tmp_path):
    r = subprocess.run([MPIEXEC, "-n", "2", PY, os.path.join(ROOT, "tests", "mpi_crash.py"), "--alg", "ddpg",
                        "--num_timesteps", "20000", "--log_path", str(tmp_path / "run"), "--log_formats", "csv"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode != 0
    assert "injected failure on rank 1" in r.stderr and "aborting all 2 ranks" in r.stderr  # (a hang hits the timeout)


def test_save_load_play_roundtrip(tmp_path):
    from baselines_meta.api import train
    from baselines_meta.flags import build_parser, config_from_args
    from baselines_meta.runtime.policy_io import SavedPolicy

    p = str(tmp_path / "policy.npz")
    a = build_parser().parse_args(["--alg", "meta", "--num_timesteps", "700", "--nb_train_steps", "5", "--eval_episodes", "1",
                                   "--log_path", str(tmp_path / "run"), "--log_formats", "csv", "--save_path", p])
    out = train(config_from_args(a), save_path=p)
    pol = SavedPolicy(p)
    obs = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    want = out.learner.actions_of(obs).numpy()
    for i in range(20):
        np.testing.assert_allclose(pol.act(obs[i]), want[i], rtol=1e-4, atol=1e-5)
    for x, v in zip(pol.teacher_arrays, out.teacher.net.own_variables(), strict=True):
        np.testing.assert_array_equal(x, v.numpy())
    r = cli("--load_path", p, "--play", "--play_episodes", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [l for l in r.stdout.splitlines() if l.startswith("episode")]
    assert len(lines) == 2 and "mean return over 2 episodes" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--resume"], "--resume needs --log_path"),
    (["--play"], "--play needs --load_path"),
    (["--play", "--load_path", "/nonexistent/p.npz"], "cannot read policy file"),
    (["--log_path", "{a_file}/run"], "log path"),  # under a regular file: unwritable on every machine
    (["--resume", "--overwrite", "--log_path", "/tmp"], "exclude each other"),
    (["--save_interval", "0"], "positive integer"),
])
def test_more_bad_input(args, needle, tmp_path):
    (tmp_path / "a_file").write_text("")
    r = cli(*[x.format(a_file=tmp_path / "a_file") for x in args], "--num_timesteps", "100")
    assert r.returncode == 2, (r.stdout, r.stderr[-1000:])
    err = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(err) == 1 and needle in err[0], r.stderr
    assert "Traceback" not in r.stderr


def test_resume_of_missing_run(tmp_path):
    r = cli("--resume", "--log_path", str(tmp_path / "none"))
    assert r.returncode == 2 and "nothing to resume" in r.stderr


def _fill(buf, rng, n):
    O, A = buf.obs0.shape[1], buf.actions.shape[1]
    buf.add_many(rng.normal(size=(n, O)).astype(np.float32), rng.uniform(-1, 1, (n, A)).astype(np.float32),
                 rng.normal(size=n).astype(np.float32), rng.normal(size=(n, O)).astype(np.float32),
                 rng.random(n) < 0.1, rng.random(n) < 0.1)


def _same(a, b):
    assert (a.total, a.size, a.next_idx) == (b.total, b.size, b.next_idx)
    for k in a.FIELDS:
        np.testing.assert_array_equal(getattr(a, k)[: a.size], getattr(b, k)[: b.size])


def test_replay_segments_restore_across_wraparound_and_prune(tmp_path):
    """Incremental replay checkpoints: only new rows are written, the ring wraps (also by more than its capacity
    between two saves), old segments are pruned but the previous checkpoint stays restorable, and a segment of a
    checkpoint that never landed is discarded on restore."""
    from baselines_meta.common.replay import ReplayBuffer
    from baselines_meta.storage.checkpoint import Checkpointer, ReplayLog

    rng = np.random.default_rng(0)
    live = ReplayBuffer(50, 3, 2)
    ck = Checkpointer(str(tmp_path), 0)
    ck.track_replay(live)
    metas, copies = [], []
    for n in (30, 15, 20, 120, 7):  # totals 30, 45, 65 (wrapped), 185 (more than capacity at once), 192
        _fill(live, rng, n)
        ck.save(live.total, 0, {})
        metas.append(final_state(str(tmp_path))[1]["replay"])
        copies.append({k: getattr(live, k).copy() for k in live.FIELDS} | {"n": (live.total, live.size, live.next_idx)})
    assert [m["total"] for m in metas] == [30, 45, 65, 185, 192]
    segs = ReplayLog(ck.replay.dir, ReplayBuffer(50, 3, 2)).segments()
    assert all(stop > 185 - 50 for _, stop, _ in segs)  # nothing the last two checkpoints cannot need
    assert segs[-1][:2] == (185, 192)  # the last save wrote only its 7 new rows
    for i, meta in enumerate(metas[-2:]):  # the current and the previous checkpoint both restore exactly
        b = ReplayBuffer(50, 3, 2)
        scratch = str(tmp_path / f"copy{i}")  # restoring the previous one voids the newer segments: use a copy
        shutil.copytree(ck.replay.dir, scratch)
        ReplayLog(scratch, b).restore(meta)
        want = ReplayBuffer(50, 3, 2)
        c = copies[metas.index(meta)]
        for k in want.FIELDS:
            getattr(want, k)[:] = c[k]
        want.total, want.size, want.next_idx = c["n"]
        _same(b, want)
    # a run killed after writing a segment but before its checkpoint landed: resume discards that segment
    _fill(live, rng, 9)
    ck.replay.save()
    b = ReplayBuffer(50, 3, 2)
    ck2 = Checkpointer(str(tmp_path), 0)
    ck2.track_replay(b, metas[-1])
    assert b.total == 192 and ReplayLog(ck.replay.dir, b).segments()[-1][:2] == (185, 192)
    _fill(b, np.random.default_rng(1), 9)
    ck2.save(b.total, 0, {})
    b2 = ReplayBuffer(50, 3, 2)
    ReplayLog(ck.replay.dir, b2).restore(final_state(str(tmp_path))[1]["replay"])
    _same(b2, b)


def test_replay_segments_missing_rows_is_a_clear_error(tmp_path):
    from baselines_meta.common.replay import ReplayBuffer
    from baselines_meta.storage.checkpoint import CheckpointError, ReplayLog

    live = ReplayBuffer(100, 3, 1)
    log = ReplayLog(str(tmp_path / "r"), live)
    _fill(live, np.random.default_rng(0), 10)
    log.save()
    _fill(live, np.random.default_rng(1), 10)
    meta = log.save()
    os.remove(os.path.join(log.dir, "seg-0-10.npz"))
    with pytest.raises(CheckpointError, match=r"miss rows \[0, 10\)"):
        ReplayLog(log.dir, ReplayBuffer(100, 3, 1)).restore(meta)

