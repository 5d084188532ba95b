"""The baselines DDPG loop: epochs of cycles, each `nb_rollout_steps` env steps then `nb_train_steps` updates."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from baselines_meta import mpi
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.envs import Rollout
from baselines_meta.replay import Batch, ReplayBuffer
from baselines_meta.training import EpochStats, Evaluator, ProgressBar, RunContext


class TrainResult(NamedTuple):
    critic_loss: float
    actor_loss: float
    distance: Optional[float]  # param-noise distance if it was adapted in this call


class StudentTrainer:
    """Eager wrapper around the learner's compiled steps: sampling, param-noise adaptation, MPI averaging.

    A single worker runs each chunk of steps as one fused compiled call; several workers (or PopArt, which updates
    the return statistics between steps) take one step at a time with Allreduce'd gradients.
    """

    def __init__(self, learner: DDPGLearner, rng: np.random.Generator, fused: bool = True):
        self.learner = learner
        self.rng = rng
        self.fused = fused and mpi.size() == 1 and not learner.cfg.popart

    def train(self, buffer: ReplayBuffer, n_steps: int) -> list[TrainResult]:
        L, cfg = self.learner, self.learner.cfg
        bs = cfg.batch_size
        out = []
        interval = max(1, cfg.param_noise_adaption_interval)
        for start in range(0, n_steps, interval):
            k = min(interval, n_steps - start)
            dist = None
            if L.param_noise is not None and len(buffer) >= bs:
                dist = L.adapt_param_noise(buffer.sample(self.rng, bs).obs0)
            if self.fused:
                losses = L.train(buffer.sample(self.rng, bs, k))
                out.append(TrainResult(float(losses.critic), float(losses.actor), dist))
            elif L.cfg.popart:  # statistics change between steps: sample, update stats, step
                for _ in range(k):
                    batch = buffer.sample(self.rng, bs)
                    L.update_return_stats(batch)
                    losses = L.train_step_mpi(batch)
                    out.append(TrainResult(float(losses.critic), float(losses.actor), dist))
                    dist = None
            else:
                many = buffer.sample(self.rng, bs, k)
                for losses in L.train_steps_mpi([Batch(*[x[i] for x in many]) for i in range(k)]):
                    out.append(TrainResult(float(losses.critic), float(losses.actor), dist))
                    dist = None
        return out


def store(buffer: ReplayBuffer, ro: Rollout, reward_scale: float) -> None:
    buffer.add_many(ro.obs0, ro.actions, ro.rewards * reward_scale, ro.obs1, ro.terminated, ro.truncated)


def add_train_results(stats: EpochStats, results: list[TrainResult]) -> None:
    for r in results:
        stats.add_losses(r.critic_loss, r.actor_loss, r.distance)


class ReferenceStats:
    """baselines' `get_stats`: the networks on one replay batch drawn at the first epoch's end and kept fixed for the
    whole run, so the reference_* curves compare the same inputs over time."""

    def __init__(self, learner: DDPGLearner, policy: DDPGPolicy, rng: np.random.Generator):
        self.learner, self.policy, self.rng = learner, policy, rng
        self.batch: Optional[Batch] = None

    def __call__(self, buffer: ReplayBuffer) -> dict:
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
        return {"batch": self.batch}

    def set_state(self, st: dict) -> None:
        self.batch = st["batch"]


def actor_q(learner: DDPGLearner, obs: np.ndarray) -> np.ndarray:
    """Q(s, mu(s)) of the clean actor, [N]: baselines' rollout/Q_mean and eval/Q (`critic_with_actor_tf`)."""
    return learner.q_values(obs, learner.actions_of(obs)).numpy()


def epoch_plan(num_timesteps: int, steps_per_cycle: int, cycles_per_epoch: int) -> list[list[int]]:
    """Env steps of each cycle of each epoch; the last cycle is shortened so the run ends at num_timesteps."""
    n_cycles = math.ceil(num_timesteps / steps_per_cycle)
    sizes = [min(steps_per_cycle, num_timesteps - i * steps_per_cycle) for i in range(n_cycles)]
    return [sizes[i : i + cycles_per_epoch] for i in range(0, n_cycles, cycles_per_epoch)]


class RunOutcome(NamedTuple):
    steps: int  # env steps of this worker
    last_eval: Optional[list]  # returns of the final evaluation
    learner: DDPGLearner
    buffer: ReplayBuffer
    teacher: Optional[object] = None  # meta.teacher.TeacherLearner for the meta algorithms


@dataclass
class LoopState:
    """Where the loop is; checkpointed with everything else so a resumed run continues mid-epoch."""

    steps: int = 0  # env steps of this worker
    epoch: int = 0
    cycle: int = 0  # cycles finished in the current epoch
    epoch_steps: int = 0
    epoch_elapsed: float = 0.0  # seconds of the current epoch before a checkpoint (for time/fps)
    stats: EpochStats = field(default_factory=EpochStats)
    last_eval: Optional[list] = None
    extra: dict = field(default_factory=dict)  # algorithm-specific (meta: R_pi, per-epoch meta statistics)


