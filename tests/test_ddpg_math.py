"""DDPG arithmetic against hand computation: losses, targets, soft updates, normaliser, replay, fast paths."""
import math

import numpy as np
import pytest

from baselines_meta.common.normalizer import RunningMeanStd
from baselines_meta.common.replay import Batch, ReplayBuffer
from baselines_meta.common.trainer import Trainer
from baselines_meta.config import DDPGConfig, NetworkConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy

SMALL = NetworkConfig(hidden=(2, 2), layer_norm=False)


def set_const(model, kernel, bias):
    for v in model.variables:
        v.assign(np.full(v.shape, kernel if "kernel" in v.name else bias, np.float32))


def make(**kw):
    base = dict(network=SMALL, normalize_observations=False, noise_type="none")
    base.update(kw)
    return DDPGLearner(2, 1, DDPGConfig(**base))


def test_losses_by_hand_constant_networks():
    """All kernels 0.1 / biases 0 online, 0.2 / 0 target; 2-2 hidden, no LayerNorm; obs dim 2, action dim 1."""
    L = make(gamma=0.9, critic_l2_reg=0.5)
    set_const(L.actor, 0.1, 0.0)
    set_const(L.critic, 0.1, 0.0)
    set_const(L.target_actor, 0.2, 0.0)
    set_const(L.target_critic, 0.2, 0.0)
    o0, a, r, o1 = [1.0, 1.0], 0.5, 2.0, [1.0, 0.0]
    batch = Batch(np.array([o0], np.float32), np.array([[a]], np.float32), np.array([[r]], np.float32),
                  np.array([o1], np.float32), np.array([[0.0]], np.float32))
    # target actor at o1: h1 = 0.2*1 = 0.2 (x2), h2 = 0.2*0.4 = 0.08 (x2), mu' = tanh(0.2*0.16) = tanh(0.032)
    mu1 = math.tanh(0.032)
    # target critic at (o1, mu'): h1 = 0.2 (x2); h2 = 0.2*(0.2+0.2+mu') (x2); Q' = 0.2*2*h2
    q1 = 0.2 * 2 * (0.2 * (0.4 + mu1))
    y = r + 0.9 * q1
    # online critic at (o0, a): h1 = 0.1*2 = 0.2 (x2); h2 = 0.1*(0.4+0.5) = 0.09; Q = 0.1*2*0.09
    q = 0.1 * 2 * 0.09
    # L2 on every critic kernel (the paper's baselines names no layer 'output'): 0.5 * (sum w^2 / 2); kernel shapes
    # [2,2], [3,2] and [2,1]: 12 weights of 0.1
    l2 = 0.5 * (12 * 0.01) / 2
    critic_loss = (y - q) ** 2 + l2
    # actor at o0: h1 = 0.2, h2 = 0.1*0.4 = 0.04, mu = tanh(0.1*0.08); critic at (o0, mu): Q = 0.2*0.1*(0.4+mu)
    mu0 = math.tanh(0.008)
    actor_loss = -(0.1 * 2 * 0.1 * (0.4 + mu0))
    losses, _ = Trainer(L).compute_grads(batch)
    assert float(losses.critic) == pytest.approx(critic_loss, rel=1e-5)
    assert float(losses.actor) == pytest.approx(actor_loss, rel=1e-5)
    assert float(L.target_q(batch)[0, 0]) == pytest.approx(y, rel=1e-6)
    # terminal: no bootstrap
    term = batch._replace(terminals=np.array([[1.0]], np.float32))
    assert float(L.target_q(term)[0, 0]) == pytest.approx(r, rel=1e-6)


def _np_forward(learner, o0, a, o1, r, d, gamma, reg):
    """Independent numpy DDPG losses on random weights (no LayerNorm)."""
    def mlp(ws, x, extra=None):
        (k0, b0), (k1, b1), (k2, b2) = ws
        h = np.maximum(x @ k0 + b0, 0)
        if extra is not None:
            h = np.concatenate([h, extra], -1)
        h = np.maximum(h @ k1 + b1, 0)
        return h @ k2 + b2

    def w(model):
        v = [x.numpy().astype(np.float64) for x in model.variables]
        return [(v[0], v[1]), (v[2], v[3]), (v[4], v[5])]

    actor = lambda m, x: np.tanh(mlp(w(m), x))  # noqa: E731
    crit = lambda m, x, u: mlp(w(m), x, u)  # noqa: E731
    y = r + (1 - d) * gamma * crit(learner.target_critic, o1, actor(learner.target_actor, o1))
    cl = np.mean((y - crit(learner.critic, o0, a)) ** 2) + reg * sum((k ** 2).sum() / 2 for k, _ in w(learner.critic))
    al = -np.mean(crit(learner.critic, o0, actor(learner.actor, o0)))
    return cl, al


