"""Adaptive parameter noise (Plappert et al. 2018; baselines `AdaptiveParamNoiseSpec`), all of its behaviour in one
module. Its spec comes from the noise string ('adaptive-param_X', noise.parse_noise_type).

- `perturb`: the rollout actor of one episode, a numpy copy of the actor's snapshot with N(0, stddev^2) added to every
  kernel and bias; LayerNorm's gain and offset are shared, never perturbed (baselines `get_perturbed_actor_updates`,
  `get_perturbable_vars`). The acting path calls it at each episode start (ddpg.policy.DDPGPolicy.reset), with the
  rank's numpy Generator. In numpy because a compiled TF perturbation and the read-back of its weights cost ~1.3 ms
  per episode, 15% of a training cycle on Hopper's short early episodes.
- `ParamNoise`: the adaptive stddev, a tf.Variable checkpointed and MPI-checked with the learner, and its adaptation
  (baselines `adapt_param_noise`): every `param_noise_adaption_interval` gradient steps, a scratch copy of the actor
  is perturbed in the graph (the learner's current weights, no snapshot needed), the RMS distance between its actions
  and the actor's on a replay batch is averaged over ranks, and the stddev is divided by 1.01 when the distance is
  above the target, multiplied by 1.01 otherwise.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from baselines_meta.common import mpi
from baselines_meta.common.fastpolicy import NumpyActor, NumpyHead, NumpyTrunk
from baselines_meta.common.networks import Actor
from baselines_meta.config import NetworkConfig
from baselines_meta.ddpg.noise import ParamNoiseSpec


def perturb(actor: NumpyActor, rng: np.random.Generator, stddev: float) -> NumpyActor:
    """A copy of `actor` with N(0, stddev^2) on every kernel and bias, drawn from `rng` (LayerNorm shared)."""
    t = NumpyTrunk(None)
    t.kernels = [k + stddev * rng.standard_normal(k.shape) for k in actor.trunk.kernels]
    t.biases = [b + stddev * rng.standard_normal(b.shape) for b in actor.trunk.biases]
    t.norms = actor.trunk.norms
    h = NumpyHead(None, tanh=True)
    h.k = actor.head.k + stddev * rng.standard_normal(actor.head.k.shape)
    h.b = actor.head.b + stddev * rng.standard_normal(actor.head.b.shape)
    out = NumpyActor(None)
    out.trunk, out.head = t, h
    return out


class ParamNoise(tf.Module):
    """The adaptive stddev of the learner's actor and its adaptation."""

    def __init__(self, spec: ParamNoiseSpec, actor: Actor, obs_dim: int, act_dim: int, net: NetworkConfig,
                 norm_obs: Callable[[tf.Tensor], tf.Tensor], seed: int):
        """actor: the learner's actor; norm_obs: its observation normaliser (graph code); seed: of the generator that
        perturbs the scratch copy (its state is checkpointed)."""
        super().__init__(name="param_noise")
        self.spec, self.actor, self.norm_obs = spec, actor, norm_obs
        self.stddev = tf.Variable(np.float32(spec.initial_stddev), trainable=False, name="stddev")
        self.adaptive_actor = Actor(obs_dim, act_dim, net, name="adaptive_actor")  # scratch copy for the distance
        self.tf_rng = tf.random.Generator.from_seed(seed)
        self.distance = tf.function(self._distance, autograph=False, input_signature=[tf.TensorSpec([None, obs_dim])])

    def _distance(self, obs0):  # [B, O] -> scalar: RMS distance of the actions, a fresh perturbation each call
        pert = {id(v) for v in self.actor.perturbable_variables()}
        for s, d in zip(self.actor.variables, self.adaptive_actor.variables, strict=True):
            d.assign(s + self.tf_rng.normal(tf.shape(s)) * self.stddev if id(s) in pert else s)
        o = self.norm_obs(obs0)
        return tf.sqrt(tf.reduce_mean(tf.square(self.actor(o) - self.adaptive_actor(o))))

    def adapt(self, obs0: np.ndarray) -> float:
        """Measure the distance on a batch, average it over ranks, move the stddev; returns the distance."""
        d = float(mpi.allreduce_mean(np.array([self.distance(obs0).numpy()], np.float32))[0])
        self.move(d)
        return d

    def move(self, distance: float) -> None:
        """Shrink the stddev when the action distance is above target, grow it otherwise."""
        c = self.spec.adoption_coefficient
        self.stddev.assign(self.stddev / c if distance > self.spec.desired_action_stddev else self.stddev * c)

    def current(self) -> float:
        """The current adaptive stddev as a float."""
        return float(self.stddev.numpy())

    def state_variables(self) -> list[tf.Variable]:
        """The variables a resumed run needs: the scratch actor's, the stddev and the generator's state."""
        return list(self.adaptive_actor.variables) + [self.stddev, self.tf_rng.state]
