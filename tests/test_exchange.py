"""MPI ranks exchanging batches (one Allgather, the fused union) against exchanging gradients (an Allreduce per step):
the union's arithmetic checked in one process against averaged per-rank gradients, the cost model by hand, and both
paths under `mpiexec -n 2`."""
import json
import os
import subprocess

import numpy as np
import pytest
from conftest import PY, ROOT
from test_ddpg_math import make, set_const

from baselines_meta.common import exchange
from baselines_meta.common.flat import unflatten
from baselines_meta.common.replay import Batch, ReplayBuffer
from baselines_meta.common.trainer import Trainer
from baselines_meta.config import DDPGConfig, TeacherConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.meta.teacher import TeacherBatch, TeacherLearner

MPIEXEC = os.path.join(os.path.dirname(PY), "mpiexec")


def _copy(src, dst):
    for a, b in zip(src, dst, strict=True):
        b.assign(a)


def _rank_batches(n_ranks, k, b, seed=0):
    """[K, N, B, ...]: N ranks' K minibatches of B rows each (obs dim 4, action dim 2), each from its own replay."""
    out = []
    for r in range(n_ranks):
        q = np.random.default_rng(seed + r)
        buf = ReplayBuffer(200, 4, 2)
        buf.add_many(q.normal(size=(200, 4)), q.uniform(-1, 1, (200, 2)), q.normal(size=200), q.normal(size=(200, 4)),
                     q.uniform(size=200) < 0.1, np.zeros(200, bool))
        out.append(buf.sample(q, b, k))
    return Batch(*[np.stack([m[f] for m in out], 1) for f in range(5)])


def _networks(L):
    return L.actor.variables + L.critic.variables + L.target_actor.variables + L.target_critic.variables


@pytest.mark.parametrize("clip_norm", [None, 0.05])
def test_union_steps_equal_averaged_rank_gradients(clip_norm):
    """K steps on the union of 3 ranks' batches = K steps applying the mean of the 3 per-rank gradients (what the
    Allreduce path computes; with clip_norm each rank's gradient is clipped first, as in baselines)."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(4)  # (Keras initialisers draw from Python's random too)
    cfg = DDPGConfig(noise_type="none", clip_norm=clip_norm)
    U, G = DDPGLearner(4, 2, cfg), DDPGLearner(4, 2, cfg)
    _copy(U.variables, G.variables)
    union = _rank_batches(3, 5, 16)
    tu, tg = Trainer(U), Trainer(G)
    losses = tu.fused_union(union)  # one fused call: the mean losses
    per_rank = []
    for i in range(5):
        got = [tg.compute_grads(Batch(*[x[i, r] for x in union])) for r in range(3)]
        per_rank += [l for l, _ in got]
        tg.apply_grads(np.mean([g.numpy() for _, g in got], 0))
    for a, b in zip(_networks(U), _networks(G), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # the union's mean loss is the mean of the ranks' mean losses (the L2 term, the same on each, once)
    np.testing.assert_allclose(float(losses.critic), np.mean([float(l.critic) for l in per_rank]), rtol=1e-5)
    np.testing.assert_allclose(float(losses.actor), np.mean([float(l.actor) for l in per_rank]), rtol=1e-5)
    if clip_norm is not None:  # the clip binds: some tensor of a rank's critic gradient is cut to the clip norm
        _, g = tg.compute_grads(Batch(*[x[0, 0] for x in union]))
        gc = unflatten(g, tg.shapes)[len(G.actor.trainable_variables):]
        assert max(float(tf.norm(x)) for x in gc) == pytest.approx(clip_norm, rel=1e-4)
    assert int(U.train_steps.numpy()) == 5
    tu.fused_union(_rank_batches(2, 3, 8))  # other N, K, B: the same trace
    assert tu.fused_union.experimental_get_tracing_count() == 1


def test_union_loss_by_hand_constant_networks():
    """Critic kernels 0.1, biases 0 (2-2 hidden, no LayerNorm, no L2), actor all 0, observations 0: the first layer
    gives 0, the second relu(0.1 a) on each of its 2 units, so Q(0, a) = 0.1 * 2 * 0.1 a = 0.02 a (a > 0). Rank 0 holds
    r = 1, a = 1; rank 1 r = 3, a = 0.5; both terminal, so y = r. Per-rank losses (1 - 0.02)^2 = 0.9604 and
    (3 - 0.01)^2 = 8.9401; the union's mean loss is their mean, 4.95025. mu(0) = tanh(0) = 0: actor loss -Q(0, 0) = 0."""
    L = make(gamma=0.9, critic_l2_reg=0.0)
    set_const(L.actor, 0.0, 0.0)
    set_const(L.critic, 0.1, 0.0)
    z = np.zeros((1, 1, 1, 2), np.float32)
    union = Batch(z.repeat(2, 1), np.array([[[[1.0]], [[0.5]]]], np.float32), np.array([[[[1.0]], [[3.0]]]], np.float32),
                  z.repeat(2, 1), np.ones((1, 2, 1, 1), np.float32))
    losses = Trainer(L).fused_union(union)
    assert float(losses.critic) == pytest.approx(4.95025, rel=1e-6)
    assert float(losses.actor) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("clip", [0.2, 0.0])
