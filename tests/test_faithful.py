"""The pre-refactor baselines DDPG the paper ran (`858afa8^`, ddpg/ddpg.py, training.py), point by point, each against a
hand computation or baselines' formula: gradient clipping, observation clipping without normalisation, return
normalisation without PopArt, and the logged keys (rollout/Q_mean, the fixed reference batch)."""
import math

import numpy as np
import pytest
from test_ddpg_math import SMALL, make, set_const  # the 2-2 networks without LayerNorm of the hand computations

from baselines_meta.common.fastpolicy import NumpyNormalizer
from baselines_meta.common.replay import Batch, ReplayBuffer
from baselines_meta.common.trainer import Trainer
from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.ddpg.student import ReferenceStats, StudentTrainer, actor_q


def batch(o0, a, r, o1, d=0.0):
    return Batch(*[np.array([x], np.float32) for x in (o0, [a], [r], o1, [d])])


def random_weights(L, seed):
    """Positive weights, so that no ReLU of the 2-2 networks is dead and every gradient is non-zero."""
    rng = np.random.default_rng(seed)
    for m in (L.actor, L.critic, L.target_actor, L.target_critic):
        for v in m.variables:
            v.assign(rng.uniform(0.1, 1.0, size=v.shape).astype(np.float32))


def test_clip_norm_clips_each_tensor_of_both_networks():
    """baselines U.flatgrad: g <- g * c / max(|g|, c) for each gradient tensor, actor and critic alike."""
    b = Batch(*[np.asarray(x, np.float32) for x in (np.random.default_rng(0).normal(size=(8, 2)), np.full((8, 1), 0.7),
                                                       np.full((8, 1), 3.0), np.ones((8, 2)), np.zeros((8, 1)))])
    free, clipped = make(critic_l2_reg=0.01), make(critic_l2_reg=0.01, clip_norm=0.05)
    for L in (free, clipped):
        random_weights(L, 3)
    na = sum(int(np.prod(v.shape)) for v in free.actor.trainable_variables)
    (_, g), (_, g_c) = Trainer(free).compute_grads(b), Trainer(clipped).compute_grads(b)
    ga, gc, ga_c, gc_c = g[:na], g[na:], g_c[:na], g_c[na:]
    for flat, flat_c, model in ((ga, ga_c, free.actor), (gc, gc_c, free.critic)):
        flat, flat_c, i, n_clipped = flat.numpy(), flat_c.numpy(), 0, 0
        for v in model.trainable_variables:
            k = int(np.prod(v.shape))
            g = flat[i : i + k].astype(np.float64)
            norm = np.sqrt(np.sum(g * g))
            expect = g * 0.05 / max(norm, 0.05)
            np.testing.assert_allclose(flat_c[i : i + k], expect, rtol=1e-5, atol=1e-8)
            n_clipped += norm > 0.05
            i += k
        assert n_clipped >= 2  # the check bites: several tensors of each network exceed the clip


def test_raw_observations_clipped_without_normalisation():
    """normalize_observations off: baselines still clips obs to its observation_range (+-5) before every network."""
    L = make(obs_clip=5.0)
    for m, k in ((L.actor, 0.1), (L.critic, 0.1), (L.target_actor, 0.2), (L.target_critic, 0.2)):
        set_const(m, k, 0.0)
    # obs [100, 3] -> [5, 3]: h1 = 0.1 * 8 = 0.8 (x2), h2 = 0.1 * 1.6 = 0.16 (x2), mu = tanh(0.1 * 0.32)
    mu = math.tanh(0.032)
    assert float(L.actions_of(np.array([[100.0, 3.0]], np.float32))[0, 0]) == pytest.approx(mu, rel=1e-6)
    # target: o1 = [-50, 0] -> [-5, 0]: target-actor h1 = relu(-1) = 0 -> mu' = tanh(0) = 0; target critic h1 = 0,
    # h2 = relu(0.2 * (0 + 0 + 0)) = 0, Q' = 0, so y = r; unclipped it would be the same. Use o1 = [50, 0] -> [5, 0]:
    # h1 = 1.0 (x2), mu' = tanh(0.2 * 2 * 0.2 * 2) = tanh(0.16); h2 = 0.2 * (2 + mu') (x2); Q' = 0.2 * 2 * h2
    mu1 = math.tanh(0.16)
    q1 = 0.4 * 0.2 * (2.0 + mu1)
    assert float(L.target_q(batch([0, 0], 0.0, 1.0, [50.0, 0.0]))[0, 0]) == pytest.approx(1.0 + 0.99 * q1, rel=1e-6)
    n = NumpyNormalizer(None, 5.0)
    np.testing.assert_array_equal(n(np.array([100.0, -7.0, 3.0])), [5.0, -5.0, 3.0])
    pol = DDPGPolicy(L, np.random.default_rng(0))
    assert float(pol.greedy(np.array([100.0, 3.0], np.float32))[0]) == pytest.approx(mu, rel=1e-6)


