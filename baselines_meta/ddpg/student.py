"""The DDPG student's update and statistics, used by both algorithms (meta's student is a DDPG learner): sampling and
fused or MPI-combined gradient steps, storing rollouts, Q of the clean actor, baselines' fixed reference batch."""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from baselines_meta.common.replay import Batch, ReplayBuffer
from baselines_meta.common.trainer import Trainer
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.runtime.envs import Rollout
from baselines_meta.runtime.loop import TrainResult


class StudentTrainer:
    """The student's update: minibatches sampled from the replay buffer, parameter-noise adaptation between chunks of
    param_noise_adaption_interval steps, and the steps themselves through common.trainer.Trainer (fused for one
    worker; under MPI the exchange baselines_meta.common.exchange picks; PopArt one step at a time). Each rank samples
    from its own buffer with its own RNG in every case, so the paths draw the same minibatches."""

    def __init__(self, learner: DDPGLearner, rng: np.random.Generator, exchange: str = "batches"):
        self.learner = learner
        self.rng = rng
        self.steps = Trainer(learner, exchange)

    def train(self, buffer: ReplayBuffer, n_steps: int) -> list[TrainResult]:
        """n_steps gradient steps on minibatches of buffer, in chunks of param_noise_adaption_interval; one TrainResult per call or step."""
        L, cfg = self.learner, self.learner.cfg
        bs = cfg.batch_size
        out = []
        interval = max(1, cfg.param_noise_adaption_interval)
        for start in range(0, n_steps, interval):
            k = min(interval, n_steps - start)
            dist = None
            if L.param_noise is not None and len(buffer) >= bs:
                dist = L.param_noise.adapt(buffer.sample(self.rng, bs).obs0)
            if self.steps.one_at_a_time:  # PopArt: each minibatch drawn when its step comes (the statistics move)
                means = [self.steps.step_one(buffer.sample(self.rng, bs)) for _ in range(k)]
            else:
                means = self.steps.run(buffer.sample(self.rng, bs, k), k)
            for losses in means:
                out.append(TrainResult(losses.critic, losses.actor, dist))
                dist = None
        return out


def store(buffer: ReplayBuffer, ro: Rollout, reward_scale: float) -> None:
    """Add a rollout's transitions to the replay buffer, rewards multiplied by reward_scale."""
    buffer.add_many(ro.obs0, ro.actions, ro.rewards * reward_scale, ro.obs1, ro.terminated, ro.truncated)


ACTIVE_RANGE = 1e-6  # a unit is active on the reference batch when its output's max - min there exceeds this


class ReferenceStats:
    """baselines' `get_stats`: the networks on one replay batch drawn at the first epoch's end and kept fixed for the
    whole run, so the reference_* curves compare the same inputs over time. Also what tells a collapsed critic from a
    correctly flat one (reference_Q_std cannot): critic/kernel_norm_<layer>, each kernel's L2 norm, and
    critic/active_frac, the fraction of the critic's last hidden layer's units that are active on the reference batch
    (their output varies over it by more than ACTIVE_RANGE: a dead ReLU is 0 on every row, a unit whose kernels
    shrank away is the same on every row; either carries nothing of (s, a))."""

    def __init__(self, learner: DDPGLearner, policy: DDPGPolicy, rng: np.random.Generator):
        self.learner, self.policy, self.rng = learner, policy, rng
        self.batch: Optional[Batch] = None
        L = learner
        self.features = tf.function(lambda o, a: L.critic.trunk(L.norm_obs(o), extra=a), autograph=False,
                                    input_signature=[tf.TensorSpec([None, L.obs_dim]), tf.TensorSpec([None, L.act_dim])])

    def critic_health(self) -> dict:
        """critic/kernel_norm_<i> (hidden layers 0, 1, ..., then 'out') and critic/active_frac on the reference batch."""
        c = self.learner.critic
        d = {f"critic/kernel_norm_{i}": float(np.linalg.norm(k.kernel.numpy())) for i, k in enumerate(c.trunk.denses)}
        d["critic/kernel_norm_out"] = float(np.linalg.norm(c.out.kernel.numpy()))
        h = self.features(self.batch.obs0, self.batch.actions).numpy()  # [B, H]
        d["critic/active_frac"] = float(np.mean(h.max(axis=0) - h.min(axis=0) > ACTIVE_RANGE))
        return d

    def __call__(self, buffer: ReplayBuffer) -> dict:
        """Normaliser means / stds, reference_* statistics on the fixed batch (drawn at the first call with data) and param-noise stddev."""
        L = self.learner
        d = {}
        if L.ret_rms is not None:
            d["ret_rms_mean"] = float(np.mean(L.ret_rms.mean.numpy()))
            d["ret_rms_std"] = float(np.mean(L.ret_rms.std.numpy()))
        if L.obs_rms is not None:
            d["obs_rms_mean"] = float(np.mean(L.obs_rms.mean.numpy()))
            d["obs_rms_std"] = float(np.mean(L.obs_rms.std.numpy()))
        if self.batch is None and len(buffer) > 0:
            self.batch = buffer.sample(self.rng, L.cfg.batch_size)
        if self.batch is not None:
            b = self.batch
            q = L.q_values(b.obs0, b.actions).numpy()
            a = L.actions_of(b.obs0).numpy()
            qa = L.q_values(b.obs0, a).numpy()
            d.update(self.critic_health())
            d.update({
                "reference_Q_mean": float(q.mean()), "reference_Q_std": float(q.std()),
                "reference_actor_Q_mean": float(qa.mean()), "reference_actor_Q_std": float(qa.std()),
                "reference_action_mean": float(a.mean()), "reference_action_std": float(a.std()),
            })
            if L.param_noise is not None:
                pa = self.policy.perturbed_actions(b.obs0)
                d["reference_perturbed_action_mean"] = float(pa.mean())
                d["reference_perturbed_action_std"] = float(pa.std())
        if L.param_noise is not None:
            d["param_noise_stddev"] = float(L.param_noise.stddev.numpy())
        return d

    def get_state(self) -> dict:
        """The fixed reference batch, for the checkpoint."""
        return {"batch": self.batch}

    def set_state(self, st: dict) -> None:
        """Restore the reference batch `get_state` gave."""
        self.batch = st["batch"]


def actor_q(learner: DDPGLearner, obs: np.ndarray) -> np.ndarray:
    """Q(s, mu(s)) of the clean actor, [N]: baselines' rollout/Q_mean and eval/Q (`critic_with_actor_tf`)."""
    return learner.actor_q(obs).numpy()
