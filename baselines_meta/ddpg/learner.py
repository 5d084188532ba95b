"""DDPG learner: owns the networks, targets, optimizers, normalisers, noise state and counters.

Compiled entry points (each traced once, fixed input_signature):
  train(batches)         K fused gradient steps, single worker: batch -> losses -> grads -> apply -> target update
  train_union(batches)   K fused gradient steps on the union of N ranks' batches [K, N, B, ...] (MPI batch exchange)
  compute_grads(batch)   MPI gradient-exchange path, first half: losses and flat gradients (averaged over ranks in numpy)
  apply_grads(ga, gc)    its second half: Adam updates and the soft target update
  act_greedy(obs)        deterministic actor for one observation (the plain acting path; see ddpg.policy)
  act_perturbed(obs)     the parameter-noise rollout actor for one observation (plain path)
  perturb_rollout_actor  fresh parameter-noise perturbation of the rollout actor
Acting in the env loop goes through ddpg.policy.DDPGPolicy, a numpy snapshot of these networks.
Math follows baselines `ddpg/ddpg.py` (pre-refactor): actor and critic gradients are both taken at the
pre-update parameters, then both applied, then the targets move by tau.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tf_keras

from baselines_meta import mpi
from baselines_meta.config import DDPGConfig
from baselines_meta.networks import Actor, Critic
from baselines_meta.noise import ParamNoise, parse_noise_type
from baselines_meta.normalizer import RunningMeanStd, normalize
from baselines_meta.replay import Batch


class Losses(NamedTuple):
    critic: tf.Tensor  # scalar, mean over the fused steps
    actor: tf.Tensor  # scalar


def copy_variables(src: list[tf.Variable], dst: list[tf.Variable]) -> None:
    for s, d in zip(src, dst, strict=True):
        d.assign(s)


def assign_all(variables: list[tf.Variable], values: list[np.ndarray]) -> None:
    """Restore saved values, refusing any count or shape mismatch (a checkpoint of another configuration)."""
    if len(variables) != len(values):
        raise ValueError(f"checkpoint holds {len(values)} arrays where this configuration has {len(variables)} variables")
    for v, x in zip(variables, values, strict=True):
        if tuple(v.shape) != tuple(np.shape(x)):
            raise ValueError(f"checkpoint shape {np.shape(x)} does not match variable {v.name} {tuple(v.shape)}")
        v.assign(x)


def make_adam(lr: float) -> tf_keras.optimizers.Adam:
    return tf_keras.optimizers.Adam(learning_rate=lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


class DDPGLearner(tf.Module):
    def __init__(self, obs_dim: int, act_dim: int, cfg: DDPGConfig, jit_compile: bool = True, seed: int = 0):
        """jit_compile: XLA-compile the fused multi-step train call (2.5x faster on CPU for 64-64 nets).
        seed: of the learner's own tf.random.Generator (parameter noise), whose state is checkpointed."""
        super().__init__(name="ddpg")
        self.cfg = cfg
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
        if cfg.popart and not cfg.normalize_returns:
            raise ValueError("popart requires normalize_returns")

        self.actor_opt = make_adam(cfg.actor_lr)
        self.critic_opt = make_adam(cfg.critic_lr)
        self.actor_opt.build(self.actor.trainable_variables)
        self.critic_opt.build(self.critic.trainable_variables)

        self.noise_specs = parse_noise_type(cfg.noise_type)
        specs = self.noise_specs
        self.param_noise = ParamNoise(specs.param) if specs.param else None
        if self.param_noise is not None:
            # The rollout actor (re-perturbed at each episode start) and a scratch copy for measuring distance.
            self.perturbed_actor = Actor(obs_dim, act_dim, net, name="perturbed_actor")
            self.adaptive_actor = Actor(obs_dim, act_dim, net, name="adaptive_actor")

        self.train_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_steps")
        self.tf_rng = tf.random.Generator.from_seed(seed)
        self._a_shapes = [tuple(v.shape) for v in self.actor.trainable_variables]
        self._c_shapes = [tuple(v.shape) for v in self.critic.trainable_variables]

        O, A = obs_dim, act_dim
        one = [tf.TensorSpec([None, O]), tf.TensorSpec([None, A]), tf.TensorSpec([None, 1]), tf.TensorSpec([None, O]), tf.TensorSpec([None, 1])]
        many = [tf.TensorSpec([None] + list(s.shape)) for s in one]
        self.train = tf.function(self._train_many, input_signature=[Batch(*many)], jit_compile=jit_compile)
        union = [tf.TensorSpec([None, None] + list(s.shape)) for s in one]
        self.train_union = tf.function(self._train_union, input_signature=[Batch(*union)], jit_compile=jit_compile)
        self.compute_grads = tf.function(self._compute_grads, input_signature=[Batch(*one)])
        n_a = sum(int(np.prod(s)) for s in self._a_shapes)
        n_c = sum(int(np.prod(s)) for s in self._c_shapes)
        self.apply_grads = tf.function(self._apply_grads, input_signature=[tf.TensorSpec([n_a]), tf.TensorSpec([n_c])])
        self.apply_then_grads = tf.function(self._apply_then_grads, input_signature=[tf.TensorSpec([n_a]), tf.TensorSpec([n_c]), Batch(*one)])
        self.n_actor_params, self.n_critic_params = n_a, n_c
        self.act_greedy = tf.function(self._act_greedy, input_signature=[tf.TensorSpec([O])])
        self.act_perturbed = tf.function(self._act_perturbed, input_signature=[tf.TensorSpec([O])])
        self.q_values = tf.function(self._q_values, input_signature=[tf.TensorSpec([None, O]), tf.TensorSpec([None, A])])
        self.target_q = tf.function(self._target_q, input_signature=[Batch(*one)])
        self.perturb_rollout_actor = tf.function(self._perturb_rollout_actor, input_signature=[])
        self.param_noise_distance = tf.function(self._param_noise_distance, input_signature=[tf.TensorSpec([None, O])])
        self.actions_of = tf.function(self._actions_of, input_signature=[tf.TensorSpec([None, O])])
        if self.param_noise is not None:
            self.perturb_rollout_actor()

    # ------------------------------------------------------------------ helpers (graph code)
    def norm_obs(self, obs):
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
        cl, al = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(k):
            losses, ga, gc = self._losses_and_grads(Batch(*[x[i] for x in batches]))
            self._apply(ga, gc)
            cl += losses.critic
            al += losses.actor
        kf = tf.cast(k, tf.float32)
        return Losses(cl / kf, al / kf)

    def _train_union(self, batches: Batch) -> Losses:
        """K gradient steps, each on the union of N ranks' batches [K, N, B, ...] (all ranks run this same call).

        Baselines averages the N ranks' gradients of their mean losses over equal-size batches: that is the gradient of
        the mean loss over the union of the batches (the L2 term is the same on every rank, added once), so one pass
        over the N*B rows gives it. With clip_norm baselines clips each rank's gradient before averaging, which the
        union's gradient cannot express: then each rank's slice gets its own gradient, clipped, and the N are
        averaged (sum, then divide by N, as the Allreduce path). Returns the mean losses (= the mean over ranks)."""
        if self.cfg.clip_norm is None:
            return self._train_many(Batch(*[tf.reshape(x, [tf.shape(x)[0], -1, x.shape[-1]]) for x in batches]))
        k, n = tf.shape(batches.obs0)[0], tf.shape(batches.obs0)[1]
        nf = tf.cast(n, tf.float32)
        cl, al = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(k):
            ga_sum = [tf.zeros_like(v) for v in self.actor.trainable_variables]
            gc_sum = [tf.zeros_like(v) for v in self.critic.trainable_variables]
            for r in tf.range(n):
                losses, ga, gc = self._losses_and_grads(Batch(*[x[i, r] for x in batches]))
                ga_sum = [s + g for s, g in zip(ga_sum, ga, strict=True)]
                gc_sum = [s + g for s, g in zip(gc_sum, gc, strict=True)]
                cl += losses.critic / nf
                al += losses.actor / nf
            self._apply([g / nf for g in ga_sum], [g / nf for g in gc_sum])
        kf = tf.cast(k, tf.float32)
        return Losses(cl / kf, al / kf)

    def _compute_grads(self, batch: Batch):
        losses, ga, gc = self._losses_and_grads(batch)
        flat = lambda gs: tf.concat([tf.reshape(g, [-1]) for g in gs], 0)  # noqa: E731
        return losses, flat(ga), flat(gc)

    def _unflat(self, vec, shapes):
        out, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(tf.reshape(vec[i : i + n], s))
            i += n
        return out

    def _apply_grads(self, ga_flat, gc_flat):
        self._apply(self._unflat(ga_flat, self._a_shapes), self._unflat(gc_flat, self._c_shapes))
        return self.train_steps

    def _apply_then_grads(self, ga_flat, gc_flat, batch: Batch):
        """Apply step k's averaged gradients, then take step k+1's gradients: one call per step under MPI
        (a TF call costs ~0.4 ms here, more than a whole gradient step), the same arithmetic as two calls."""
        self._apply_grads(ga_flat, gc_flat)
        return self._compute_grads(batch)

    def _actions_of(self, obs):  # [B, O] -> [B, A], deterministic
        return self.actor(self.norm_obs(obs))

    def _act_greedy(self, obs):  # [O] -> [A]
        return self.actor(self.norm_obs(obs[None]))[0]

    def _act_perturbed(self, obs):  # [O] -> [A], the parameter-noise rollout actor
        return self.perturbed_actor(self.norm_obs(obs[None]))[0]

    def _q_values(self, obs, actions):  # [B, O], [B, A] -> [B]
        return self._denorm_ret(self.critic(self.norm_obs(obs), actions))[:, 0]

    def _perturb_into(self, dst: Actor):
        """dst <- actor + N(0, stddev^2) on every weight but LayerNorm's (baselines `get_perturbed_actor_updates`)."""
        pert = {id(v) for v in self.actor.perturbable_variables()}
        for s, d in zip(self.actor.variables, dst.variables, strict=True):
            if id(s) in pert:
                d.assign(s + self.tf_rng.normal(tf.shape(s)) * self.param_noise.stddev)
            else:
                d.assign(s)

    def _perturb_rollout_actor(self):
        if self.param_noise is not None:
            self._perturb_into(self.perturbed_actor)
        return tf.constant(0)

    def _param_noise_distance(self, obs0):  # [B, O] -> scalar: RMS distance of actions, fresh perturbation
        if self.param_noise is None:
            return tf.constant(0.0)
        self._perturb_into(self.adaptive_actor)
        o = self.norm_obs(obs0)
        return tf.sqrt(tf.reduce_mean(tf.square(self.actor(o) - self.adaptive_actor(o))))

    # ------------------------------------------------------------------ eager wrappers (numpy in, numpy out)
    def adapt_param_noise(self, obs0: np.ndarray) -> float:
        """Measure the perturbation's action distance on a batch, average over ranks, adapt the stddev."""
        if self.param_noise is None:
            return float("nan")
        d = float(mpi.allreduce_mean(np.array([self.param_noise_distance(obs0).numpy()], np.float32))[0])
        self.param_noise.adapt(d)
        return d

    def update_return_stats(self, batch: Batch) -> None:
        """PopArt (baselines): update the return statistics on the batch's targets, then rescale the critics' output
        layers so their denormalised outputs are preserved. Baselines updates the statistics only in its PopArt
        branch, so --normalize_returns without --popart normalises by the initial statistics (mean 0, std 1)
        forever: a no-op that we reproduce."""
        if self.ret_rms is None or not self.cfg.popart:
            return
        old_mean, old_std = self.ret_rms.mean.numpy(), self.ret_rms.std.numpy()
        self.ret_rms.update(self.target_q(batch).numpy().reshape(-1, 1))
        if self.cfg.popart:
            new_mean, new_std = self.ret_rms.mean.numpy(), self.ret_rms.std.numpy()
            for c in (self.critic, self.target_critic):
                c.out.kernel.assign(c.out.kernel * old_std / new_std)
                c.out.bias.assign((c.out.bias * old_std + old_mean - new_mean) / new_std)

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

    def state_variables(self) -> list[tf.Variable]:
        """Every TF variable a resumed run needs (networks, targets, perturbed copies, Adam slots, counters, RNG)."""
        out = list(self.actor.variables) + list(self.critic.variables)
        out += list(self.target_actor.variables) + list(self.target_critic.variables)
        if self.param_noise is not None:
            out += list(self.perturbed_actor.variables) + list(self.adaptive_actor.variables) + [self.param_noise.stddev]
        out += list(self.actor_opt.variables) + list(self.critic_opt.variables) + [self.train_steps, self.tf_rng.state]
        return out

    def get_state(self) -> dict:
        return {"vars": [v.numpy() for v in self.state_variables()],
                "obs_rms": self.obs_rms.get_state() if self.obs_rms is not None else None,
                "ret_rms": self.ret_rms.get_state() if self.ret_rms is not None else None}

    def set_state(self, st: dict) -> None:
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