def restore(parts: dict, state: dict) -> LoopState:
    """Put every part (learner, buffers, runners, ...) back as the checkpoint holds it; returns the loop state."""
    for name, part in parts.items():
        part.set_state(state[name])
    return state["loop"]


def snapshot(parts: dict, loop: LoopState) -> dict:
    return {**{name: part.get_state() for name, part in parts.items()}, "loop": loop}


def finish_cycle(ctx: RunContext, loop: LoopState, n_cycles: int, epoch_t0: float, learner_sync: list, extra_fn,
                 make_state) -> float:
    """Count the cycle; at an epoch's end check MPI sync and log; checkpoint when due. Returns the epoch start."""
    loop.cycle += 1
    epoch_end = loop.cycle >= n_cycles
    budget = ctx.cfg.schedule.num_timesteps
    if epoch_end:
        if ctx.cfg.sync_check_interval > 0 and (loop.epoch + 1) % ctx.cfg.sync_check_interval == 0:
            mpi.check_synced(learner_sync)
        ctx.epoch_record(loop.stats, loop.epoch, loop.steps, loop.epoch_steps, epoch_t0, extra_fn())
        loop.epoch += 1
        loop.cycle, loop.epoch_steps, loop.epoch_elapsed = 0, 0, 0.0
        loop.stats = EpochStats()
        epoch_t0 = time.time()
    else:
        loop.epoch_elapsed = time.time() - epoch_t0
    ctx.after_cycle(loop.steps, loop.epoch, epoch_end, loop.steps >= budget, make_state)
    return epoch_t0


def learn(ctx: RunContext) -> RunOutcome:
    cfg, sch, dc = ctx.cfg, ctx.cfg.schedule, ctx.cfg.ddpg
    runner = ctx.make_runner("train")
    O, A = runner.obs_dim, runner.act_dim
    learner = DDPGLearner(O, A, dc, jit_compile=cfg.fast, seed=ctx.env_seed("noise"))
    mpi.sync_from_root(learner.sync_variables())
    policy = DDPGPolicy(learner, ctx.noise_rng, fast=cfg.fast)
    buffer = ReplayBuffer(dc.buffer_size, O, A, dc.truncation_as_terminal)
    trainer = StudentTrainer(learner, ctx.replay_rng, fused=cfg.fast)
    evaluator = Evaluator(ctx)
    ctx.track_replay(buffer)
    ref_stats = ReferenceStats(learner, policy, ctx.replay_rng)
    parts = {"learner": learner, "policy": policy, "runner": runner, "evaluator": evaluator, "ref_stats": ref_stats}
    loop = LoopState()
    if ctx.resume_state is not None:
        loop = restore(parts, ctx.resume_state)
    else:
        policy.reset()  # per-rank perturbation of the now-synchronised actor

    ctx.install_signal_handlers()
    bar = ProgressBar(sch.num_timesteps, cfg.progress_bar)
    # Planned from the start of the current epoch (the same plan as from step 0 unless --resume raised the budget:
    # then the extra steps follow the run's possibly short last epoch).
    first = loop.epoch
    plan = epoch_plan(sch.num_timesteps - (loop.steps - loop.epoch_steps), sch.nb_rollout_steps, sch.nb_epoch_cycles)
    epoch_t0 = time.time() - loop.epoch_elapsed
    while loop.epoch - first < len(plan):
        cycles = plan[loop.epoch - first]
        n = cycles[loop.cycle]
        ro = runner.run(n, policy.explore, on_episode_end=policy.reset)
        qs = actor_q(learner, ro.obs0)  # with the networks and statistics the rollout acted with
        store(buffer, ro, dc.reward_scale)
        if learner.obs_rms is not None:
            learner.obs_rms.update(ro.obs0)
        loop.steps += n
        loop.epoch_steps += n
        loop.stats.add_rollout(ro, qs)
        results = trainer.train(buffer, sch.nb_train_steps)
        add_train_results(loop.stats, results)
        ctx.check_finite(loop.steps, actions=ro.raw_actions, Q=qs, critic_loss=[r.critic_loss for r in results],
                         actor_loss=[r.actor_loss for r in results])
        policy.refresh()
        if evaluator.due(loop.steps) or (loop.steps >= sch.num_timesteps and evaluator.n_total > 0):
            loop.stats.eval = evaluator.run(loop.steps, policy.greedy, lambda o: actor_q(learner, o))
            loop.last_eval = loop.stats.eval.returns
        bar.update(loop.steps, f"eval {np.mean(loop.last_eval):.1f}" if loop.last_eval else "")
        epoch_t0 = finish_cycle(ctx, loop, len(cycles), epoch_t0, learner.sync_variables(),
                                lambda: ref_stats(buffer), lambda: snapshot(parts, loop))
    return RunOutcome(loop.steps, loop.last_eval, learner, buffer)
