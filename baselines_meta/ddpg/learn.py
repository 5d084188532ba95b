"""DDPG as baselines runs it, plugged into the shared loop: each cycle `nb_rollout_steps` env steps of the noisy
actor, then `nb_train_steps` gradient steps on minibatches of the replay buffer."""
from __future__ import annotations

from typing import Callable

import numpy as np

from baselines_meta.common import exchange, mpi
from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.config import RunConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.ddpg.student import ReferenceStats, StudentTrainer, actor_q, store
from baselines_meta.runtime import loop as shared
from baselines_meta.runtime.context import RunContext
from baselines_meta.runtime.envs import EnvFactory
from baselines_meta.runtime.loop import RunOutcome
from baselines_meta.runtime.seeds import Seeds
from baselines_meta.runtime.tasks import watchers_for


class DDPG:
    """baselines' cycle: explore with the (perturbed) actor plus action noise, store, normalise, train."""

    def __init__(self, cfg: RunConfig, seeds: Seeds, envs: EnvFactory, logger, track_replay: Callable[[ReplayBuffer], None]):
        """envs: the run's env factory; track_replay: checkpoints the replay buffer with the run (restoring it on
        resume)."""
        dc = cfg.ddpg
        self.sch, self.dc = cfg.schedule, dc
        self.runner = envs.runner("train", record="explore")
        O, A = self.runner.obs_dim, self.runner.act_dim
        self.learner = DDPGLearner(O, A, dc, seed=seeds.env_seed("noise"))
        mpi.sync_from_root(self.learner.sync_variables())
        self.policy = DDPGPolicy(self.learner, seeds.noise)
        self.buffer = ReplayBuffer(dc.buffer_size, O, A, dc.truncation_as_terminal)
        choice = exchange.choose_for(cfg, self.learner)
        if mpi.size() > 1:
            logger.info(exchange.describe(choice))
        self.trainer = StudentTrainer(self.learner, seeds.replay, exchange=choice.path)
        track_replay(self.buffer)
        self.ref_stats = ReferenceStats(self.learner, self.policy, seeds.replay)

    def parts(self) -> dict:
        """The checkpointed parts by name: learner, policy, runner and the reference batch."""
        return {"learner": self.learner, "policy": self.policy, "runner": self.runner, "ref_stats": self.ref_stats}

    def start(self, loop: shared.LoopState, resumed: bool) -> None:
        """Before the first cycle: a fresh run resets the policy's noise (each rank's own perturbation of the synchronised actor)."""
        if not resumed:  # (a restored policy holds its perturbation and has refreshed its snapshot)
            self.policy.reset()  # per-rank perturbation of the now-synchronised actor

    def cycle(self, loop: shared.LoopState, remaining: int) -> shared.CycleResult:
        """One baselines cycle of at most `remaining` env steps: roll out the noisy actor, store, update obs stats, train."""
        n = min(self.sch.nb_rollout_steps, remaining)
        ro = self.runner.run(n, self.policy.explore, on_episode_end=self.policy.reset)
        qs = actor_q(self.learner, ro.obs0)  # with the networks and statistics the rollout acted with
        store(self.buffer, ro, self.dc.reward_scale)
        if self.learner.obs_rms is not None:
            self.learner.obs_rms.update(ro.obs0)
        losses = self.trainer.train(self.buffer, self.sch.nb_train_steps)
        self.policy.refresh()
        return shared.CycleResult(n, ro, qs, losses, {"actions": ro.raw_actions}, (ro,))

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic student for evaluation: obs [N, O] -> unit-box actions [N, A]."""
        return self.policy.greedy(obs)

    def q(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, mu(s)) [N] of the clean actor on obs [N, O] (eval/Q)."""
        return actor_q(self.learner, obs)

    def epoch_extra(self, loop: shared.LoopState) -> dict:
        """The epoch row's reference_* statistics, normaliser means / stds and param-noise stddev (ReferenceStats)."""
        return self.ref_stats(self.buffer)

    def sync_variables(self) -> list:
        """The learner's variables every MPI rank must hold identically."""
        return self.learner.sync_variables()


def learn(ctx: RunContext) -> RunOutcome:
    """Train ddpg for ctx's budget (every MPI rank calls it)."""
    algo = DDPG(ctx.cfg, ctx.seeds, ctx.envs, ctx.logger, ctx.track_replay)
    loop = shared.run(ctx, algo, watchers=watchers_for(ctx.cfg.env_id))
    return RunOutcome(loop.steps, loop.last_eval, algo.learner, algo.buffer)