def test_losses_match_numpy_on_random_weights():
    L = make(gamma=0.95, critic_l2_reg=0.01)
    rng = np.random.default_rng(1)
    for m in (L.actor, L.critic, L.target_actor, L.target_critic):
        for v in m.variables:
            v.assign(rng.normal(size=v.shape).astype(np.float32))
    n = 16
    o0, o1 = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    a, r = rng.uniform(-1, 1, (n, 1)), rng.normal(size=(n, 1))
    d = (rng.uniform(size=(n, 1)) < 0.3).astype(np.float64)
    cl, al = _np_forward(L, o0, a, o1, r, d, 0.95, 0.01)
    b = Batch(*[x.astype(np.float32) for x in (o0, a, r, o1, d)])
    losses, _ = Trainer(L).compute_grads(b)
    assert float(losses.critic) == pytest.approx(cl, rel=1e-4)
    assert float(losses.actor) == pytest.approx(al, rel=1e-4)


def test_soft_target_update_arithmetic():
    L = make(tau=0.01)
    set_const(L.actor, 1.0, 1.0)
    set_const(L.critic, 1.0, 1.0)
    set_const(L.target_actor, 0.0, 0.0)
    set_const(L.target_critic, 0.0, 0.0)
    na = sum(int(np.prod(v.shape)) for v in L.actor.trainable_variables)
    nc = sum(int(np.prod(v.shape)) for v in L.critic.trainable_variables)
    # zero gradients: Adam moves nothing (m = v = 0), so only the targets move: t <- 0.99 t + 0.01 s
    tr = Trainer(L)
    tr.apply_grads(np.zeros(na + nc, np.float32))
    for v in L.target_actor.variables + L.target_critic.variables:
        np.testing.assert_allclose(v.numpy(), 0.01, rtol=1e-6)
    tr.apply_grads(np.zeros(na + nc, np.float32))
    for v in L.target_actor.variables + L.target_critic.variables:
        np.testing.assert_allclose(v.numpy(), 0.99 * 0.01 + 0.01, rtol=1e-6)
    for v in L.actor.variables + L.critic.variables:
        np.testing.assert_array_equal(v.numpy(), 1.0)
    assert int(L.train_steps.numpy()) == 2


def test_targets_share_no_weights_and_start_equal():
    L = DDPGLearner(3, 2, DDPGConfig())
    online = {id(v) for v in L.actor.variables + L.critic.variables}
    target = {id(v) for v in L.target_actor.variables + L.target_critic.variables}
    assert not online & target
    for s, t in zip(L.actor.variables + L.critic.variables, L.target_actor.variables + L.target_critic.variables, strict=True):
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    L.actor.variables[0].assign_add(np.ones(L.actor.variables[0].shape, np.float32))
    assert not np.array_equal(L.actor.variables[0].numpy(), L.target_actor.variables[0].numpy())


def test_critic_l2_kernels_paper_version_and_master():
    """Pre-refactor baselines (the paper's): every kernel, output included; master after #733: hidden ones only."""
    paper = DDPGLearner(3, 2, DDPGConfig()).critic.l2_variables(DDPGConfig().critic_l2_output)
    assert [tuple(v.shape) for v in paper] == [(3, 64), (66, 64), (64, 1)]
    master = DDPGLearner(3, 2, DDPGConfig(critic_l2_output=False))
    assert [tuple(v.shape) for v in master.critic.l2_variables(False)] == [(3, 64), (66, 64)]


def test_critic_l2_output_flag_by_hand():
    """Same constant networks as above with --no-critic_l2_output: the penalty covers 10 weights, not 12."""
    losses = {}
    for flag in (True, False):
        L = make(critic_l2_reg=0.5, critic_l2_output=flag)
        for m, k in ((L.actor, 0.1), (L.critic, 0.1), (L.target_actor, 0.2), (L.target_critic, 0.2)):
            set_const(m, k, 0.0)
        b = Batch(*[np.array(x, np.float32) for x in ([[1.0, 1.0]], [[0.5]], [[2.0]], [[1.0, 0.0]], [[0.0]])])
        losses[flag] = float(Trainer(L).compute_grads(b)[0].critic)
    assert losses[True] - losses[False] == pytest.approx(0.5 * (2 * 0.01) / 2, rel=1e-4)


