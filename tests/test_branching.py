"""--teacher_start student: D0's episodes branch from exactly restored states of the student's rollout."""
import os
import signal
import warnings

import gymnasium as gym
import numpy as np
import pytest
from runs import assert_same_run, start
from test_cli import cli, rows

from baselines_meta.runtime import branching
from baselines_meta.runtime.branching import Tape, check_restorable, run_branched
from baselines_meta.runtime.envs import EnvError, EnvRunner, make_env

FAMILIES = ["Hopper-v4", "InvertedDoublePendulum-v4", "HalfCheetah-v4", "Pendulum-v1", "MountainCarContinuous-v0",
            "Reacher-v4",
            # the hard-exploration suite's (--teacher_start student runs on all four): dm_control's physics included
            "SparseMountainCar-v0", "SparseHalfCheetah-v5", "dm_control/cartpole-swingup_sparse-v0"]


def _recorded(env_id, n=130, seed=0):
    runner, tape = EnvRunner(make_env(env_id), seed), Tape()
    rng = np.random.default_rng(seed)
    ro = runner.run(n, lambda o: rng.uniform(-1, 1, runner.act_dim).astype(np.float32), tape=tape)
    return runner, tape, ro


@pytest.mark.parametrize("env_id", FAMILIES)
def test_restore_is_exact(env_id):
    """On another env of the family: the observation of step k comes back, and the recorded action gives the
    recorded next observation and reward exactly, at snapshots, between them and after resets (IDP and Hopper fall
    within 130 random steps)."""
    _, tape, ro = _recorded(env_id)
    other = make_env(env_id)
    other.reset(seed=99)
    ks = sorted({0, 1, 49, 50, 51, 77, len(tape) - 1} | {k for k in range(len(tape)) if tape.depths[k] == 0})
    for k in ks:
        obs = tape.restore(other, k)
        np.testing.assert_array_equal(obs, ro.obs0[k])
        o1, r, te, tr, _ = other.step(tape.actions[k])
        np.testing.assert_array_equal(np.asarray(o1, np.float32), ro.obs1[k])
        assert np.float32(r) == ro.rewards[k] and (te, tr) == (ro.terminated[k], ro.truncated[k]), k
    if env_id in ("InvertedDoublePendulum-v4", "Hopper-v4"):
        assert ro.terminated.any()  # the resets were exercised
    check_restorable(env_id)


def test_time_limit_counts_from_the_students_episode_start_and_the_cut_is_truncated():
    _, tape, _ = _recorded("Pendulum-v1", n=200)  # one whole 200-step episode
    env = make_env("Pendulum-v1")
    runner = EnvRunner(env, 5)

    class At:  # a "generator" that branches at step 150
        def integers(self, n):
            return 150

    ro, depths = run_branched(runner, 60, lambda o: np.zeros(1, np.float32), tape, At())
    assert depths == [150, 150]  # the first branch's episode hits the time limit after 50 steps, then branches again
    assert ro.truncated[49] and not ro.terminated.any() and ro.episode_lengths == [50]
    assert ro.truncated[-1] and len(ro.rewards) == 60  # the second episode is cut at D0's end: stored as truncated
    np.testing.assert_array_equal(ro.obs0[50], ro.obs0[0])  # both start from step 150's state


class Hidden(gym.Env):
    """An env whose state lives where get_env_state cannot see it (a dict): not restorable."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.box = {"x": 0.0}
        return np.zeros(1, np.float32), {}

    def step(self, a):
        self.box["x"] += float(a[0])
        return np.array([self.box["x"]], np.float32), 0.0, False, False, {}


def test_an_env_that_cannot_be_restored_is_refused_with_one_line(tmp_path, capsys):
    from baselines_meta.run import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym.register("HiddenState-v0", entry_point=Hidden, max_episode_steps=50)
    with pytest.raises(EnvError, match="cannot be restored exactly"):
        check_restorable("HiddenState-v0")
    d = str(tmp_path / "run")
    assert main(["--alg", "meta", "--env", "HiddenState-v0", "--teacher_start", "student", "--log_path", d]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--teacher_start student needs" in err[0]
    assert not os.path.exists(d)  # refused before the run directory was made


def test_start_depth_is_the_mean_of_the_branch_depths(tmp_path, monkeypatch):
    from baselines_meta.api import train
    from baselines_meta.meta.starts import student as student_start

    seen = []

    def spy(runner, n, act, tape, rng):
        ro, depths = run_branched(runner, n, act, tape, rng)
        seen.append(depths)
        return ro, depths

    monkeypatch.setattr(student_start, "run_branched", spy)
    d = str(tmp_path / "s")
    out = train(alg="meta", env="Pendulum-v1", num_timesteps=3000, nb_epoch_cycles=3, eval_episodes=0,
                teacher_start="student", log_path=d, log_formats="csv", progress_bar=False)
    assert out.steps == 3000 and len(seen) == 6
    prog = rows(os.path.join(d, "progress.csv"))
    for epoch, row in enumerate(prog):
        depths = [x for c in seen[3 * epoch:3 * epoch + 3] for x in c]
        assert float(row["teacher/start_depth"]) == pytest.approx(np.mean(depths))
        assert 0 < float(row["teacher/start_depth"]) < 200  # Pendulum's R_pi rollout: 200 steps from a reset
    r = str(tmp_path / "r")
    train(alg="meta", env="Pendulum-v1", num_timesteps=1500, nb_epoch_cycles=3, eval_episodes=0, log_path=r,
          log_formats="csv", progress_bar=False)
    assert float(rows(os.path.join(r, "progress.csv"))[0]["teacher/start_depth"]) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["fresh", pytest.param("previous", marks=pytest.mark.long)])
def test_student_start_resumes_identically(tmp_path, baseline):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    args = ["--alg", "meta", "--env", "Pendulum-v1", "--num_timesteps", "6000", "--nb_epoch_cycles", "3",
            "--eval_interval", "1000", "--eval_episodes", "2", "--log_formats", "csv,log", "--no-progress_bar",
            "--teacher_start", "student", "--meta_baseline", baseline]
    assert cli(*args, "--log_path", a).returncode == 0
    p = start(*args, "--log_path", b, env={"BASELINES_META_FAULT": "saved:2:term"})
    _, err = p.communicate(timeout=300)
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    r = cli("--resume", "--log_path", b)
    assert r.returncode == 0, r.stderr[-2000:]
    assert_same_run(a, b)
    assert all(float(x["teacher/start_depth"]) > 0 for x in rows(os.path.join(b, "progress.csv")))


def test_snapshots_are_sparse():
    _, tape, _ = _recorded("HalfCheetah-v4", n=300)
    assert len(tape.snapshots) == 300 // branching.SNAPSHOT_EVERY  # every 50 steps (HalfCheetah never resets)
