"""meta, plugged into the shared loop: what it acts and learns with (build), Algorithm 1's cycle (meta/cycle.py, the
paper's numbered lines as named steps) and its epoch row. The teacher's parts are plug-ins chosen by the config: where
its D0 starts (meta/starts), what it is rewarded with (meta/rewards) and its kind (meta/kinds)."""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from baselines_meta.common import exchange, mpi
from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.config import RunConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.ddpg.student import ReferenceStats, StudentTrainer, actor_q
from baselines_meta.meta import reward as meta_reward
from baselines_meta.meta.cycle import EpochLog, MetaState, cycle_sizes, run_cycle
from baselines_meta.meta.kinds import mean_actor
from baselines_meta.meta.rewards import SIGNALS, make_reward
from baselines_meta.meta.starts import make_start
from baselines_meta.meta.teacher import TeacherDiagnostics, TeacherLearner, TeacherPolicy
from baselines_meta.runtime import loop as shared
from baselines_meta.runtime.context import RunContext
from baselines_meta.runtime.envs import EnvFactory, EnvRunner
from baselines_meta.runtime.loop import CycleResult, LoopState, RunOutcome
from baselines_meta.runtime.seeds import Seeds
from baselines_meta.runtime.tasks import watchers_for


class StudentSnapshot:
    """All of the student's mutable state (networks, targets, Adam slots, counters), for `--lookahead copy`."""

    def __init__(self, learner: DDPGLearner):
        self.vars = (list(learner.sync_variables()) + list(learner.actor_opt.variables) +
                     list(learner.critic_opt.variables) + [learner.train_steps])
        self.values = [v.numpy() for v in self.vars]
        # --popart: the look-ahead's steps move the return statistics too (and rescale the critic's output layer to
        # match): restoring the layer without them would shift every denormalised Q
        self.ret_rms = learner.ret_rms
        self.ret_state = learner.ret_rms.get_state() if learner.ret_rms is not None else None

    def restore(self) -> None:
        """Put the student back as it was when the snapshot was taken (undo the look-ahead)."""
        for v, x in zip(self.vars, self.values, strict=True):
            v.assign(x)
        if self.ret_state is not None:
            self.ret_rms.set_state(self.ret_state)


class MetaParts(NamedTuple):
    """Everything a meta run acts and learns with (each part with get_state / set_state is checkpointed)."""

    cfg: RunConfig
    learner: DDPGLearner
    teacher: TeacherLearner
    student: DDPGPolicy  # numpy snapshot of pi (deterministic: greedy)
    explorer: TeacherPolicy  # numpy snapshot of pi_e
    runner0: EnvRunner  # D0, the teacher's env: <rank>.monitor.csv
    runner_pi: EnvRunner  # D_pi, pi's rollouts for R_pi: <rank>.pi.monitor.csv
    runner1: EnvRunner  # D1, pi' rollouts for R_pi': <rank>.d1.monitor.csv
    buffer: ReplayBuffer  # B
    d0: ReplayBuffer  # this cycle's D0 only
    trainer: StudentTrainer
    ref_stats: ReferenceStats
    reward: object  # the teacher's reward plug-in (meta/rewards)
    signals: dict  # meta/rewards' SIGNALS: measured in every look-ahead
    diag: TeacherDiagnostics
    start: object  # where D0 starts (meta/starts)

    def snapshot(self) -> StudentSnapshot:
        """The student as it is (--lookahead copy restores it after D1)."""
        return StudentSnapshot(self.learner)

    def checkpointed(self) -> dict:
        """The parts the checkpoint holds by name (B is tracked apart, and D0 is refilled every cycle)."""
        return {"learner": self.learner, "teacher": self.teacher, "runner0": self.runner0, "runner_pi": self.runner_pi,
                "runner1": self.runner1, "ref_stats": self.ref_stats, "shaper": self.reward, "diag": self.diag,
                "starts": self.start}


def build(cfg: RunConfig, seeds: Seeds, envs: EnvFactory, logger, track_replay: Callable[[ReplayBuffer], None]) -> MetaParts:
    """Everything a meta run acts and learns with. envs: the run's env factory; track_replay: checkpoints B with the
    run (restoring it on resume)."""
    sch = cfg.schedule
    dc = cfg.ddpg  # (noise_type none: the teacher replaces the noise process)
    runner0 = envs.runner("train", record="teacher")
    runner_pi = envs.runner("pi", monitor_tag="pi", record="student")
    runner1 = envs.runner("d1", monitor_tag="d1")
    O, A = runner0.obs_dim, runner0.act_dim
    learner = DDPGLearner(O, A, dc, seed=seeds.env_seed("noise"))
    choice = exchange.choose_for(cfg, learner)  # the look-ahead on D0, the update on B and the teacher's all use it
    if mpi.size() > 1:
        logger.info(exchange.describe(choice))
    teacher = TeacherLearner(O, A, cfg.teacher, learner.obs_rms, dc.obs_clip, actor=mean_actor(cfg.teacher.kind, learner),
                             exchange=choice.path)
    mpi.sync_from_root(learner.sync_variables() + teacher.sync_variables())
    student = DDPGPolicy(learner, seeds.noise)
    buffer = ReplayBuffer(dc.buffer_size, O, A, dc.truncation_as_terminal)
    track_replay(buffer)
    return MetaParts(
        cfg, learner, teacher, student, TeacherPolicy(teacher, seeds.teacher), runner0, runner_pi, runner1,
        buffer, ReplayBuffer(sch.nb_explore_steps, O, A, dc.truncation_as_terminal),
        StudentTrainer(learner, seeds.replay, exchange=choice.path), ReferenceStats(learner, student, seeds.replay),
        make_reward(cfg, seeds.meta), {name: signal(cfg) for name, signal in SIGNALS.items()},
        TeacherDiagnostics(teacher), make_start(cfg))


