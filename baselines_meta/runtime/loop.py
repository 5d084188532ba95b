"""The one epoch / cycle loop both algorithms share (SB3's `OffPolicyAlgorithm.learn` habit).

An algorithm plugs in its collect-and-update step (`Algorithm.cycle`: ddpg's baselines cycle, meta's Algorithm 1);
this loop owns what is common: cycles until the env-step budget, epochs of `nb_epoch_cycles` cycles (the last one may
be short), the epoch statistics and their log row, the NaN guard, evaluation and checkpoint triggers, the MPI sync
check, the progress bar and resuming mid-epoch from a checkpoint. What a particular task or experiment wants to
watch (the hard-exploration suite's first discovery: runtime.tasks) comes in as a `Watcher`: it sees each cycle's
rollouts, adds its keys to the epoch row and is checkpointed with the run; the loop knows no task.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Protocol

import numpy as np

from baselines_meta.common import mpi
from baselines_meta.runtime.context import RunContext
from baselines_meta.runtime.envs import Rollout
from baselines_meta.runtime.evaluation import Evaluator
from baselines_meta.runtime.saving import check_finite
from baselines_meta.runtime.stats import EpochStats, ProgressBar, RunTotals, epoch_row


class RunOutcome(NamedTuple):
    """What a run leaves for its caller (the API, the policy save): every algorithm has a student and a replay
    buffer; meta also a teacher."""

    steps: int  # env steps of this worker
    last_eval: Optional[list]  # returns of the final evaluation
    learner: object  # the student's learner (ddpg.learner.DDPGLearner)
    buffer: object  # the replay buffer B
    teacher: Optional[object] = None  # the exploration policy's learner when the algorithm learns one (meta)


class TrainResult(NamedTuple):
    """Losses of one student training call or step, and the param-noise distance when it adapted then."""
    critic_loss: float
    actor_loss: float
    distance: Optional[float]  # param-noise distance if it was adapted in this call


class CycleResult(NamedTuple):
    """What one cycle of an algorithm hands back to the loop."""
    steps: int  # env steps of the cycle, every rollout counted
    explore: Optional[Rollout]  # the exploring rollout, for rollout/* (ddpg: the noisy actor's; meta: the teacher's D0)
    qs: np.ndarray  # [T] Q(s, mu(s)) on its states with the networks it acted with (rollout/Q_mean)
    losses: list  # [TrainResult] of every student update of the cycle
    checks: dict  # more values that must be finite (actions, meta reward), by name
    rollouts: tuple = ()  # every env rollout of the cycle, in order (meta: D_pi, D0, D1), for explore/discovered_at


@dataclass
class LoopState:
    """Where the loop is; checkpointed with everything else so a resumed run continues mid-epoch."""

    steps: int = 0  # env steps of this worker
    epoch: int = 0
    cycle: int = 0  # cycles finished in the current epoch
    epoch_steps: int = 0
    epoch_elapsed: float = 0.0  # seconds of the current epoch before a checkpoint (for time/fps)
    stats: EpochStats = field(default_factory=EpochStats)
    totals: RunTotals = field(default_factory=RunTotals)
    last_eval: Optional[list] = None


class Algorithm(Protocol):
    """What an algorithm plugs into the loop."""

    def parts(self) -> dict:
        """name -> object with get_state / set_state: everything the checkpoint must hold besides the loop and its
        evaluator."""

    def start(self, loop: LoopState, resumed: bool) -> None:
        """Before the first cycle of this process: a fresh run's first step, or what a restored run needs."""

    def cycle(self, loop: LoopState, remaining: int) -> CycleResult:
        """Collect and update for one cycle of at most `remaining` env steps."""

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic student, for evaluation."""

    def q(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, mu(s)) [N] of the student on observations [N, O] (eval/Q)."""

    def epoch_extra(self, loop: LoopState) -> dict:
        """The algorithm's own keys of the epoch row (and its per-epoch state reset)."""

    def sync_variables(self) -> list:
        """Variables every MPI rank must hold identically."""


class Watcher(Protocol):
    """What a task or an experiment watches in every run of it (runtime.tasks.watchers_for), checkpointed as a part."""

    def see(self, rollouts: tuple, steps_before: int) -> None:
        """A cycle's rollouts, in order, and this worker's env steps before them."""

    def row(self) -> dict:
        """Its keys of the epoch row."""


def restore(parts: dict, state: dict) -> LoopState:
    """Put every part back as the checkpoint holds it; returns the loop state. A part added to the code after the
    checkpoint was written (it says so with `absent_from_old_checkpoints`) starts fresh, or from what the old loop
    state held of it (its `from_old_loop_state`)."""
    for name, part in parts.items():
        if name not in state and getattr(part, "absent_from_old_checkpoints", False):
            if hasattr(part, "from_old_loop_state"):
                part.from_old_loop_state(state["loop"])
            continue
        part.set_state(state[name])
    return state["loop"]