def test_normalize_returns_without_popart_keeps_initial_statistics():
    """baselines updates ret_rms only in its PopArt branch: without --popart the critic is normalised by mean 0,
    std 1 for ever, so training equals training without return normalisation; with --popart the statistics move."""
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(100, 2, 1)
    buf.add_many(rng.normal(size=(100, 2)), rng.uniform(-1, 1, (100, 1)), rng.normal(5, 2, 100), rng.normal(size=(100, 2)),
                 np.zeros(100, bool), np.zeros(100, bool))
    plain, nr, pop = make(), make(normalize_returns=True), make(normalize_returns=True, popart=True)
    for L in (plain, nr, pop):
        random_weights(L, 1)
        StudentTrainer(L, np.random.default_rng(7)).train(buf, 20)
    assert float(nr.ret_rms.mean.numpy()[0]) == 0.0 and float(nr.ret_rms.std.numpy()[0]) == 1.0
    for a, b in zip(plain.critic.variables + plain.actor.variables, nr.critic.variables + nr.actor.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert abs(float(pop.ret_rms.mean.numpy()[0])) > 1.0  # targets of rewards ~5 moved the PopArt statistics


def test_rollout_q_is_q_of_the_clean_actor():
    """rollout/Q_mean and eval/Q: Q(s, mu(s)) (baselines `critic_with_actor_tf`), not Q of the executed action.
    Constant nets of test_ddpg_math: at o0 = [1, 1], Q(o0, mu(o0)) = 0.1 * 2 * 0.1 * (0.4 + tanh(0.008))."""
    L = make()
    set_const(L.actor, 0.1, 0.0)
    set_const(L.critic, 0.1, 0.0)
    assert float(actor_q(L, np.array([[1.0, 1.0]], np.float32))[0]) == pytest.approx(0.02 * (0.4 + math.tanh(0.008)), rel=1e-5)


def test_reference_batch_is_drawn_once_and_kept():
    """baselines `get_stats`: one replay sample at the first call, the same one at every later call (and after a
    checkpoint round trip); the replay RNG is not drawn from again."""
    L = DDPGLearner(3, 1, DDPGConfig(network=SMALL))
    rng = np.random.default_rng(0)
    pol = DDPGPolicy(L, np.random.default_rng(1))
    ref = ReferenceStats(L, pol, rng)
    buf = ReplayBuffer(1000, 3, 1)
    data = np.random.default_rng(2)
    buf.add_many(data.normal(size=(500, 3)), data.uniform(-1, 1, (500, 1)), data.normal(size=500), data.normal(size=(500, 3)),
                 np.zeros(500, bool), np.zeros(500, bool))
    s1 = ref(buf)
    first = ref.batch
    state_after = rng.bit_generator.state
    buf.add_many(data.normal(size=(500, 3)), data.uniform(-1, 1, (500, 1)), data.normal(size=500), data.normal(size=(500, 3)),
                 np.zeros(500, bool), np.zeros(500, bool))
    s2 = ref(buf)
    assert ref.batch is first and rng.bit_generator.state == state_after
    assert s1["reference_Q_mean"] == s2["reference_Q_mean"]  # same batch, same networks
    expect_q = L.q_values(first.obs0, first.actions).numpy()
    assert s2["reference_Q_mean"] == pytest.approx(float(expect_q.mean()), rel=1e-6)
    a = L.actions_of(first.obs0).numpy()
    assert s2["reference_action_std"] == pytest.approx(float(a.std()), rel=1e-5)
    pa = pol.perturbed.head(pol.perturbed.trunk(pol.norm(first.obs0)))
    assert s2["reference_perturbed_action_mean"] == pytest.approx(float(pa.mean()), rel=1e-5)
    restored = ReferenceStats(L, pol, np.random.default_rng(99))
    restored.set_state(ref.get_state())
    np.testing.assert_array_equal(restored.batch.obs0, first.obs0)
    assert restored(buf)["reference_Q_mean"] == s2["reference_Q_mean"]
