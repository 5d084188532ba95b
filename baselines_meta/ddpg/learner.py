"""DDPG learner: owns the networks, targets, optimizers, normalisers, noise state and counters, and is the math of
one update: `losses_and_grads` (batch -> losses -> gradients), `apply_gradients` (Adam, then the targets move by tau),
and their union over MPI ranks. common.trainer.Trainer steps it (fused XLA steps, either MPI exchange, PopArt's one
step at a time through `before_step`).

Compiled evaluations (each traced once, fixed input_signature): actor_q(obs), Q(s, mu(s)) of the clean actor
(rollout/Q_mean, eval/Q); q_values, actions_of, target_q for statistics, PopArt and tests.
Acting in the env loop goes through ddpg.policy.DDPGPolicy, a numpy snapshot of these networks (the Keras networks
are its test reference); parameter noise is in param_noise.
Math follows baselines `ddpg/ddpg.py` (pre-refactor): actor and critic gradients are both taken at the
pre-update parameters, then both applied, then the targets move by tau.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

from baselines_meta.common.networks import Actor, Critic
from baselines_meta.common.normalizer import RunningMeanStd, normalize
from baselines_meta.common.replay import Batch
from baselines_meta.common.tf_util import assign_all, copy_variables, make_adam
from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.noise import parse_noise_type
from baselines_meta.ddpg.param_noise import ParamNoise
from baselines_meta.resolve import completed


class Losses(NamedTuple):
    """The actor's and the critic's loss of one step (or their means over a trainer's call). The order is the fused
    loop's: XLA rounds the parameters of a loop carrying (actor, critic) exactly as before the trainer was shared."""
    actor: tf.Tensor  # scalar
    critic: tf.Tensor  # scalar


def _norm_ret(rms, x):
    return x if rms is None else (x - rms.mean) / rms.std


def _denorm_ret(rms, x):
    return x if rms is None else x * rms.std + rms.mean


def _clip_ret(c: float, x):
    return x if math.isinf(c) else tf.clip_by_value(x, -c, c)


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

        O, A = obs_dim, act_dim
        one = [tf.TensorSpec([None, O]), tf.TensorSpec([None, A]), tf.TensorSpec([None, 1]), tf.TensorSpec([None, O]), tf.TensorSpec([None, 1])]
        self.step_spec = Batch(*one)  # one rank's minibatch of one step (common.trainer's protocol)
        # PopArt rescales the critics between steps: the trainer then takes one step at a time
        self.before_step = (lambda batch: popart_step(self, batch)) if cfg.popart else None
        self.q_values = tf.function(self._q_values, autograph=False, input_signature=[tf.TensorSpec([None, O]), tf.TensorSpec([None, A])])
        self.target_q = tf.function(self._target_q, autograph=False, input_signature=[Batch(*one)])
        self.actions_of = tf.function(self._actions_of, autograph=False, input_signature=[tf.TensorSpec([None, O])])
        self.actor_q = tf.function(self._actor_q, autograph=False, input_signature=[tf.TensorSpec([None, O])])

    # ------------------------------------------------------------------ helpers (graph code)
    def norm_obs(self, obs):
        """Normalise and clip observations [B, O] with the observation statistics (clip only when normalisation is off)."""
        return normalize(obs, self.obs_rms, self.cfg.obs_clip)

    def _target_q(self, batch: Batch):  # [B, 1]
        o1 = self.norm_obs(batch.obs1)
        q1 = _denorm_ret(self.ret_rms, _clip_ret(self.cfg.return_clip, self.target_critic(o1, self.target_actor(o1))))
        return batch.rewards + (1.0 - batch.terminals) * self.cfg.gamma * q1

    def critic_target(self, batch: Batch):  # [B, 1]
        """y = r + gamma (1 - d) Q'(s', mu'(s')), normalised and clipped as the critic's loss takes it; no gradient."""
        return tf.stop_gradient(_clip_ret(self.cfg.return_clip, _norm_ret(self.ret_rms, self._target_q(batch))))

    def critic_output(self, obs, actions):  # [B, O], [B, A] -> [B, 1]
        """The critic on (s, a), in the space of critic_target (normalised returns under --normalize_returns)."""
        return self.critic(self.norm_obs(obs), actions)

    # ------------------------------------------------------------------ the math of one update (graph code)
    Losses = Losses

    def trained_variables(self) -> list[tf.Variable]:
        """The actor's then the critic's trainable variables: the order of the gradient lists."""
        return list(self.actor.trainable_variables) + list(self.critic.trainable_variables)

    def losses_and_grads(self, batch: Batch) -> tuple[Losses, list]:
        """Baselines' losses on one minibatch [B, ...] and their gradients (actor's, then critic's), both at the
        current parameters: y = r + gamma (1 - d) Q'(s', mu'(s')); critic: mean (y - Q(s, a))^2 + L2; actor:
        -mean Q(s, mu(s))."""
        cfg = self.cfg
        o0 = self.norm_obs(batch.obs0)
        y = self.critic_target(batch)
        with tf.GradientTape() as ta:
            q_pi = _denorm_ret(self.ret_rms, _clip_ret(self.cfg.return_clip, self.critic(o0, self.actor(o0))))
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
        return Losses(actor_loss, critic_loss), list(ga) + list(gc)

    def union_losses_and_grads(self, batches: Batch) -> tuple[Losses, list]:
        """The same on every rank's minibatch [N, B, ...]: the mean over ranks of their losses and gradients. Baselines
        averages the ranks' gradients of their mean losses over equal-size batches, which is the gradient of the mean
        loss over the union (the L2 term, the same on every rank, once): one pass over the N*B rows. With clip_norm
        each rank clips its own gradient first, which the union cannot express: mean_of_ranks."""
        if self.cfg.clip_norm is None:
            return self.losses_and_grads(Batch(*[tf.reshape(x, [-1, x.shape[-1]]) for x in batches]))
        return mean_of_ranks(self, batches)

    def apply_gradients(self, grads: list) -> None:
        """Adam on the actor and the critic, then the targets move by tau; counts the step."""
        na = len(self.actor.trainable_variables)
        self.actor_opt.apply_gradients(zip(grads[:na], self.actor.trainable_variables, strict=True))
        self.critic_opt.apply_gradients(zip(grads[na:], self.critic.trainable_variables, strict=True))
        tau = self.cfg.tau
        for t, s in zip(self.target_actor.variables, self.actor.variables, strict=True):
            t.assign((1.0 - tau) * t + tau * s)
        for t, s in zip(self.target_critic.variables, self.critic.variables, strict=True):
            t.assign((1.0 - tau) * t + tau * s)
        self.train_steps.assign_add(1)

    # ------------------------------------------------------------------ compiled evaluations
    def _actions_of(self, obs):  # [B, O] -> [B, A], deterministic
        return self.actor(self.norm_obs(obs))

    def _q_values(self, obs, actions):  # [B, O], [B, A] -> [B]
        return _denorm_ret(self.ret_rms, self.critic(self.norm_obs(obs), actions))[:, 0]

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


def mean_of_ranks(learner: DDPGLearner, batches: Batch) -> tuple[Losses, list]:
    """The mean over ranks of each rank's own losses and gradients, batches [N, B, ...] (graph code): baselines' MPI
    average with --clip_norm, where each rank clips its gradient before the average (sum, then divide by N, as the
    Allreduce path)."""
    n = tf.shape(batches.obs0)[0]
    nf = tf.cast(n, tf.float32)

    def rank(r, g_sum, cl, al):
        losses, g = learner.losses_and_grads(Batch(*[x[r] for x in batches]))
        return r + 1, [s + x for s, x in zip(g_sum, g, strict=True)], cl + losses.critic / nf, al + losses.actor / nf

    zeros = [tf.zeros_like(v) for v in learner.trained_variables()]
    _, g_sum, cl, al = tf.while_loop(lambda r, *_: r < n, rank, (tf.constant(0), zeros, tf.constant(0.0), tf.constant(0.0)))
    return Losses(al, cl), [g / nf for g in g_sum]


def popart_step(learner: DDPGLearner, batch: Batch) -> None:
    """PopArt (baselines), before each step: update the return statistics on the batch's targets, then rescale the
    critics' output layers so their denormalised outputs are preserved. Baselines updates the statistics only in its
    PopArt branch, so --normalize_returns without --popart normalises by the initial statistics (mean 0, std 1)
    forever: a no-op that we reproduce (no before_step then)."""
    rms = learner.ret_rms
    old_mean, old_std = rms.mean.numpy(), rms.std.numpy()
    rms.update(learner.target_q(batch).numpy().reshape(-1, 1))
    new_mean, new_std = rms.mean.numpy(), rms.std.numpy()
    for c in (learner.critic, learner.target_critic):
        c.out.kernel.assign(c.out.kernel * old_std / new_std)
        c.out.bias.assign((c.out.bias * old_std + old_mean - new_mean) / new_std)