def test_replay_wraparound_and_truncation():
    buf = ReplayBuffer(5, 1, 1)
    for i in range(7):
        buf.add([i], [0.0], float(i), [i + 1], terminated=(i == 5), truncated=(i == 6))
    assert len(buf) == 5 and buf.next_idx == 2
    # slots 0,1 hold transitions 5,6; slots 2..4 hold 2..4
    np.testing.assert_array_equal(buf.obs0[:, 0], [5, 6, 2, 3, 4])
    b = buf.get(np.arange(5))
    np.testing.assert_array_equal(b.terminals[:, 0], [1, 0, 0, 0, 0])  # truncation bootstraps
    buf.truncation_as_terminal = True
    np.testing.assert_array_equal(buf.get(np.arange(5)).terminals[:, 0], [1, 1, 0, 0, 0])
    many = ReplayBuffer(4, 1, 1)
    many.add_many(np.arange(6)[:, None], np.zeros((6, 1)), np.arange(6), np.arange(6)[:, None] + 1,
                  np.zeros(6, bool), np.zeros(6, bool))
    np.testing.assert_array_equal(many.obs0[:, 0], [4, 5, 2, 3])
    assert len(many) == 4 and many.next_idx == 2
    s = many.sample(np.random.default_rng(0), 8, 3)
    assert s.obs0.shape == (3, 8, 1) and set(s.obs0.ravel()) <= {2.0, 3.0, 4.0, 5.0}


def test_truncated_transition_bootstraps_in_target():
    """A transition cut by the time limit is stored truncated, not terminated: its target is r + gamma Q'(s', mu'(s'));
    a terminated one (or a truncated one under --truncation_as_terminal, baselines #436) gets r alone."""
    L = make(gamma=0.5)
    set_const(L.target_actor, 0.2, 0.0)
    set_const(L.target_critic, 0.2, 0.1)  # no dead ReLU: Q' > 0
    o = np.ones(2, np.float32)
    buf = ReplayBuffer(2, 2, 1)
    buf.add(o, [0.0], 1.0, o, terminated=False, truncated=True)
    buf.add(o, [0.0], 1.0, o, terminated=True, truncated=False)
    q1 = float(L.target_critic(o[None], L.target_actor(o[None]))[0, 0])
    assert abs(q1) > 0
    np.testing.assert_allclose(L.target_q(buf.get(np.arange(2))).numpy()[:, 0], [1.0 + 0.5 * q1, 1.0], rtol=1e-6)
    buf.truncation_as_terminal = True
    np.testing.assert_allclose(L.target_q(buf.get(np.arange(2))).numpy()[:, 0], [1.0, 1.0], rtol=1e-6)


