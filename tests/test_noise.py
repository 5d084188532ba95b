"""Noise: fresh on every call (compiled perturbations, numpy action noise), tracing once, parsing."""
import numpy as np
import pytest

from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.noise import (ActionNoise, ActionNoiseSpec, NoiseSpecError, NoiseSpecs, ParamNoise, ParamNoiseSpec,
                                  parse_noise_type)


def test_parse_noise_strings():
    s = parse_noise_type("adaptive-param_0.2,normal_0.1")
    assert s.param == ParamNoiseSpec(0.2, 0.2) and s.action == ActionNoiseSpec("normal", 0.1)
    assert parse_noise_type("none") == NoiseSpecs() and parse_noise_type("none,none") == NoiseSpecs()
    assert parse_noise_type("none").action is None and parse_noise_type("none").param is None
    assert parse_noise_type(" ou_0.3 ").action.kind == "ou"
    for bad in ("gauss_0.1", "normal_x", "normal_-1", "normal", "normal_0.1,ou_0.2", ""):
        with pytest.raises(NoiseSpecError):
            parse_noise_type(bad)


def test_param_noise_perturbation_fresh_each_call_and_traced_once():
    L = DDPGLearner(3, 2, DDPGConfig(noise_type="adaptive-param_0.2"))
    snaps = []
    for _ in range(3):
        L.perturb_rollout_actor()
        snaps.append([v.numpy().copy() for v in L.perturbed_actor.variables])
    k = 0  # first dense kernel: perturbable
    assert not np.array_equal(snaps[0][k], snaps[1][k]) and not np.array_equal(snaps[1][k], snaps[2][k])
    assert L.perturb_rollout_actor.experimental_get_tracing_count() == 1
    # LayerNorm weights are copied, never perturbed
    ln = {id(v) for layer in L.actor.trunk.norms for v in layer.variables}
    for s, d in zip(L.actor.variables, L.perturbed_actor.variables, strict=True):
        if id(s) in ln:
            np.testing.assert_array_equal(s.numpy(), d.numpy())
    # perturbation size follows the stddev variable (read inside the graph, never stale)
    L.param_noise.stddev.assign(0.0)
    L.perturb_rollout_actor()
    for s, d in zip(L.actor.variables, L.perturbed_actor.variables, strict=True):
        np.testing.assert_array_equal(s.numpy(), d.numpy())
    assert L.perturb_rollout_actor.experimental_get_tracing_count() == 1


def test_param_noise_distance_fresh_and_adapts():
    L = DDPGLearner(3, 2, DDPGConfig(noise_type="adaptive-param_0.2"))
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    d1, d2 = float(L.param_noise_distance(obs)), float(L.param_noise_distance(obs))
    assert d1 != d2 and d1 > 0
    assert L.param_noise_distance.experimental_get_tracing_count() == 1
    pn = ParamNoise(ParamNoiseSpec(0.2, 0.2))
    pn.adapt(0.5)
    assert float(pn.stddev.numpy()) == pytest.approx(0.2 / 1.01)
    pn.adapt(0.1)
    assert float(pn.stddev.numpy()) == pytest.approx(0.2)


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
