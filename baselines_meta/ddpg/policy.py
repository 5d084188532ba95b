"""The student's rollout policy: a numpy snapshot of the learner's actor, plus exploration noise.

Parameter noise on the fast path: at each episode start the rollout actor is the numpy snapshot of the actor plus
N(0, stddev^2) on every weight but LayerNorm's, drawn from the rank's numpy Generator (baselines
`get_perturbed_actor_updates`, with the learner's current adaptive stddev). Doing this in TF cost a compiled call and a
read-back of every weight, ~1.3 ms per episode, which on Hopper's short early episodes was 15% of a training cycle.
The plain path (--no-fast) perturbs the learner's TF `perturbed_actor` instead; tests check both act the same on the
same perturbed weights.
"""
from __future__ import annotations

from typing import Optional

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
        self.rng = rng
        self.param_noise = learner.param_noise is not None
        self.perturbed: Optional[NumpyActor] = None  # fast path: this episode's perturbed actor (set by reset)
        spec = learner.noise_specs.action
        self.action_noise = ActionNoise(spec, learner.act_dim, rng) if spec is not None else None

    def refresh(self) -> None:
        """Snapshot the learner's current actor and normaliser (the episode's perturbed actor stays as drawn)."""
        self.norm.refresh()
        self.actor.refresh()

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic mu(s) in the unit box: evaluation and D1 rollouts."""
        if not self.fast:
            return self.learner.act_greedy(obs).numpy()
        return self.actor(self.norm(obs)).astype(np.float32)

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """(Perturbed) actor plus additive noise, clipped to the unit box (baselines `pi(apply_noise=True)`)."""
        if not self.fast:
            L = self.learner
            a = (L.act_perturbed if self.param_noise else L.act_greedy)(obs).numpy()
        elif self.param_noise:
            if self.perturbed is None:  # first episode; drawn here, not in __init__, so a resumed run's stream is intact
                self.reset()
            a = self.perturbed(self.norm(obs))
        else:
            a = self.actor(self.norm(obs))
        if self.action_noise is not None:
            a = a + self.action_noise()
        return np.minimum(np.maximum(a, -1.0), 1.0).astype(np.float32)

    def perturbed_actions(self, obs: np.ndarray) -> np.ndarray:
        """[N, O] -> [N, A]: the current parameter-noise rollout actor on a batch, without action noise (baselines'
        `perturbed_actor_tf`, for reference_perturbed_action_*)."""
        if self.fast:
            if self.perturbed is None:
                self.reset()
            actor = self.perturbed
        else:
            actor = NumpyActor(self.learner.perturbed_actor)
        return actor(self.norm(obs)).astype(np.float32)

    def get_state(self) -> dict:
        return {"ou": self.action_noise.state.copy() if self.action_noise is not None else None,
                "perturbed": self.perturbed.arrays("") if self.perturbed is not None else None}

    def set_state(self, st: dict) -> None:
        if self.action_noise is not None:
            self.action_noise.state = st["ou"].copy()
        if st.get("perturbed") is not None:
            self.perturbed = NumpyActor.from_arrays(st["perturbed"], "")
        self.refresh()

    def reset(self) -> None:
        """At each episode end (baselines `agent.reset`): new weight perturbation, OU state back to 0."""
        if self.action_noise is not None:
            self.action_noise.reset()
        if not self.param_noise:
            return
        if self.fast:
            self.perturbed = self.actor.perturbed(self.rng, float(self.learner.param_noise.stddev.numpy()))
        else:
            self.learner.perturb_rollout_actor()