def test_normalizer_matches_numpy():
    rms = RunningMeanStd((3,))
    rng = np.random.default_rng(0)
    a, b = rng.normal(2.0, 3.0, (50, 3)), rng.normal(-1.0, 0.5, (30, 3))
    rms.update(a)
    rms.update(b)
    x = np.concatenate([a, b])
    n = len(x) + 1e-2
    mean = x.sum(0) / n
    var = (np.square(x).sum(0) + 1e-2) / n - mean ** 2
    np.testing.assert_allclose(rms.mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(rms.std.numpy(), np.sqrt(np.maximum(var, 1e-2)), rtol=1e-5)
    # std floored at 0.1 for constant data, and starts at 1
    c = RunningMeanStd((1,))
    np.testing.assert_allclose(c.std.numpy(), 1.0)
    c.update(np.full((100, 1), 7.0))
    assert float(c.std.numpy()[0]) == pytest.approx(0.1, rel=1e-4)


def test_fused_steps_equal_step_by_step():
    cfg = DDPGConfig(noise_type="none")
    import tensorflow as tf

    tf.random.set_seed(3)
    A = DDPGLearner(4, 2, cfg)
    B = DDPGLearner(4, 2, cfg)
    for s, d in zip(A.variables, B.variables, strict=True):
        d.assign(s)
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(100, 4, 2)
    buf.add_many(rng.normal(size=(100, 4)), rng.uniform(-1, 1, (100, 2)), rng.normal(size=100),
                 rng.normal(size=(100, 4)), rng.uniform(size=100) < 0.1, np.zeros(100, bool))
    C = DDPGLearner(4, 2, cfg)
    for s, d in zip(A.variables, C.variables, strict=True):
        d.assign(s)
    batches = buf.sample(rng, 64, 5)
    fa, tc = Trainer(A), Trainer(C)
    fused = fa.fused(batches)  # one XLA call: the mean losses
    split = [Batch(*[x[i] for x in batches]) for i in range(5)]
    plain = [Trainer(B).step_one(b) for b in split]  # two calls per step
    piped = tc.pipelined(split)  # apply-then-grads, one call per step
    for X in (B, C):
        for a, b in zip(A.actor.variables + A.critic.variables + A.target_actor.variables + A.target_critic.variables,
                        X.actor.variables + X.critic.variables + X.target_actor.variables + X.target_critic.variables, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(fused.critic), np.mean([float(l.critic) for l in plain]), rtol=1e-5)
    np.testing.assert_allclose([float(l.actor) for l in plain], [float(l.actor) for l in piped], rtol=1e-6)
    assert int(C.train_steps.numpy()) == 5
    assert fa.fused.experimental_get_tracing_count() == 1 and tc.apply_then_grads.experimental_get_tracing_count() == 1


def test_numpy_policy_matches_keras_actor():
    L = DDPGLearner(5, 3, DDPGConfig(noise_type="none"))
    rng = np.random.default_rng(0)
    for v in L.actor.variables:
        v.assign(rng.normal(size=v.shape).astype(np.float32) * 0.5)
    L.obs_rms.update(rng.normal(3.0, 2.0, (100, 5)))
    pol = DDPGPolicy(L, np.random.default_rng(0))
    obs = rng.normal(3.0, 4.0, (20, 5)).astype(np.float32)
    keras = L.actions_of(obs).numpy()
    for i in range(20):
        np.testing.assert_allclose(pol.greedy(obs[i]), keras[i], rtol=1e-4, atol=1e-5)


def assign_numpy_actor(actor, np_actor):
    """Load a NumpyActor's (float64) weights into a Keras Actor."""
    for d, k, b in zip(actor.trunk.denses, np_actor.trunk.kernels, np_actor.trunk.biases, strict=True):
        d.kernel.assign(k.astype(np.float32))
        d.bias.assign(b.astype(np.float32))
    for n, (g, be, _) in zip(actor.trunk.norms, np_actor.trunk.norms, strict=True):
        n.gamma.assign(g.astype(np.float32))
        n.beta.assign(be.astype(np.float32))
    actor.out.kernel.assign(np_actor.head.k.astype(np.float32))
    actor.out.bias.assign(np_actor.head.b.astype(np.float32))


def test_numpy_param_noise_perturbs_all_but_layer_norm_with_current_stddev():
    L = DDPGLearner(5, 3, DDPGConfig(noise_type="adaptive-param_0.2"))
    rng = np.random.default_rng(0)
    for v in L.actor.variables:  # LayerNorm gains / offsets away from 1 / 0 so that sharing them is visible
        v.assign(rng.normal(size=v.shape).astype(np.float32) * 0.3)
    pol = DDPGPolicy(L, np.random.default_rng(1))
    pol.refresh()
    L.param_noise.stddev.assign(0.05)
    pol.reset()
    a, p = pol.actor, pol.perturbed
    deltas = [pk - k for pk, k in zip(p.trunk.kernels + p.trunk.biases + [p.head.k, p.head.b],
                                      a.trunk.kernels + a.trunk.biases + [a.head.k, a.head.b], strict=True)]
    flat = np.concatenate([d.ravel() for d in deltas])
    assert all(np.all(d != 0) for d in deltas)
    assert abs(flat.std() - 0.05) < 0.005 and abs(flat.mean()) < 0.005  # ~4.9k draws of N(0, 0.05^2)
    for (g, be, _), (pg, pbe, _) in zip(a.trunk.norms, p.trunk.norms, strict=True):
        np.testing.assert_array_equal(g, pg)
        np.testing.assert_array_equal(be, pbe)
    first = p.trunk.kernels[0].copy()
    L.param_noise.stddev.assign(0.0)  # the stddev is read at each episode start
    pol.reset()
    assert not np.array_equal(pol.perturbed.trunk.kernels[0], first)
    np.testing.assert_array_equal(pol.perturbed.trunk.kernels[0], a.trunk.kernels[0])
    # training moves the actor, not the episode's perturbed actor (until the next reset)
    L.param_noise.stddev.assign(0.05)
    pol.reset()
    before = pol.perturbed.head.k.copy()
    L.actor.out.kernel.assign(L.actor.out.kernel + 1.0)
    pol.refresh()
    np.testing.assert_array_equal(pol.perturbed.head.k, before)
    # checkpointed with the policy
    other = DDPGPolicy(L, np.random.default_rng(9))
    other.set_state(pol.get_state())
    o = rng.normal(size=5).astype(np.float32)
    np.testing.assert_array_equal(other.explore(o), pol.explore(o))


def test_numpy_acting_matches_keras_networks():
    """The one acting path (numpy snapshots) against the Keras networks on the same weights: the perturbed actor of
    an episode, loaded into a Keras Actor, and the teacher's mean, log-std and sample (same Generator stream)."""
    from baselines_meta.common.networks import Actor
    from baselines_meta.common.normalizer import normalize
    from baselines_meta.config import TeacherConfig
    from baselines_meta.meta.teacher import TeacherLearner, TeacherPolicy

    L = DDPGLearner(5, 3, DDPGConfig(noise_type="adaptive-param_0.2"))
    rng = np.random.default_rng(0)
    L.obs_rms.update(rng.normal(1.0, 3.0, (100, 5)))
    pol = DDPGPolicy(L, np.random.default_rng(0))
    pol.refresh()
    pol.reset()
    keras_pert = Actor(5, 3, L.cfg.network, name="keras_perturbed")
    assign_numpy_actor(keras_pert, pol.perturbed)
    obs = rng.normal(1.0, 5.0, (10, 5)).astype(np.float32)
    want = keras_pert(normalize(obs, L.obs_rms, 5.0)).numpy()
    for i, o in enumerate(obs):
        np.testing.assert_allclose(pol.explore(o), want[i], rtol=1e-4, atol=1e-5)
    T = TeacherLearner(5, 3, TeacherConfig(), L.obs_rms, 5.0)
    for v in T.net.own_variables():
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
    tp = TeacherPolicy(T, np.random.default_rng(1))
    tp.refresh()
    m, ls = (x.numpy() for x in T.net.mean_and_log_std(normalize(obs, L.obs_rms, 5.0)))
    eps = np.random.default_rng(1).standard_normal((10, 3))
    for i, o in enumerate(obs):
        pm, pls = tp.mean_and_log_std(o)
        np.testing.assert_allclose(pm, m[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(pls, ls[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(tp.sample(o), m[i] + np.exp(ls[i]) * eps[i], rtol=1e-4, atol=1e-5)


def test_fused_teacher_steps_equal_step_by_step():
    from baselines_meta.config import TeacherConfig
    from baselines_meta.meta.teacher import TeacherBatch, TeacherLearner

    rng = np.random.default_rng(0)
    ts = [TeacherLearner(4, 2, TeacherConfig(lr=1e-2), None, 5.0) for _ in range(2)]
    for a, b in zip(ts[0].net.own_variables(), ts[1].net.own_variables(), strict=True):
        b.assign(a)
    obs, act = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(0, 0.3, (30, 2)).astype(np.float32)
    reward = np.full(30, 0.7, np.float32)
    d0 = TeacherBatch(obs, act, np.zeros_like(act), ts[0].log_prob(obs, act).numpy(), reward)
    ts[0].steps.fused_repeat(TeacherBatch(*[x[None] for x in d0]), np.int32(3))  # one fused XLA call
    logp_old = ts[1].log_prob(obs, act).numpy()
    for _ in range(3):
        _, g = ts[1].steps.compute_grads(TeacherBatch(obs, act, np.zeros_like(act), logp_old, reward))
        ts[1].steps.apply_grads(g.numpy())
    # Adam divides by sqrt(v): where a gradient is ~0, float32 rounding differences between XLA and plain kernels
    # are amplified up to ~lr; 5e-5 is 0.2% of the 3 x 1e-2 that a weight can move here.
    for a, b in zip(ts[0].net.own_variables(), ts[1].net.own_variables(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=5e-5)
    assert int(ts[0].teacher_steps.numpy()) == int(ts[1].teacher_steps.numpy()) == 3
