"""The student's rollout policy: a numpy snapshot of the learner's actor, plus exploration noise."""
from __future__ import annotations

import numpy as np

from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.fastpolicy import NumpyActor, NumpyNormalizer
from baselines_meta.noise import ActionNoise


class DDPGPolicy:
    """Asks nothing of the learner but its weights; call refresh() after the learner changed them."""

    def __init__(self, learner: DDPGLearner, rng: np.random.Generator, fast: bool = True):
        """fast: act through numpy snapshots; else one compiled TF call per step (the plain reference path)."""
        self.learner = learner
        self.fast = fast
        self.norm = NumpyNormalizer(learner.obs_rms, learner.cfg.obs_clip)
        self.actor = NumpyActor(learner.actor)
        self.perturbed = NumpyActor(learner.perturbed_actor) if learner.param_noise is not None else None
        spec = learner.noise_specs.action
        self.action_noise = ActionNoise(spec, learner.act_dim, rng) if spec is not None else None

    def refresh(self) -> None:
        self.norm.refresh()
        self.actor.refresh()
        if self.perturbed is not None:
            self.perturbed.refresh()

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic mu(s) in the unit box: evaluation and D1 rollouts."""
        if not self.fast:
            return self.learner.act_greedy(obs).numpy()
        return self.actor(self.norm(obs)).astype(np.float32)

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """(Perturbed) actor plus additive noise, clipped to the unit box (baselines `pi(apply_noise=True)`)."""
        if not self.fast:
            L = self.learner
            a = (L.act_perturbed if self.perturbed is not None else L.act_greedy)(obs).numpy()
        else:
            a = (self.perturbed if self.perturbed is not None else self.actor)(self.norm(obs))
        if self.action_noise is not None:
            a = a + self.action_noise()
        return np.minimum(np.maximum(a, -1.0), 1.0).astype(np.float32)

    def get_state(self) -> dict:
        return {"ou": self.action_noise.state.copy() if self.action_noise is not None else None}

    def set_state(self, st: dict) -> None:
        if self.action_noise is not None:
            self.action_noise.state = st["ou"].copy()
        self.refresh()

    def reset(self) -> None:
        """At each episode end (baselines `agent.reset`): new weight perturbation, OU state back to 0."""
        if self.action_noise is not None:
            self.action_noise.reset()
        if self.perturbed is not None:
            self.learner.perturb_rollout_actor()
            self.perturbed.refresh()
