"""DDPG learner: owns the networks, targets, optimizers, normalisers, noise state and counters.

Compiled entry points (each traced once, fixed input_signature):
  train(batches)         K fused gradient steps, single worker: batch -> losses -> grads -> apply -> target update
  union.train_union      K fused gradient steps on the union of N ranks' batches [K, N, B, ...] (MPI batch exchange)
  grads.*                the per-step gradient-exchange path (GradSteps below): compute_grads, apply_grads,
                         apply_then_grads, and the eager train_step(s)_mpi around them
  actor_q(obs)           Q(s, mu(s)) of the clean actor on a batch (rollout/Q_mean, eval/Q)
  q_values, actions_of, target_q   batch evaluations for statistics, PopArt and tests
Acting in the env loop goes through ddpg.policy.DDPGPolicy, a numpy snapshot of these networks (the Keras networks
are its test reference); parameter noise is in param_noise.
Math follows baselines `ddpg/ddpg.py` (pre-refactor): actor and critic gradients are both taken at the
pre-update parameters, then both applied, then the targets move by tau.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from baselines_meta.common import mpi
from baselines_meta.common.flat import flatten, unflatten
from baselines_meta.common.flat import size as flat_size
from baselines_meta.common.networks import Actor, Critic
from baselines_meta.common.normalizer import RunningMeanStd, normalize
from baselines_meta.common.replay import Batch
from baselines_meta.common.tf_util import assign_all, copy_variables, make_adam
from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.noise import parse_noise_type
from baselines_meta.ddpg.param_noise import ParamNoise
from baselines_meta.resolve import completed


class Losses(NamedTuple):
    """Mean critic and actor losses of one training call."""
    critic: tf.Tensor  # scalar, mean over the fused steps
    actor: tf.Tensor  # scalar


class DDPGLearner(tf.Module):
    """DDPG's networks, targets, Adam optimisers, normalisers, parameter noise and compiled train / evaluation calls."""
    def __init__(self, obs_dim: int, act_dim: int, cfg: DDPGConfig, seed: int = 0):
        """seed: of the parameter-noise generator (param_noise.ParamNoise), whose state is checkpointed."""
        super().__init__(name="ddpg")
        self.cfg = cfg = completed(cfg)  # (a config alone: UNSET settings take their defaults)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        net = cfg.network
        self.actor = Actor(obs_dim, act_dim, net, name="actor")
        self.critic = Critic(obs_dim, act_dim, net, name="critic")
        # Targets are separate networks whose weights start as copies (never shared variables).
        self.target_actor = Actor(obs_dim, act_dim, net, name="target_actor")
        self.target_critic = Critic(obs_dim, act_dim, net, name="target_critic")
        copy_variables(self.actor.variables, self.target_actor.variables)
        copy_variables(self.critic.variables, self.target_critic.variables)

        self.obs_rms = RunningMeanStd((obs_dim,), name="obs_rms") if cfg.normalize_observations else None
        self.ret_rms = RunningMeanStd((1,), name="ret_rms") if cfg.normalize_returns else None
        self.actor_opt = make_adam(cfg.actor_lr)
        self.critic_opt = make_adam(cfg.critic_lr)
        self.actor_opt.build(self.actor.trainable_variables)
        self.critic_opt.build(self.critic.trainable_variables)

        self.noise_specs = parse_noise_type(cfg.noise_type)
        spec = self.noise_specs.param
        self.param_noise = ParamNoise(spec, self.actor, obs_dim, act_dim, net, self.norm_obs, seed) if spec else None
        self.train_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_steps")
        self._a_shapes = [tuple(v.shape) for v in self.actor.trainable_variables]
        self._c_shapes = [tuple(v.shape) for v in self.critic.trainable_variables]

        O, A = obs_dim, act_dim
        one = [tf.TensorSpec([None, O]), tf.TensorSpec([None, A]), tf.TensorSpec([None, 1]), tf.TensorSpec([None, O]), tf.TensorSpec([None, 1])]
        many = [tf.TensorSpec([None] + list(s.shape)) for s in one]
        # XLA: 2.5x faster than plain graph execution on CPU for 64-64 nets
        self.train = tf.function(self._train_many, autograph=False, input_signature=[Batch(*many)], jit_compile=True)
        self.batch_spec = Batch(*one)
        self.q_values = tf.function(self._q_values, autograph=False, input_signature=[tf.TensorSpec([None, O]), tf.TensorSpec([None, A])])
        self.target_q = tf.function(self._target_q, autograph=False, input_signature=[Batch(*one)])
        self.actions_of = tf.function(self._actions_of, autograph=False, input_signature=[tf.TensorSpec([None, O])])
        self.actor_q = tf.function(self._actor_q, autograph=False, input_signature=[tf.TensorSpec([None, O])])
        self.union = UnionSteps(self)  # the MPI batch-exchange path (--mpi_exchange batches)
        self.grads = GradSteps(self)  # the per-step gradient-exchange path (--mpi_exchange grads, PopArt)

    # ------------------------------------------------------------------ helpers (graph code)
    def norm_obs(self, obs):
        """Normalise and clip observations [B, O] with the observation statistics (clip only when normalisation is off)."""
        return normalize(obs, self.obs_rms, self.cfg.obs_clip)

    def _denorm_ret(self, x):
        return x if self.ret_rms is None else x * self.ret_rms.std + self.ret_rms.mean

    def _norm_ret(self, x):
        return x if self.ret_rms is None else (x - self.ret_rms.mean) / self.ret_rms.std

    def _clip_ret(self, x):
        c = self.cfg.return_clip
        return x if math.isinf(c) else tf.clip_by_value(x, -c, c)

    def _target_q(self, batch: Batch):  # [B, 1]
        o1 = self.norm_obs(batch.obs1)
        q1 = self._denorm_ret(self._clip_ret(self.target_critic(o1, self.target_actor(o1))))
        return batch.rewards + (1.0 - batch.terminals) * self.cfg.gamma * q1

    def _losses_and_grads(self, batch: Batch):
        cfg = self.cfg
        o0 = self.norm_obs(batch.obs0)
        y = tf.stop_gradient(self._clip_ret(self._norm_ret(self._target_q(batch))))
        with tf.GradientTape() as ta:
            q_pi = self._denorm_ret(self._clip_ret(self.critic(o0, self.actor(o0))))
            actor_loss = -tf.reduce_mean(q_pi)
        with tf.GradientTape() as tc:
            q = self.critic(o0, batch.actions)
            critic_loss = tf.reduce_mean(tf.square(y - q))
            if cfg.critic_l2_reg > 0:
                l2_vars = self.critic.l2_variables(cfg.critic_l2_output)
                critic_loss += cfg.critic_l2_reg * tf.add_n([tf.nn.l2_loss(w) for w in l2_vars])
        ga = ta.gradient(actor_loss, self.actor.trainable_variables)
        gc = tc.gradient(critic_loss, self.critic.trainable_variables)
        if cfg.clip_norm is not None:  # baselines U.flatgrad: each gradient tensor of both networks by its own norm
            ga = [tf.clip_by_norm(g, cfg.clip_norm) for g in ga]
            gc = [tf.clip_by_norm(g, cfg.clip_norm) for g in gc]
        return Losses(critic_loss, actor_loss), ga, gc

    def _apply(self, ga, gc):
        self.actor_opt.apply_gradients(zip(ga, self.actor.trainable_variables, strict=True))
        self.critic_opt.apply_gradients(zip(gc, self.critic.trainable_variables, strict=True))
        tau = self.cfg.tau
        for t, s in zip(self.target_actor.variables, self.actor.variables, strict=True):
            t.assign((1.0 - tau) * t + tau * s)
        for t, s in zip(self.target_critic.variables, self.critic.variables, strict=True):
            t.assign((1.0 - tau) * t + tau * s)
        self.train_steps.assign_add(1)

    # ------------------------------------------------------------------ compiled entry points
    def _train_many(self, batches: Batch) -> Losses:
        """K gradient steps on batches [K, B, ...] in one call; returns the mean losses."""
        k = tf.shape(batches.obs0)[0]

        def step(i, al, cl):
            losses, ga, gc = self._losses_and_grads(Batch(*[x[i] for x in batches]))
            self._apply(ga, gc)
            return i + 1, al + losses.actor, cl + losses.critic

        # (an explicit loop, without autograph's 3 s of conversion; XLA's float rounding depends on the loop
        # variables' order, kept as the autograph loop had them)
        _, al, cl = tf.while_loop(lambda i, al, cl: i < k, step, (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
        kf = tf.cast(k, tf.float32)
        return Losses(cl / kf, al / kf)

    def _actions_of(self, obs):  # [B, O] -> [B, A], deterministic
        return self.actor(self.norm_obs(obs))

    def _q_values(self, obs, actions):  # [B, O], [B, A] -> [B]
        return self._denorm_ret(self.critic(self.norm_obs(obs), actions))[:, 0]

    def _actor_q(self, obs):  # [B, O] -> [B]: Q(s, mu(s)) of the clean actor, one call
        return self._q_values(obs, self._actions_of(obs))

    # ------------------------------------------------------------------ eager wrappers (numpy in, numpy out)
    def state_variables(self) -> list[tf.Variable]:
        """Every TF variable a resumed run needs (networks, targets, parameter noise, Adam slots, counters)."""
        out = list(self.actor.variables) + list(self.critic.variables)
        out += list(self.target_actor.variables) + list(self.target_critic.variables)
        if self.param_noise is not None:
            out += self.param_noise.state_variables()
        out += list(self.actor_opt.variables) + list(self.critic_opt.variables) + [self.train_steps]
        return out

    def get_state(self) -> dict:
        """The learner's state for the checkpoint: every state variable's value and the normalisers' sums."""
        return {"vars": [v.numpy() for v in self.state_variables()],
                "obs_rms": self.obs_rms.get_state() if self.obs_rms is not None else None,
                "ret_rms": self.ret_rms.get_state() if self.ret_rms is not None else None}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave (refusing another configuration's arrays)."""
        assign_all(self.state_variables(), st["vars"])
        if self.obs_rms is not None:
            self.obs_rms.set_state(st["obs_rms"])
        if self.ret_rms is not None:
            self.ret_rms.set_state(st["ret_rms"])

    def sync_variables(self) -> list[tf.Variable]:
        """Everything that must be identical on all ranks."""
        out = list(self.actor.variables) + list(self.critic.variables)
        out += list(self.target_actor.variables) + list(self.target_critic.variables)
        if self.param_noise is not None:
            out.append(self.param_noise.stddev)
        return out


class UnionSteps:
    """A DDPGLearner's MPI batch-exchange path (`--mpi_exchange batches`): the fused steps on the union of every
    rank's minibatches, gathered once per group of steps. It owns no variables: it steps the learner's."""

    def __init__(self, learner: DDPGLearner):
        self.learner = learner
        union = [tf.TensorSpec([None, None] + list(x.shape)) for x in learner.batch_spec]
        self.train_union = tf.function(self._train_union, autograph=False, input_signature=[Batch(*union)], jit_compile=True)

    def _train_union(self, batches: Batch) -> Losses:
        """K gradient steps, each on the union of N ranks' batches [K, N, B, ...] (all ranks run this same call).

        Baselines averages the N ranks' gradients of their mean losses over equal-size batches: that is the gradient of
        the mean loss over the union of the batches (the L2 term is the same on every rank, added once), so one pass
        over the N*B rows gives it. With clip_norm baselines clips each rank's gradient before averaging, which the
        union's gradient cannot express: then each rank's slice gets its own gradient, clipped, and the N are
        averaged (sum, then divide by N, as the Allreduce path). Returns the mean losses (= the mean over ranks)."""
        L = self.learner
        if L.cfg.clip_norm is None:
            return L._train_many(Batch(*[tf.reshape(x, [tf.shape(x)[0], -1, x.shape[-1]]) for x in batches]))
        k, n = tf.shape(batches.obs0)[0], tf.shape(batches.obs0)[1]
        nf = tf.cast(n, tf.float32)

        def step(i, al, cl):
            def rank(r, ga_sum, gc_sum, al, cl):
                losses, ga, gc = L._losses_and_grads(Batch(*[x[i, r] for x in batches]))
                return (r + 1, [s + g for s, g in zip(ga_sum, ga, strict=True)],
                        [s + g for s, g in zip(gc_sum, gc, strict=True)], al + losses.actor / nf, cl + losses.critic / nf)

            zeros = ([tf.zeros_like(v) for v in L.actor.trainable_variables],
                     [tf.zeros_like(v) for v in L.critic.trainable_variables])
            _, ga_sum, gc_sum, al, cl = tf.while_loop(lambda r, *_: r < n, rank, (tf.constant(0), *zeros, al, cl))
            L._apply([g / nf for g in ga_sum], [g / nf for g in gc_sum])
            return i + 1, al, cl

        _, al, cl = tf.while_loop(lambda i, al, cl: i < k, step, (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
        kf = tf.cast(k, tf.float32)
        return Losses(cl / kf, al / kf)


def update_return_stats(learner: "DDPGLearner", batch: Batch) -> None:
    """PopArt (baselines): update the return statistics on the batch's targets, then rescale the critics' output
    layers so their denormalised outputs are preserved. Baselines updates the statistics only in its PopArt
    branch, so --normalize_returns without --popart normalises by the initial statistics (mean 0, std 1)
    forever: a no-op that we reproduce."""
    if learner.ret_rms is None or not learner.cfg.popart:
        return
    old_mean, old_std = learner.ret_rms.mean.numpy(), learner.ret_rms.std.numpy()
    learner.ret_rms.update(learner.target_q(batch).numpy().reshape(-1, 1))
    if learner.cfg.popart:
        new_mean, new_std = learner.ret_rms.mean.numpy(), learner.ret_rms.std.numpy()
        for c in (learner.critic, learner.target_critic):
            c.out.kernel.assign(c.out.kernel * old_std / new_std)
            c.out.bias.assign((c.out.bias * old_std + old_mean - new_mean) / new_std)


class GradSteps:
    """A DDPGLearner's per-step gradient-exchange path (`--mpi_exchange grads`, and PopArt, which rescales the
    critics between steps): compiled losses and flat gradients, then their Adam application, averaged over MPI
    ranks in numpy between the two (baselines' MpiAdam). It owns no variables: it steps the learner's."""

    def __init__(self, learner: DDPGLearner):
        self.learner = learner
        one = learner.batch_spec
        n_a, n_c = flat_size(learner._a_shapes), flat_size(learner._c_shapes)
        self.n_actor_params, self.n_critic_params = n_a, n_c
        flat = [tf.TensorSpec([n_a]), tf.TensorSpec([n_c])]
        self.compute_grads = tf.function(self._compute_grads, autograph=False, input_signature=[one])
        self.apply_grads = tf.function(self._apply_grads, autograph=False, input_signature=flat)
        self.apply_then_grads = tf.function(self._apply_then_grads, autograph=False, input_signature=flat + [one])

    def _compute_grads(self, batch: Batch):
        losses, ga, gc = self.learner._losses_and_grads(batch)
        return losses, flatten(ga), flatten(gc)

    def _apply_grads(self, ga_flat, gc_flat):
        self.learner._apply(unflatten(ga_flat, self.learner._a_shapes), unflatten(gc_flat, self.learner._c_shapes))
        return self.learner.train_steps

    def _apply_then_grads(self, ga_flat, gc_flat, batch: Batch):
        """Apply step k's averaged gradients, then take step k+1's gradients: one call per step under MPI
        (a TF call costs ~0.4 ms here, more than a whole gradient step), the same arithmetic as two calls."""
        self._apply_grads(ga_flat, gc_flat)
        return self._compute_grads(batch)

    def train_step_mpi(self, batch: Batch) -> Losses:
        """One step with gradients averaged over ranks (also correct for a single rank)."""
        losses, ga, gc = self.compute_grads(batch)
        ga, gc = self.average_grads(ga, gc)
        self.apply_grads(ga, gc)
        return losses

    def train_steps_mpi(self, batches: list[Batch]) -> list[Losses]:
        """len(batches) steps with gradients averaged over ranks, in len(batches) + 1 compiled calls."""
        out = []
        losses, ga, gc = self.compute_grads(batches[0])
        out.append(losses)
        for b in batches[1:]:
            losses, ga, gc = self.apply_then_grads(*self.average_grads(ga, gc), b)
            out.append(losses)
        self.apply_grads(*self.average_grads(ga, gc))
        return out

    def average_grads(self, ga: tf.Tensor, gc: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """One Allreduce of actor and critic gradients together."""
        g = mpi.allreduce_mean(np.concatenate([ga.numpy(), gc.numpy()]))
        return g[: self.n_actor_params], g[self.n_actor_params :]
