"""The student's rollout policy: a numpy snapshot of the learner's actor, plus exploration noise (the one acting
path; tests check it against the Keras networks on the same weights).

With parameter noise, each episode's rollout actor is drawn at the episode start by param_noise.perturb from the
snapshot and the learner's current adaptive stddev.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from baselines_meta.common.fastpolicy import NumpyActor, NumpyNormalizer
from baselines_meta.ddpg import param_noise
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.noise import ActionNoise


class DDPGPolicy:
    """Asks nothing of the learner but its weights; call refresh() after the learner changed them."""

    def __init__(self, learner: DDPGLearner, rng: np.random.Generator):
        self.learner = learner
        self.norm = NumpyNormalizer(learner.obs_rms, learner.cfg.obs_clip)
        self.actor = NumpyActor(learner.actor)
        self.rng = rng
        self.param_noise = learner.param_noise
        self.perturbed: Optional[NumpyActor] = None  # this episode's perturbed actor (set by reset)
        spec = learner.noise_specs.action
        self.action_noise = ActionNoise(spec, learner.act_dim, rng) if spec is not None else None

    def refresh(self) -> None:
        """Snapshot the learner's current actor and normaliser (the episode's perturbed actor stays as drawn)."""
        self.norm.refresh()
        self.actor.refresh()

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic mu(s) in the unit box: evaluation and D1 rollouts."""
        return self.actor(self.norm(obs)).astype(np.float32)

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """(Perturbed) actor plus additive noise, clipped to the unit box (baselines `pi(apply_noise=True)`)."""
        a = self._rollout_actor()(self.norm(obs))
        if self.action_noise is not None:
            a = a + self.action_noise()
        return np.minimum(np.maximum(a, -1.0), 1.0).astype(np.float32)

    def perturbed_actions(self, obs: np.ndarray) -> np.ndarray:
        """[N, O] -> [N, A]: the current parameter-noise rollout actor on a batch, without action noise (baselines'
        `perturbed_actor_tf`, for reference_perturbed_action_*)."""
        return self._rollout_actor()(self.norm(obs)).astype(np.float32)

    def _rollout_actor(self) -> NumpyActor:
        if self.param_noise is None:
            return self.actor
        if self.perturbed is None:  # first episode; drawn here, not in __init__, so a resumed run's stream is intact
            self.reset()
        return self.perturbed

    def get_state(self) -> dict:
        """The policy's state for the checkpoint: the OU noise state and this episode's perturbed actor."""
        return {"ou": self.action_noise.state.copy() if self.action_noise is not None else None,
                "perturbed": self.perturbed.arrays("") if self.perturbed is not None else None}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave and snapshot the learner's current weights."""
        if self.action_noise is not None:
            self.action_noise.state = st["ou"].copy()
        if st.get("perturbed") is not None:
            self.perturbed = NumpyActor.from_arrays(st["perturbed"], "")
        self.refresh()

    def reset(self) -> None:
        """At each episode end (baselines `agent.reset`): new weight perturbation, OU state back to 0."""
        if self.action_noise is not None:
            self.action_noise.reset()
        if self.param_noise is not None:
            self.perturbed = param_noise.perturb(self.actor, self.rng, self.param_noise.current())
