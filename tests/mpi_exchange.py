"""Run under `mpiexec -n 2` by test_exchange: the same 100 DDPG steps (and teacher steps) from the same replay contents,
once exchanging gradients (an Allreduce per step) and once exchanging batches (one Allgather per group of steps, the
fused union), each rank with its own replay contents and RNG. Rank 0 writes, to argv[1], the paths' largest
differences from each other (max_diff) and each path's from the other rank (check_synced)."""
import json
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from baselines_meta.common import mpi
from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.config import DDPGConfig, TeacherConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.student import StudentTrainer
from baselines_meta.meta.teacher import TeacherLearner

O, A, STEPS = 11, 3, 100  # Hopper's sizes
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
r = mpi.rank()


def replay() -> ReplayBuffer:
    """This rank's own replay contents."""
    q = np.random.default_rng(10 + r)
    b = ReplayBuffer(5000, O, A)
    n = 3000
    b.add_many(q.normal(size=(n, O)), q.uniform(-1, 1, (n, A)), q.normal(size=n), q.normal(size=(n, O)),
               q.uniform(size=n) < 0.05, q.uniform(size=n) < 0.02)
    return b


def max_diff(xs, ys) -> list[float]:
    """The largest |x - y|, and the largest |x - y| / (1e-6 + 1e-6 |y|) (at most 1: allclose at rtol = atol = 1e-6)."""
    pairs = list(zip(xs, ys, strict=True))
    return [max(float(np.max(np.abs(x - y))) for x, y in pairs),
            max(float(np.max(np.abs(x - y) / (1e-6 + 1e-6 * np.abs(y)))) for x, y in pairs)]


def student(cfg: DDPGConfig) -> dict:
    tf_keras.utils.set_random_seed(0)  # (Keras initialisers draw from Python's random too)
    L = DDPGLearner(O, A, cfg, seed=r)  # each rank its own parameter-noise stream, as in a run
    mpi.sync_from_root(L.sync_variables())
    buf = replay()
    L.obs_rms.update(buf.obs0[:3000])  # MPI-aggregated: the same statistics on both ranks
    start = L.get_state()
    out = {}
    for path in ("grads", "batches"):
        L.set_state(start)
        StudentTrainer(L, np.random.default_rng(100 + r), exchange=path).train(buf, STEPS)
        assert int(L.train_steps.numpy()) == STEPS
        out[path] = [v.numpy() for v in L.sync_variables()]
        out[path + "_vs_rank0"] = mpi.check_synced(L.sync_variables())  # raises unless bit-identical
    return {"paths": max_diff(out["grads"], out["batches"]), "ranks_grads": out["grads_vs_rank0"],
            "ranks_batches": out["batches_vs_rank0"]}


def teacher(cfg: TeacherConfig) -> dict:
    tf_keras.utils.set_random_seed(1)
    q = np.random.default_rng(20 + r)
    obs, act = q.normal(size=(100, O)).astype(np.float32), q.normal(0, 0.3, (100, A)).astype(np.float32)
    ts = {path: TeacherLearner(O, A, cfg, None, 5.0, exchange=path) for path in ("grads", "batches")}
    mpi.sync_from_root(ts["grads"].sync_variables())
    for a, b in zip(ts["grads"].sync_variables(), ts["batches"].sync_variables(), strict=True):
        b.assign(a)
    out = {}
    for path, T in ts.items():
        T.train(obs, act, [0.8, -1.3][r], 20)  # each rank its own D0 and meta reward
        out[path] = [v.numpy() for v in T.sync_variables()]
        out[path + "_vs_rank0"] = mpi.check_synced(T.sync_variables())
    return {"paths": max_diff(out["grads"], out["batches"]), "ranks_grads": out["grads_vs_rank0"],
            "ranks_batches": out["batches_vs_rank0"]}


# (--clip_norm and the teacher's plain REINFORCE change only the compiled arithmetic: test_exchange checks them in one
# process; here the paper's defaults, with the real collectives)
res = {"ddpg": student(DDPGConfig()), "teacher": teacher(TeacherConfig(lr=1e-3))}
if r == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(res, f)