def snapshot(parts: dict, loop: LoopState) -> dict:
    """The checkpoint's state: every part's `get_state` by name, plus the loop state under 'loop'."""
    return {**{name: part.get_state() for name, part in parts.items()}, "loop": loop}


def make_evaluator(ctx: RunContext) -> Evaluator:
    """The run's evaluator: its own env (seeded for 'eval'), evaluations.csv continued on resume."""
    sch = ctx.cfg.schedule
    size = ctx.resume.size_of("evaluations.csv") if ctx.resume is not None else None
    return Evaluator(ctx.cfg.env_id, sch.eval_interval, sch.eval_episodes, ctx.seeds.env_seed("eval"), ctx.log_dir,
                     ctx.logger, size)


def run(ctx: RunContext, algo: Algorithm, evaluator: Optional[Evaluator] = None,
        watchers: Optional[dict] = None) -> LoopState:
    """Cycles until ctx's budget; returns the final loop state. evaluator: default make_evaluator(ctx); watchers: name
    -> Watcher (runtime.tasks.watchers_for the run's env)."""
    cfg, sch = ctx.cfg, ctx.cfg.schedule
    evaluator = evaluator or make_evaluator(ctx)
    watchers = watchers or {}
    parts = {**algo.parts(), "evaluator": evaluator, **watchers}
    resumed = ctx.resume is not None
    loop = restore(parts, ctx.resume.state) if resumed else LoopState()
    algo.start(loop, resumed)
    ctx.saver.install_signal_handlers()
    budget = sch.num_timesteps
    bar = ProgressBar(budget, cfg.progress_bar)
    epoch_t0 = time.time() - loop.epoch_elapsed
    while loop.steps < budget:
        c = algo.cycle(loop, budget - loop.steps)
        for w in watchers.values():
            w.see(c.rollouts, loop.steps)
        loop.steps += c.steps
        loop.epoch_steps += c.steps
        if c.explore is not None:
            loop.stats.add_rollout(c.explore, c.qs)
        for r in c.losses:
            loop.stats.add_losses(r.critic_loss, r.actor_loss, r.distance)
        check_finite(loop.steps, ctx.checkpointer.dir, **c.checks, Q=c.qs, critic_loss=[r.critic_loss for r in c.losses],
                     actor_loss=[r.actor_loss for r in c.losses])
        if evaluator.due(loop.steps) or (loop.steps >= budget and evaluator.n_total > 0):
            loop.stats.eval = evaluator.run(loop.steps, algo.greedy, algo.q)
            loop.last_eval = loop.stats.eval.returns
        bar.update(loop.steps, f"eval {np.mean(loop.last_eval):.1f}" if loop.last_eval else "")
        n_cycles = sch.nb_epoch_cycles if loop.steps < budget else loop.cycle + 1  # the last epoch may be short
        epoch_t0 = _finish_cycle(ctx, loop, n_cycles, epoch_t0, algo, watchers,
                                 lambda: {**snapshot(parts, loop), "ctx": ctx.get_state()})
    ctx.envs.write_states()
    return loop


def _finish_cycle(ctx: RunContext, loop: LoopState, n_cycles: int, epoch_t0: float, algo: Algorithm, watchers: dict,
                  make_state) -> float:
    """Count the cycle; at an epoch's end check MPI sync and log; checkpoint when due. Returns the epoch start."""
    loop.cycle += 1
    epoch_end = loop.cycle >= n_cycles
    if epoch_end:
        if ctx.cfg.sync_check_interval > 0 and (loop.epoch + 1) % ctx.cfg.sync_check_interval == 0:
            mpi.check_synced(algo.sync_variables())
        now = time.time()
        row = epoch_row(loop.stats, loop.totals, loop.epoch, loop.steps, now - ctx.t_start, loop.epoch_steps,
                        now - epoch_t0, algo.epoch_extra(loop))
        for w in watchers.values():
            row.update(w.row())
        ctx.logger.record_dict(row)
        ctx.logger.dump(loop.steps)
        loop.epoch += 1
        loop.cycle, loop.epoch_steps, loop.epoch_elapsed = 0, 0, 0.0
        loop.stats = EpochStats()
        epoch_t0 = time.time()
    else:
        loop.epoch_elapsed = time.time() - epoch_t0
    ctx.saver.after_cycle(loop.steps, loop.epoch, epoch_end, loop.steps >= ctx.cfg.schedule.num_timesteps, make_state)
    return epoch_t0