def test_teacher_union_update_equals_averaged_rank_gradients(clip):
    """The teacher's steps on the union of 2 ranks' D0s, each row weighted by its rank's meta reward and the sum
    divided by N, = steps applying the mean of the ranks' gradients of their own sums (PPO clip and plain REINFORCE).

    Plain gradient descent on both: Adam divides by sqrt(v), so at a weight whose gradient is ~0 it turns float
    rounding into a step of ~lr (see test_ddpg_math.test_fused_teacher_steps_equal_step_by_step); SGD moves each weight
    by lr times its gradient, so the parameters compare the gradients themselves."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    q = np.random.default_rng(0)
    ts = [TeacherLearner(4, 2, TeacherConfig(lr=1e-2, clip=clip), None, 5.0) for _ in range(2)]
    for t in ts:
        t.opt = tf_keras.optimizers.SGD(learning_rate=1e-3)
        t.opt.build(t.net.own_variables())
    _copy(ts[0].net.own_variables(), ts[1].net.own_variables())
    obs, act = q.normal(size=(2, 30, 4)).astype(np.float32), q.normal(0, 0.3, (2, 30, 2)).astype(np.float32)
    rewards = np.array([0.7, -1.9], np.float32)
    start = [v.numpy() for v in ts[0].net.own_variables()]
    lp0 = np.stack([ts[0].log_prob(obs[r], act[r]).numpy() for r in range(2)])
    per_row = np.repeat(rewards[:, None], 30, axis=1)  # [N, T]: each row its rank's meta reward
    union = TeacherBatch(obs, act, np.zeros_like(act), lp0, per_row)
    first = float(ts[0].steps.fused_union_repeat(TeacherBatch(*[x[None] for x in union]), np.int32(3)).loss)
    logp_old = [ts[1].log_prob(obs[r], act[r]).numpy() for r in range(2)]
    losses = []
    for _ in range(3):
        got = [ts[1].steps.compute_grads(TeacherBatch(obs[r], act[r], np.zeros_like(act[r]), logp_old[r], per_row[r]))
               for r in range(2)]
        losses.append(np.mean([float(l.loss) for l, _ in got]))
        ts[1].steps.apply_grads(np.mean([g.numpy() for _, g in got], 0))
    moved = 0.0
    for a, b, c in zip(ts[0].net.own_variables(), ts[1].net.own_variables(), start, strict=True):
        # (the log-densities of the union's rows reach -19 and its meta rewards differ in sign: sums with cancellation)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
        moved = max(moved, float(np.max(np.abs(b.numpy() - c))))
    assert moved > 1e-2  # the steps moved weights by a thousand times the tolerance
    assert first == pytest.approx(losses[0], rel=1e-5)
    assert int(ts[0].teacher_steps.numpy()) == 3


def test_gather_single_worker_keeps_the_batch():
    many = _rank_batches(1, 3, 5)
    mine = Batch(*[x[:, 0] for x in many])  # [K, B, ...]
    got = exchange.gather(mine)
    for x, y in zip(got, many, strict=True):
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)


MODEL = exchange.CostModel(step0=1e-4, step_per_row=2e-6, call=5e-4, gather_alpha=1e-5, gather_beta=1e-9,
                           reduce_alpha=2e-5, reduce_beta=2e-9)


def test_cost_model_by_hand():
    """step(b) = 0.1 ms + 2 us * b; Allgather 10 us + 1 ns a byte; Allreduce 20 us + 2 ns a byte; call 0.5 ms."""
    m = MODEL
    assert m.allgather(2, 1000) == pytest.approx(1e-5 + 1e-6)
    assert m.allgather(8, 1000) == pytest.approx(3e-5 + 7e-6)  # log2(8) latencies, 7 contributions received
    assert m.allreduce(2, 1000) == pytest.approx(2e-5 + 2e-6)
    assert m.allreduce(8, 1000) == pytest.approx(6e-5 + 2 * 7 / 8 * 1000 * 2e-9)
    # N = 4, K = 10, B = 64, F = 10 floats a row: 10 * (0.1 ms + 2 us * 256) + allgather(4, 25,600 bytes)
    assert m.batches(4, 10, 64, 10) == pytest.approx(10 * 6.12e-4 + 2e-5 + 3 * 25600e-9)
    assert m.batches(4, 10, 64, 10, clip=True) == pytest.approx(40 * 2.28e-4 + 2e-5 + 3 * 25600e-9)  # 4 passes of 64
    # P = 10,000 parameters: 10 * (0.5 ms + 2 * 20 us + 1.5 * 40,000 bytes * 2 ns)
    assert m.grads(4, 10, 10_000) == pytest.approx(10 * (5e-4 + 4e-5 + 1.2e-4))
    # a step at N = 4: batches 0.612 ms + 9.7 us, grads 0.66 ms; at N = 5: batches 0.74 ms + 12.6 us, grads
    # 0.5 ms + 46.4 us + 128 us = 0.674 ms: the crossover is N = 5
    assert m.crossover(10, 64, 10, 10_000) == 5


def test_choice_of_path():
    args = dict(k=10, batch=64, obs_dim=4, act_dim=0, n_params=10_000, clip=False, model=MODEL)  # F = 10
    assert exchange.choose("auto", 4, "", **args).path == "batches"
    assert exchange.choose("auto", 5, "", **args).path == "grads"
    assert exchange.choose("grads", 2, "", **args).path == "grads"
    assert exchange.choose("batches", 64, "", **args).path == "batches"
    c = exchange.choose("batches", 2, "--popart", **args)
    assert c.path == "grads" and "--popart" in c.why


def test_measured_model_is_the_one_in_results():
    """exchange.MEASURED is the fit that `bench --scaling` wrote to results/bench/mpi_scaling.json."""
    with open(os.path.join(ROOT, "results", "bench", "mpi_scaling.json")) as f:
        fit = json.load(f)["model"]
    for k, v in exchange.MEASURED._asdict().items():
        assert v == pytest.approx(fit[k], rel=1e-3), k


@pytest.mark.slow
def test_two_ranks_both_paths_same_parameters(tmp_path):
    """Under mpiexec -n 2, from the same replay contents: 100 DDPG steps (default config, parameter noise adapted every
    50) and 20 teacher steps, exchanging gradients or batches. Both paths leave the two ranks bit-identical
    (check_synced), and the paths agree to 1e-6: |x - y| <= 1e-6 + 1e-6 |y| (LayerNorm gains sit near 1, where a
    float32 step is 6e-8 to 1.2e-7, and differ there by up to ~1e-6 after 100 Adam steps)."""
    out = str(tmp_path / "res.json")
    r = subprocess.run([MPIEXEC, "-n", "2", PY, os.path.join(ROOT, "tests", "mpi_exchange.py"), out], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.load(open(out))
    for what in ("ddpg", "teacher"):
        assert res[what]["ranks_grads"] == 0.0 and res[what]["ranks_batches"] == 0.0
        assert res[what]["paths"][1] <= 1.0, res


def test_scaling_prediction_by_hand():
    """bench_mpi's prediction with MODEL: K = 10, B = 64, F = 10, P = 10,000; ddpg's cycle of 200 env steps and one
    group; one pinned worker at 2,000 steps/s: a 0.1 s cycle, of which 10 * step(64) = 2.28 ms train. At N = 4 the
    batches path (6.2168 ms) replaces them: 0.1039368 s, ratio 0.96212; with c = 1.2, w = 10 ms: 0.74226."""
    from baselines_meta.experiments import bench_mpi

    steps = {"k": 10, "batch": 64, "n_params": 10_000, "obs_dim": 4, "act_dim": 0}
    shape = {"env_steps": 200, "groups": 1}
    p = {x["n"]: x for x in bench_mpi.predict(MODEL, steps, {"steady": 2000.0}, shape, (1.2, 0.01), ns=(2, 4, 64))}
    assert p[4]["path"] == "batches" and p[4]["batches_ms"] == pytest.approx(6.2168)
    assert p[4]["ratio"] == pytest.approx(0.1 / 0.1039368) and p[4]["per_rank"] == pytest.approx(200 / 0.1039368)
    assert p[4]["ratio_here"] == pytest.approx(0.1 / (1.2 * 0.1039368 + 0.01))
    assert p[64]["path"] == "grads"
    # c from 2 independent workers at 1,600 steps/s each: 1.25; a 2-rank job at 1,000 a rank: a 0.2 s cycle, the model's
    # 0.09772 + 10 * step(128) + allgather(2, 25,600 bytes) = 0.1013156 s, so w = 0.2 - 1.25 * 0.1013156 = 0.0733555
    c, w = bench_mpi.overheads(MODEL, steps, {"steady": 2000.0}, {"steady": 1600.0}, {"steady": 1000.0}, shape)
    assert c == pytest.approx(1.25) and w == pytest.approx(0.0733555)
    # which reproduces the 2-rank measurement it came from
    assert bench_mpi.predict(MODEL, steps, {"steady": 2000.0}, shape, (c, w), ns=(2,))[0]["ratio_here"] == pytest.approx(0.5)
    assert bench_mpi.fit_line([1, 2, 4], [3.0, 5.0, 9.0]) == pytest.approx((1.0, 2.0))


def test_per_rank_figures_from_a_run_directory_by_hand(tmp_path):
    """A 2-rank run of 3 epochs: 12,000 steps a worker in 8 s (whole run: 1,500 a rank); time/fps (all workers) 3,000
    and 5,000 after the first epoch, so a rank's steady state is the median of 1,500 and 2,500: 2,000. Against a single
    worker at 2,000 / 2,500: ratios 0.75 and 0.8."""
    from baselines_meta.experiments import bench_mpi

    (tmp_path / "progress.csv").write_text("total/steps,total/duration,time/fps\n4000,4,1000\n8000,6,3000\n12000,8,5000\n")
    (tmp_path / "log.txt").write_text("MPI: 2 ranks exchange batches (auto: ...)\nlogs in x\n")
    got = bench_mpi._read(str(tmp_path), 2)
    assert got["per_rank"] == 1500 and got["steady"] == 2000 and got["exchange"].startswith("MPI: 2 ranks exchange batches")
    assert bench_mpi.per_rank_figures({"per_rank": 2000.0, "steady": 2500.0}, got) == {"whole_ratio": 0.75, "steady_ratio": 0.8}
