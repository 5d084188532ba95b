"""The teacher of Algorithm 1: log-probabilities, meta-gradient direction, independence from the student."""
import dataclasses
import math

import numpy as np
import pytest

from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.common.trainer import Trainer
from baselines_meta.config import DDPGConfig, TeacherConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.meta.cycle import cycle_sizes
from baselines_meta.meta.learn import StudentSnapshot
from baselines_meta.meta.reward import MetaRewardShaper, policy_return
from baselines_meta.meta.teacher import TeacherBatch, TeacherLearner, TeacherPolicy
from baselines_meta.runtime.envs import Rollout

O, A = 4, 2


def build(kind="independent", lr=1e-2):
    L = DDPGLearner(O, A, DDPGConfig(noise_type="none"))
    T = TeacherLearner(O, A, TeacherConfig(kind=kind, lr=lr), L.obs_rms, 5.0, actor=L.actor)
    return L, T


def d0(seed=0, n=32):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, O)).astype(np.float32), rng.normal(0, 0.3, (n, A)).astype(np.float32)


def test_log_prob_is_the_gaussian_formula():
    L, T = build()
    rng = np.random.default_rng(0)
    for v in T.net.own_variables():
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
    L.obs_rms.update(rng.normal(1.0, 2.0, (50, O)))
    obs, act = d0()
    nobs = np.clip((obs - L.obs_rms.mean.numpy()) / L.obs_rms.std.numpy(), -5, 5).astype(np.float32)
    mean, log_std = T.net.mean_and_log_std(nobs)
    mean, log_std = mean.numpy().astype(np.float64), log_std.numpy().astype(np.float64)
    by_hand = np.sum(-0.5 * ((act - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=1)
    np.testing.assert_allclose(T.log_prob(obs, act).numpy(), by_hand, rtol=1e-4, atol=1e-4)
    # log-std stays inside its documented range whatever the weights
    for v in T.net.own_variables():
        v.assign(v * 100.0)
    _, ls = T.net.mean_and_log_std(obs)
    assert np.all(ls.numpy() >= T.cfg.log_std_min - 1e-6) and np.all(ls.numpy() <= T.cfg.log_std_max + 1e-6)


@pytest.mark.parametrize("kind", ["independent", "variance"])
def test_meta_reward_sign_moves_log_prob(kind):
    obs, act = d0()
    for reward, direction in ((+1.0, +1), (-1.0, -1)):
        L, T = build(kind)
        before = float(np.sum(T.log_prob(obs, act)))
        T.train(obs, act, reward, 1)
        after = float(np.sum(T.log_prob(obs, act)))
        assert direction * (after - before) > 0, (kind, reward, before, after)
    L, T = build(kind)
    before = [v.numpy().copy() for v in T.net.own_variables()]
    T.train(obs, act, 0.0, 1)  # zero meta reward: zero gradient, Adam moves nothing
    for b, v in zip(before, T.net.own_variables(), strict=True):
        np.testing.assert_array_equal(b, v.numpy())


def test_teacher_step_leaves_student_and_student_step_leaves_teacher():
    L, T = build("variance")
    obs, act = d0()
    student = [v.numpy().copy() for v in L.sync_variables()]
    teacher = [v.numpy().copy() for v in T.net.own_variables()]
    T.train(obs, act, 1.0, 3)
    for b, v in zip(student, L.sync_variables(), strict=True):
        np.testing.assert_array_equal(b, v.numpy())
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(teacher, T.net.own_variables(), strict=True))
    teacher = [v.numpy().copy() for v in T.net.own_variables()]
    buf = ReplayBuffer(64, O, A)
    rng = np.random.default_rng(0)
    buf.add_many(rng.normal(size=(64, O)), rng.uniform(-1, 1, (64, A)), rng.normal(size=64), rng.normal(size=(64, O)),
                 np.zeros(64, bool), np.zeros(64, bool))
    Trainer(L).fused(buf.sample(rng, 16, 3))
    for b, v in zip(teacher, T.net.own_variables(), strict=True):
        np.testing.assert_array_equal(b, v.numpy())
    assert not any(id(v) in {id(a) for a in L.actor.variables} for v in T.net.own_variables())


def test_variance_teacher_mean_is_the_actor():
    L, T = build("variance")
    obs, _ = d0()
    nobs = np.clip((obs - L.obs_rms.mean.numpy()) / L.obs_rms.std.numpy(), -5, 5).astype(np.float32)
    mean, _ = T.net.mean_and_log_std(nobs)
    np.testing.assert_allclose(mean.numpy(), L.actor(nobs).numpy(), rtol=1e-6)
    pol = TeacherPolicy(T, np.random.default_rng(0))
    m, _ = pol.mean_and_log_std(obs[0])
    np.testing.assert_allclose(m, L.actions_of(obs[:1]).numpy()[0], rtol=1e-4, atol=1e-5)


def test_numpy_teacher_matches_keras_and_samples_around_mean():
    L, T = build()
    rng = np.random.default_rng(2)
    for v in T.net.own_variables():
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
    pol = TeacherPolicy(T, np.random.default_rng(0))
    obs, _ = d0()
    m, ls = T.net.mean_and_log_std(obs)  # obs_rms is at its initial state (mean 0, std 1)
    for i in range(5):
        pm, pls = pol.mean_and_log_std(obs[i])
        np.testing.assert_allclose(pm, m.numpy()[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(pls, ls.numpy()[i], rtol=1e-4, atol=1e-5)
    s = np.stack([pol.sample(obs[0]) for _ in range(4000)])
    np.testing.assert_allclose(s.mean(0), m.numpy()[0], atol=0.05)
    np.testing.assert_allclose(s.std(0), np.exp(ls.numpy()[0]), rtol=0.1)


def test_policy_return_by_hand_and_cycle_sizes():
    """R = mean return of the rollout's episodes; the episode cut at the end counts only when it is the first."""
    # two finished episodes (10, 20) then a cut one (rewards 1 + 2 = 3 after them): R = 15, the cut one left out
    ro = Rollout(*([np.zeros(0)] * 2), np.array([4.0, 6.0, 5.0, 15.0, 1.0, 2.0]), *([np.zeros(0)] * 4), [10.0, 20.0], [2, 2])
    assert policy_return(ro, "return") == pytest.approx(15.0)
    assert policy_return(ro, "step") == pytest.approx(33.0 / 6)
    # no episode finished: the first (cut) episode with its partial return
    assert policy_return(ro._replace(episode_returns=[]), "return") == pytest.approx(33.0)
    with pytest.raises(ValueError):
        policy_return(ro, "episodic")
    assert cycle_sizes(1000, 200, 100, 200) == (200, 100, 200)
    assert cycle_sizes(1000, 0, 100, 200) == (0, 100, 200)
    assert cycle_sizes(450, 200, 100, 200) == (200, 100, 150)
    assert cycle_sizes(250, 200, 100, 200) == (200, 50, 0)


def test_meta_reward_standardisation_by_hand():
    sh = MetaRewardShaper("window", 3, False, np.random.default_rng(0))
    assert sh(5.0) == 1.0  # one value: no spread to scale by, so its sign (it used to be 0: a wasted first step)
    assert sh(1.0) == pytest.approx((1.0 - 3.0) / 2.0)  # window [5, 1]: mean 3, std 2
    assert sh(3.0) == pytest.approx(0.0)  # [5, 1, 3]: mean 3
    assert sh(7.0) == pytest.approx((7.0 - 11.0 / 3) / np.std([1.0, 3.0, 7.0]))  # window of 3: 5 has left
    assert MetaRewardShaper("none", 3, False, None)(-2.5) == -2.5
    signs = [MetaRewardShaper("none", 3, True, np.random.default_rng(i))(2.0) for i in range(40)]
    assert set(signs) == {2.0, -2.0}
    flat = MetaRewardShaper("window", 20, False, None)
    assert [flat(0.0) for _ in range(5)] == [0.0] * 5  # equal rewards carry no signal (and no division by zero)
    issue = MetaRewardShaper("window", 20, False, None)  # the issue's example: 5, -3, 1 used to give 0, -1, 0
    assert [issue(5.0), issue(-3.0), issue(1.0)] == [1.0, -1.0, pytest.approx(0.0)]  # [5, -3]: mean 1, std 4
    neg = MetaRewardShaper("window", 20, False, None)
    assert neg(-0.25) == -1.0 and MetaRewardShaper("window", 20, False, None)(0.0) == 0.0


def test_sum_estimator_and_zero_fraction_by_hand():
    from baselines_meta.meta.reward import summary

    ro = Rollout(*[None] * 2, np.array([1.0, 2.0, 0.5], np.float32), *[None] * 4, [10.0], [2])
    assert policy_return(ro, "sum") == 3.5  # every reward, the reset in between included
    assert policy_return(ro, "return") == 10.0
    s = summary([0.0, 2.0, -1.0, 0.0])
    assert s["meta/reward_zero_frac"] == 0.5 and s["meta/reward_pos_frac"] == 0.25


def test_snapshot_restores_student_exactly():
    L, _ = build()
    snap = StudentSnapshot(L)
    before = [v.numpy().copy() for v in snap.vars]
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(64, O, A)
    buf.add_many(rng.normal(size=(64, O)), rng.uniform(-1, 1, (64, A)), rng.normal(size=64), rng.normal(size=(64, O)),
                 np.zeros(64, bool), np.zeros(64, bool))
    Trainer(L).fused(buf.sample(rng, 16, 2))
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, snap.vars, strict=True))
    snap.restore()
    for b, v in zip(before, snap.vars, strict=True):
        np.testing.assert_array_equal(b, v.numpy())


def test_snapshot_restores_the_return_statistics_under_popart():
    """--popart --lookahead copy: the look-ahead's PopArt steps move the return statistics and rescale the critic's
    output layer; the restored student has both back, so its denormalised Q is what it was (before the fix the layer
    came back without the statistics and Q shifted by about the statistics' move)."""
    from baselines_meta.common.replay import Batch
    from baselines_meta.ddpg.learner import popart_step

    L = DDPGLearner(O, A, DDPGConfig(noise_type="none", normalize_returns=True, popart=True))
    rng = np.random.default_rng(0)
    b = Batch(*[np.asarray(x, np.float32) for x in (rng.normal(size=(64, O)), rng.uniform(-1, 1, (64, A)),
                                                    rng.normal(size=(64, 1)) - 300.0, rng.normal(size=(64, O)),
                                                    np.zeros((64, 1)))])
    q = lambda: L.critic_output(b.obs0, b.actions).numpy() * L.ret_rms.std.numpy() + L.ret_rms.mean.numpy()  # noqa: E731
    q_before, stats_before = q(), L.ret_rms.get_state()
    snap = StudentSnapshot(L)
    for _ in range(3):
        popart_step(L, b)
        Trainer(L).step_one(b)
    assert float(L.ret_rms.mean.numpy()[0]) < -10  # the look-ahead moved the statistics
    snap.restore()
    np.testing.assert_array_equal(L.ret_rms.get_state()["sum"], stats_before["sum"])
    np.testing.assert_allclose(q(), q_before, rtol=0, atol=1e-5)


def _grads(T, obs, act, logp, r):
    """(loss, flat gradient) of one teacher step on D0 with meta reward r, the sampler's means 0."""
    logp = np.asarray(logp, np.float32)
    return T.steps.compute_grads(TeacherBatch(obs, act, np.zeros_like(act), logp, np.full(len(obs), r, np.float32)))


def test_clipped_teacher_update_is_reinforce_at_first_and_stops_past_the_clip():
    """PPO's clipped ratio for the teacher's repeated steps: at rho = 1 its gradient is the paper's REINFORCE gradient;
    with every rho past 1 + eps and R > 0 (or below 1 - eps and R < 0) the samples are clipped: zero gradient."""
    obs, act = d0()
    _, clipped = build()
    _, plain = build()
    plain.cfg = dataclasses.replace(plain.cfg, clip=0.0)
    for a, b in zip(clipped.net.own_variables(), plain.net.own_variables(), strict=True):
        b.assign(a)
    logp = clipped.log_prob(obs, act)
    _, g_clip = _grads(clipped, obs, act, logp, np.float32(0.7))
    _, g_plain = _grads(plain, obs, act, logp, np.float32(0.7))
    np.testing.assert_allclose(g_clip.numpy(), g_plain.numpy(), rtol=1e-5, atol=1e-7)
    assert np.abs(g_plain.numpy()).max() > 0
    # rho = e^1 > 1.2 everywhere: R > 0 is clipped (no gradient); R < 0 is not (min takes rho * R)
    _, g = _grads(clipped, obs, act, logp - 1.0, np.float32(0.7))
    assert np.abs(g.numpy()).max() == 0.0
    _, g = _grads(clipped, obs, act, logp - 1.0, np.float32(-0.7))
    plain_at_1 = _grads(clipped, obs, act, logp, np.float32(-0.7))[1].numpy()
    np.testing.assert_allclose(g.numpy(), np.e * plain_at_1, rtol=1e-3, atol=1e-5)
    # rho = e^-1 < 0.8: R < 0 is clipped, R > 0 is not
    _, g = _grads(clipped, obs, act, logp + 1.0, np.float32(-0.7))
    assert np.abs(g.numpy()).max() == 0.0
