"""Helpers shared by the tests that start, stop and resume runs (test_resume, test_faults)."""
import glob
import os
import subprocess

import numpy as np
from conftest import PY, ROOT
from test_cli import MPIEXEC, TIME_KEYS, rows


def start(*args, mpi_np=0, env=None):
    cmd = [PY, "-m", "baselines_meta.run", *args]
    if mpi_np:
        cmd = [MPIEXEC, "-n", str(mpi_np)] + cmd
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def final_state(d, rank=0):
    """(header, state) of a run's current checkpoint, read as plain pickles (header, then state)."""
    import pickle

    with open(os.path.join(d, "checkpoints", f"rank{rank}.pkl"), "rb") as f:
        header = pickle.load(f)
        return header, pickle.load(f)


def restored_replay(d, rank, state, capacity=10**6):
    from baselines_meta.common.replay import ReplayBuffer
    from baselines_meta.storage.checkpoint import ReplayLog

    b = ReplayBuffer(capacity, 3, 1)  # Pendulum-v1
    ReplayLog(os.path.join(d, "checkpoints", f"rank{rank}.replay"), b).restore(state["replay"])
    return b


def strip(prog):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in prog]


def monitor_rl(d, name="0.monitor.csv"):
    return [tuple(l.split(",")[:2]) for l in open(os.path.join(d, name)).read().splitlines()[2:]]


def assert_same_run(a, b, rank=0):
    """Two finished run directories hold the same epoch rows (timings aside), evaluations, monitor episodes, final
    parameters (learner and teacher) and replay buffer."""
    assert strip(rows(os.path.join(a, "progress.csv"))) == strip(rows(os.path.join(b, "progress.csv")))
    assert rows(os.path.join(a, "evaluations.csv")) == rows(os.path.join(b, "evaluations.csv"))
    monitors = sorted(os.path.basename(p) for p in glob.glob(os.path.join(a, "*.monitor.csv")))
    assert monitors and monitors == sorted(os.path.basename(p) for p in glob.glob(os.path.join(b, "*.monitor.csv")))
    for name in monitors:
        assert monitor_rl(a, name) == monitor_rl(b, name), name
    (ha, sa), (hb, sb) = final_state(a, rank), final_state(b, rank)
    assert ha["steps"] == hb["steps"]
    for key in ("learner", "teacher"):
        assert (key in sa) == (key in sb)
        for x, y in zip(sa.get(key, {"vars": []})["vars"], sb.get(key, {"vars": []})["vars"], strict=True):
            np.testing.assert_array_equal(x, y)
    sta, stb = os.path.join(a, "states.npz"), os.path.join(b, "states.npz")
    assert os.path.exists(sta) == os.path.exists(stb)
    if os.path.exists(sta):  # --record_states
        za, zb = np.load(sta), np.load(stb)
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k])
    ra, rb = restored_replay(a, rank, sa), restored_replay(b, rank, sb)
    assert ra.total == rb.total == ha["steps"]
    for k in ra.FIELDS:
        np.testing.assert_array_equal(getattr(ra, k), getattr(rb, k))


def own_lines(stderr):
    """Our own lines on stderr (TensorFlow's and mpiexec's start-up and abort noise left out)."""
    return [l for l in stderr.splitlines() if l.startswith("baselines_meta")]
