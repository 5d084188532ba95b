"""Runs that survive: checkpoints, resume after SIGKILL / SIGTERM (also under MPI), NaN guard, MPI abort,
save / load / play."""
import csv
import os
import pickle
import signal
import subprocess
import time

import gymnasium as gym
import numpy as np
import pytest

from conftest import PY, ROOT
from test_cli import MPIEXEC, TIME_KEYS, cli, rows

BASE = ["--env", "Pendulum-v1", "--nb_epoch_cycles", "5", "--eval_interval", "1000", "--eval_episodes", "2",
        "--log_formats", "csv,log", "--seed", "5"]


def start(*args, mpi_np=0):
    cmd = [PY, "-m", "baselines_meta.run", *args]
    if mpi_np:
        cmd = [MPIEXEC, "-n", str(mpi_np)] + cmd
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_rows(d, n, proc, timeout=240):
    """Wait until progress.csv has n data rows (so at least n checkpoints were written)."""
    t0 = time.time()
    path = os.path.join(d, "progress.csv")
    while time.time() - t0 < timeout:
        if os.path.exists(path) and len(open(path).read().splitlines()) >= n + 1:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("run made no progress")


def final_state(d, rank=0):
    with open(os.path.join(d, "checkpoints", f"rank{rank}.pkl"), "rb") as f:
        header = pickle.load(f)
        return header, pickle.load(f)


def strip(prog):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in prog]


def monitor_rl(d, name="0.monitor.csv"):
    return [tuple(l.split(",")[:2]) for l in open(os.path.join(d, name)).read().splitlines()[2:]]


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    args = ["--alg", "ddpg", "--num_timesteps", "9000", *BASE]
    assert cli(*args, "--log_path", a).returncode == 0
    p = start(*args, "--log_path", b)
    wait_rows(b, 3, p)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_before = len(rows(os.path.join(b, "progress.csv")))
    assert n_before < 9
    r = cli("--resume", "--log_path", b)
    assert r.returncode == 0, r.stderr[-2000:]
    # continuous logs: no duplicated, no missing rows, and the very same numbers as the uninterrupted run
    pa, pb = rows(os.path.join(a, "progress.csv")), rows(os.path.join(b, "progress.csv"))
    assert [x["total/epochs"] for x in pb] == [str(i) for i in range(1, 10)]
    assert strip(pa) == strip(pb)
    assert rows(os.path.join(a, "evaluations.csv")) == rows(os.path.join(b, "evaluations.csv"))
    assert monitor_rl(a) == monitor_rl(b)
    ha, sa = final_state(a)
    hb, sb = final_state(b)
    assert ha["steps"] == hb["steps"] == 9000
    for x, y in zip(sa["learner"]["vars"], sb["learner"]["vars"], strict=True):
        np.testing.assert_array_equal(x, y)


def test_sigterm_checkpoints_and_meta_resumes(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    args = ["--alg", "meta", "--num_timesteps", "8000", "--nb_epoch_cycles", "3", *BASE[2:]]
    args = ["--env", "Pendulum-v1"] + args
    assert cli(*args, "--log_path", a).returncode == 0
    p = start(*args, "--log_path", b)
    wait_rows(b, 2, p)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "checkpoint saved" in err and "--resume" in err
    r = cli("--resume", "--log_path", b)
    assert r.returncode == 0, r.stderr[-2000:]
    assert strip(rows(os.path.join(a, "progress.csv"))) == strip(rows(os.path.join(b, "progress.csv")))
    assert rows(os.path.join(a, "evaluations.csv")) == rows(os.path.join(b, "evaluations.csv"))
    assert monitor_rl(a, "0.d1.monitor.csv") == monitor_rl(b, "0.d1.monitor.csv")
    (_, sa), (hb, sb) = final_state(a), final_state(b)
    assert hb["steps"] == 8000
    for key in ("learner", "teacher"):
        for x, y in zip(sa[key]["vars"], sb[key]["vars"], strict=True):
            np.testing.assert_array_equal(x, y)
    # resuming a finished run changes nothing
    before = open(os.path.join(b, "progress.csv")).read()
    assert cli("--resume", "--log_path", b).returncode == 0
    assert open(os.path.join(b, "progress.csv")).read() == before


def test_two_ranks_stop_and_resume(tmp_path):
    d = str(tmp_path / "run")
    p = start("--alg", "meta", "--num_timesteps", "6000", *BASE, "--log_path", d, mpi_np=2)
    wait_rows(d, 2, p)
    p.send_signal(signal.SIGTERM)  # mpiexec forwards it to both ranks
    p.communicate(timeout=120)
    h0, _ = final_state(d, 0)
    h1, _ = final_state(d, 1)
    assert h0["steps"] == h1["steps"] < 6000
    r = cli("--resume", "--log_path", d, mpi_np=2)
    assert r.returncode == 0, r.stderr[-2000:]
    (h0, s0), (h1, s1) = final_state(d, 0), final_state(d, 1)
    assert h0["steps"] == h1["steps"] == 6000
    # networks, targets, Adam slots and counters agree; the last variable is each rank's own noise RNG state
    for x, y in zip(s0["learner"]["vars"][:-1], s1["learner"]["vars"][:-1], strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(s0["learner"]["vars"][-1], s1["learner"]["vars"][-1])
    for x, y in zip(s0["teacher"]["vars"], s1["teacher"]["vars"], strict=True):
        np.testing.assert_array_equal(x, y)
    assert s0["buffer"]["obs0"].shape == s1["buffer"]["obs0"].shape and not np.array_equal(s0["buffer"]["obs0"], s1["buffer"]["obs0"])
    steps = [int(x["total/steps"]) for x in rows(os.path.join(d, "progress.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 6000


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
    t0 = time.time()
    r = subprocess.run([MPIEXEC, "-n", "2", PY, os.path.join(ROOT, "tests", "mpi_crash.py"), "--alg", "ddpg",
                        "--num_timesteps", "20000", "--log_path", str(tmp_path / "run"), "--log_formats", "csv"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode != 0
    assert "injected failure on rank 1" in r.stderr and "aborting all 2 ranks" in r.stderr
    assert time.time() - t0 < 90


def test_save_load_play_roundtrip(tmp_path):
    from baselines_meta.policy_io import SavedPolicy
    from baselines_meta.run import build_parser, config_from_args, train

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
    (["--log_path", "/etc/hostname/run"], "log path"),
    (["--resume", "--overwrite", "--log_path", "/tmp"], "exclude each other"),
    (["--save_interval", "0"], "positive integer"),
])
def test_more_bad_input(args, needle, tmp_path):
    r = cli(*args, "--num_timesteps", "100")
    assert r.returncode == 2, (r.stdout, r.stderr[-1000:])
    err = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(err) == 1 and needle in err[0], r.stderr
    assert "Traceback" not in r.stderr


def test_resume_of_missing_run(tmp_path):
    r = cli("--resume", "--log_path", str(tmp_path / "none"))
    assert r.returncode == 2 and "nothing to resume" in r.stderr
