"""Noise: fresh on every call (parameter-noise distance, numpy action noise), tracing once, parsing."""
import numpy as np
import pytest

from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.noise import ActionNoise, ActionNoiseSpec, NoiseSpecError, NoiseSpecs, ParamNoiseSpec, parse_noise_type
from baselines_meta.ddpg.policy import DDPGPolicy


def test_parse_noise_strings():
    s = parse_noise_type("adaptive-param_0.2,normal_0.1")
    assert s.param == ParamNoiseSpec(0.2, 0.2) and s.action == ActionNoiseSpec("normal", 0.1)
    assert parse_noise_type("none") == NoiseSpecs() and parse_noise_type("none,none") == NoiseSpecs()
    assert parse_noise_type("none").action is None and parse_noise_type("none").param is None
    assert parse_noise_type(" ou_0.3 ").action.kind == "ou"
    for bad in ("gauss_0.1", "normal_x", "normal_-1", "normal", "normal_0.1,ou_0.2", ""):
        with pytest.raises(NoiseSpecError):
            parse_noise_type(bad)


def test_param_noise_distance_by_hand_fresh_and_adapts():
    """The distance is the RMS action difference between the actor and a fresh perturbation of it (LayerNorm weights
    shared), computed again here in numpy from the scratch copy's weights; the stddev moves by 1.01."""
    from baselines_meta.common.fastpolicy import NumpyActor, NumpyNormalizer

    L = DDPGLearner(3, 2, DDPGConfig(noise_type="adaptive-param_0.2"))
    pn = L.param_noise
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    d1 = float(pn.distance(obs))
    clean, pert = NumpyActor(L.actor), NumpyActor(pn.adaptive_actor)
    nobs = NumpyNormalizer(L.obs_rms, 5.0)(obs)
    assert d1 == pytest.approx(np.sqrt(np.mean(np.square(clean(nobs) - pert(nobs)))), rel=1e-4)
    ln = {id(v) for layer in L.actor.trunk.norms for v in layer.variables}
    for s, d in zip(L.actor.variables, pn.adaptive_actor.variables, strict=True):
        assert np.array_equal(s.numpy(), d.numpy()) == (id(s) in ln)  # only LayerNorm is copied unperturbed
    d2 = float(pn.distance(obs))
    assert d1 != d2 and d1 > 0
    assert pn.distance.experimental_get_tracing_count() == 1
    pn.stddev.assign(0.0)  # the stddev is read inside the graph, never stale
    assert float(pn.distance(obs)) == 0.0
    pn.stddev.assign(0.2)
    pn.move(0.5)
    assert pn.current() == pytest.approx(0.2 / 1.01)
    pn.move(0.1)
    assert pn.current() == pytest.approx(0.2)
    d = pn.adapt(obs)  # measure, then move by the measured distance
    assert pn.current() == pytest.approx(0.2 / 1.01 if d > 0.2 else 0.2 * 1.01)


def test_action_noise_fresh_and_ou_reset():
    n = ActionNoise(ActionNoiseSpec("normal", 0.1), 2, np.random.default_rng(0))
    a, b = n(), n()
    assert not np.array_equal(a, b)
    x = np.stack([n() for _ in range(4000)])
    assert x.std() == pytest.approx(0.1, rel=0.05)
    ou = ActionNoise(ActionNoiseSpec("ou", 0.2), 1, np.random.default_rng(0))
    e = np.random.default_rng(0).standard_normal(1)
    # first OU step from 0: x = 0 + 0.15*(0-0)*0.01 + 0.2*sqrt(0.01)*eps
    np.testing.assert_allclose(ou(), 0.2 * 0.1 * e, rtol=1e-6)
    ou.reset()
    np.testing.assert_array_equal(ou.state, 0.0)


def test_explore_differs_across_calls_greedy_does_not():
    L = DDPGLearner(3, 2, DDPGConfig(noise_type="normal_0.1"))
    pol = DDPGPolicy(L, np.random.default_rng(0))
    o = np.ones(3, np.float32)
    assert not np.array_equal(pol.explore(o), pol.explore(o))
    np.testing.assert_array_equal(pol.greedy(o), pol.greedy(o))
    assert np.all(np.abs(pol.explore(o * 100)) <= 1.0)