class Meta:
    """Algorithm 1 plugged into the shared loop."""

    def __init__(self, cfg: RunConfig, seeds: Seeds, envs: EnvFactory, logger, track_replay: Callable[[ReplayBuffer], None]):
        self.cfg, self.sch, self.seeds, self.logger = cfg, cfg.schedule, seeds, logger
        self.m = build(cfg, seeds, envs, logger, track_replay)
        self.state = MetaState()

    def parts(self) -> dict:
        """The checkpointed parts by name (MetaParts.checkpointed, and Algorithm 1's state across cycles)."""
        return {**self.m.checkpointed(), "meta_state": self.state}

    def start(self, loop: LoopState, resumed: bool) -> None:
        """Before the first cycle: snapshot the (possibly restored) student and teacher networks and normaliser."""
        self.m.student.refresh()  # numpy snapshots of the (restored) networks and normaliser
        self.m.explorer.refresh()

    def cycle(self, loop: LoopState, remaining: int) -> CycleResult:
        """One cycle of Algorithm 1 of at most `remaining` env steps (meta.cycle), R_pi measured unless it is reused."""
        sch = self.sch
        first = self.state.r_pi is None  # 'previous' measures R_pi only when there is none
        sizes = cycle_sizes(remaining, self.cfg.pi_steps(first), sch.nb_explore_steps, sch.nb_eval_steps)
        say = lambda line: self.logger.info(f"cycle at step {loop.steps}: {line}")  # noqa: E731
        return run_cycle(self.m, self.seeds, self.state, sizes, loop.steps == 0, say)

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic student for evaluation: obs [N, O] -> unit-box actions [N, A]."""
        return self.m.student.greedy(obs)

    def q(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, mu(s)) [N] of the student's clean actor on obs [N, O] (eval/Q)."""
        return actor_q(self.m.learner, obs)

    def epoch_extra(self, loop: LoopState) -> dict:
        """The epoch row's meta, teacher, return and reference statistics; starts the next epoch's log."""
        m, log = self.m, self.state.epoch
        out = {k: (float(np.mean(v)) if len(v) else float("nan")) for k, v in log.meta.items()}
        out.update(meta_reward.summary(log.meta["meta/reward"]))
        for name in m.signals:
            values = log.signals.get(name, [])
            out[f"meta/{name}"] = float(np.mean(values)) if values else float("nan")
            out.update(meta_reward.summary(values, prefix=f"meta/{name}"))
        depths = log.start_depths
        out["teacher/start_depth"] = float(np.mean(depths)) if depths else (0.0 if self.sch.teacher_start == "reset" else float("nan"))
        same = meta_reward.all_equal(log.meta["meta/reward"])
        if same is not None:
            self.logger.info(f"warning: epoch {loop.epoch + 1}: all {len(log.meta['meta/reward'])} meta rewards "
                             f"equal {same:g}; the teacher gets no signal")
        for key, values in (("explore/return", log.explore_returns), ("lookahead/return", log.look_returns),
                            ("baseline/return", log.pi_returns)):
            out[key] = float(np.mean(values)) if values else float("nan")
        out.update(m.diag())
        out.update(m.ref_stats(m.buffer))
        self.state.epoch = EpochLog()
        return out

    def sync_variables(self) -> list:
        """The student's and teacher's variables every MPI rank must hold identically."""
        return self.m.learner.sync_variables() + self.m.teacher.sync_variables()


def learn(ctx: RunContext) -> RunOutcome:
    """Train meta (Algorithm 1) for ctx's budget (every MPI rank calls it)."""
    if ctx.cfg.schedule.meta_reward == "step":
        ctx.logger.info("warning: --meta_reward step (mean reward per step) ignores falls: on tasks with a per-step "
                        "alive bonus it barely changes with the policy; the default 'return' does not")
    algo = Meta(ctx.cfg, ctx.seeds, ctx.envs, ctx.logger, ctx.track_replay)
    loop = shared.run(ctx, algo, watchers=watchers_for(ctx.cfg.env_id))
    return RunOutcome(loop.steps, loop.last_eval, algo.m.learner, algo.m.buffer, algo.m.teacher)
