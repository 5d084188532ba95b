"""The DDPG student's update and statistics, used by both algorithms (meta's student is a DDPG learner): sampling and
fused or MPI-combined gradient steps, storing rollouts, Q of the clean actor, baselines' fixed reference batch."""
from __future__ import annotations

from typing import Optional

import numpy as np

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


class ReferenceStats:
    """baselines' `get_stats`: the networks on one replay batch drawn at the first epoch's end and kept fixed for the
    whole run, so the reference_* curves compare the same inputs over time."""

    def __init__(self, learner: DDPGLearner, policy: DDPGPolicy, rng: np.random.Generator):
        self.learner, self.policy, self.rng = learner, policy, rng
        self.batch: Optional[Batch] = None

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
