"""Algorithm 1 ("Teacher: Learn to Explore"), one cycle at a time, in the paper's order (its line numbers):

  0. (line 10 of the previous cycle; lines 2-3 at the start) R_pi: the deterministic pi from fresh resets, seeds s_t
  1. (4)  D0: nb_explore_steps of the teacher on its own env
  2. (5)  pi -> pi': nb_train_steps DDPG steps on D0 only
  3. (6)  D1: nb_eval_steps of the deterministic pi' from the same resets s_t (paired starts); R_pi'
  4. (7)  meta reward Delta = R_pi' - R_pi
  5. (8)  teacher: nb_teacher_steps REINFORCE steps on D0 with Delta, standardised over the last epoch's cycles,
          each action scored under the density it was sampled from (the variance teacher: around pi's mean, not pi''s)
  6. (9)  B <- B + D_pi + D0 + D1; the normaliser sees each once, after pi and pi' have both acted
  7. (11) student: nb_train_steps DDPG steps on B

Step 0 runs at the start of cycle t rather than at the end of cycle t-1: nothing changes in between (the normaliser is
updated in step 6 only), so the arithmetic is that of line 10. With --meta_baseline previous it runs in the first
cycle only, and R_pi of cycle t is R_pi' of cycle t-1 (an ablation). D_pi, D0 and D1 each have their own env and all
count toward num_timesteps. With lookahead 'inplace' (Algorithm 1) pi' replaces pi; 'copy' restores pi after step 3.
R and its standardisation: meta/reward.py. `--meta_form literal` (config.META_FORMS) is the paper's text read literally:
D_pi and D1 continue their episodes across cycles (--rollout_starts continue), R is their reward sum, Delta is raw,
the teacher takes plain REINFORCE steps, and only the first D_pi joins B (line 3; --no-pi_in_replay).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from baselines_meta.common import exchange, mpi
from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.config import RunConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.ddpg.student import ReferenceStats, StudentTrainer, actor_q, store
from baselines_meta.meta import reward as meta_reward
from baselines_meta.meta.teacher import TeacherDiagnostics, TeacherLearner, TeacherPolicy
from baselines_meta.runtime import loop as shared
from baselines_meta.runtime.branching import Tape, run_branched
from baselines_meta.runtime.context import RunContext
from baselines_meta.runtime.envs import EnvFactory, EnvRunner, Rollout
from baselines_meta.runtime.loop import CycleResult, LoopState, RunOutcome
from baselines_meta.runtime.seeds import Seeds


class StudentSnapshot:
    """All of the student's mutable state (networks, targets, Adam slots, counters), for `--lookahead copy`."""

    def __init__(self, learner: DDPGLearner):
        self.vars = (list(learner.sync_variables()) + list(learner.actor_opt.variables) +
                     list(learner.critic_opt.variables) + [learner.train_steps])
        self.values = [v.numpy() for v in self.vars]

    def restore(self) -> None:
        """Put the student back as it was when the snapshot was taken (undo the look-ahead)."""
        for v, x in zip(self.vars, self.values, strict=True):
            v.assign(x)


class CycleSizes(NamedTuple):
    """Env steps of one cycle's rollouts: D_pi, D0 and D1."""
    pi: int  # D_pi: the rollout of pi that gives R_pi (0 when R_pi is reused)
    d0: int
    d1: int


def cycle_sizes(remaining: int, n_pi: int, n0: int, n1: int) -> CycleSizes:
    """Rollout sizes of the next cycle, shortened (in the order D_pi, D0, D1) so the run ends exactly at the budget."""
    p = min(n_pi, remaining)
    a = min(n0, remaining - p)
    return CycleSizes(p, a, min(n1, remaining - p - a))


META_KEYS = ("meta/reward", "meta/reward_used", "meta/R_pi", "meta/R_pi_prime", "teacher/loss", "teacher/entropy",
             "teacher/log_std_mean", "teacher/action_mean", "teacher/action_std")


def _fresh_epoch_extra(r_pi: Optional[float] = None) -> dict:
    """The per-epoch statistics a meta epoch collects (and R_pi, which crosses epochs under 'previous')."""
    return {"meta": {k: [] for k in META_KEYS}, "explore_returns": [], "look_returns": [], "pi_returns": [], "r_pi": r_pi,
            "start_depths": []}


class BranchStarts:
    """--teacher_start student: the tape of the student's rollout the next D0 branches from (runtime.branching). It
    crosses a cycle boundary only under --meta_baseline previous (the last D1's), so only then is it checkpointed."""

    absent_from_old_checkpoints = True  # (runs checkpointed before --teacher_start existed branch from nothing)

    def __init__(self, across_cycles: bool):
        self.tape: Optional[Tape] = None
        self.across_cycles = across_cycles

    def get_state(self) -> dict:
        """The tape for the checkpoint, when the next cycle needs it."""
        return {"tape": self.tape.get_state() if self.across_cycles and self.tape is not None else None}

    def set_state(self, st: dict) -> None:
        """Restore the tape `get_state` gave."""
        if st.get("tape") is not None:
            self.tape = Tape()
            self.tape.set_state(st["tape"])


class MetaParts(NamedTuple):
    """Everything a meta run acts and learns with (each part with get_state / set_state is checkpointed)."""

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
    shaper: meta_reward.MetaRewardShaper
    diag: TeacherDiagnostics
    starts: BranchStarts  # --teacher_start student

    def checkpointed(self) -> dict:
        """The parts the checkpoint holds by name (B is tracked apart, and D0 is refilled every cycle)."""
        return {"learner": self.learner, "teacher": self.teacher, "runner0": self.runner0, "runner_pi": self.runner_pi,
                "runner1": self.runner1, "ref_stats": self.ref_stats, "shaper": self.shaper, "diag": self.diag,
                "starts": self.starts}


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
    teacher = TeacherLearner(O, A, cfg.teacher, learner.obs_rms, dc.obs_clip, actor=learner.actor, exchange=choice.path)
    mpi.sync_from_root(learner.sync_variables() + teacher.sync_variables())
    student = DDPGPolicy(learner, seeds.noise)
    buffer = ReplayBuffer(dc.buffer_size, O, A, dc.truncation_as_terminal)
    track_replay(buffer)
    return MetaParts(
        learner, teacher, student, TeacherPolicy(teacher, seeds.teacher), runner0, runner_pi, runner1,
        buffer, ReplayBuffer(sch.nb_explore_steps, O, A, dc.truncation_as_terminal),
        StudentTrainer(learner, seeds.replay, exchange=choice.path), ReferenceStats(learner, student, seeds.replay),
        meta_reward.MetaRewardShaper(sch.meta_reward_norm, sch.nb_epoch_cycles, sch.meta_reward_placebo, seeds.meta),
        TeacherDiagnostics(teacher), BranchStarts(sch.meta_baseline == "previous"))


def measure(runner: EnvRunner, policy: DDPGPolicy, n: int, seed: Optional[int], mode: str,
            tape: Optional[Tape] = None) -> tuple[Rollout, float]:
    """R of the deterministic student: n steps from fresh resets (seeds seed, seed + 1, ...), or continuing the
    runner's episode in progress when seed is None (--rollout_starts continue); tape records its states."""
    ro = runner.run(n, policy.greedy, start_seed=seed, tape=tape)
    return ro, meta_reward.policy_return(ro, mode)


def run_cycle(m: MetaParts, cfg: RunConfig, seeds: Seeds, loop: LoopState, sizes: CycleSizes) -> CycleResult:
    """One cycle of Algorithm 1 (module docstring); loop.extra collects the epoch's meta statistics. seeds.meta: the
    reset seeds of the rollouts behind R_pi and R_pi'; seeds.branch: the steps D0 branches from (--teacher_start)."""
    sch, dc, ex = cfg.schedule, cfg.ddpg, loop.extra
    meta_rng, branching = seeds.meta, sch.teacher_start == "student"
    L, T = m.learner, m.teacher
    if sch.rollout_starts == "reset":
        seed = meta_reward.start_seed(meta_rng)
        seed1 = seed if sch.paired_starts else meta_reward.start_seed(meta_rng)
    else:  # each continues its env's episode
        seed = seed1 = None
    first_cycle = loop.steps == 0
    # 0. R_pi: pi from fresh resets (Algorithm 1 line 10 of the previous cycle; lines 2-3 in the first)
    ro_pi = None
    if sizes.pi > 0:
        tape = Tape() if branching else None
        ro_pi, r_pi = measure(m.runner_pi, m.student, sizes.pi, seed, sch.meta_reward, tape)
        if tape is not None:
            m.starts.tape = tape
        ex["pi_returns"] += ro_pi.episode_returns
        ex["r_pi"] = r_pi if sizes.pi == sch.nb_eval_steps else None
    # 1. D0 from the teacher
    ro0 = None
    if sizes.d0 > 0 and branching:  # from states of the student's own rollout
        ro0, depths = run_branched(m.runner0, sizes.d0, m.explorer.sample, m.starts.tape, seeds.branch)
        ex.setdefault("start_depths", []).extend(depths)
    elif sizes.d0 > 0:
        ro0 = m.runner0.run(sizes.d0, m.explorer.sample)
    # how D0 was drawn (means, log-densities), before the look-ahead moves the variance teacher's mean
    sampled = m.explorer.density(ro0.obs0, ro0.raw_actions) if ro0 is not None else None
    qs = actor_q(L, ro0.obs0) if ro0 is not None else np.zeros(0)  # the student's Q(s, mu(s)) before this cycle
    losses: list = []
    ro1 = None
    if ro0 is not None:
        ex["explore_returns"] += ro0.episode_returns
        m.diag.see(ro0.obs0)
        m.d0.clear()
        store(m.d0, ro0, dc.reward_scale)
    if ro0 is not None and sizes.d1 > 0:
        snap = StudentSnapshot(L) if sch.lookahead == "copy" else None
        # 2. pi -> pi' on D0 only
        losses += m.trainer.train(m.d0, sch.nb_train_steps)
        m.student.refresh()
        # 3. D1 from the deterministic pi', from the same resets as D_pi
        tape1 = Tape() if branching and sch.meta_baseline == "previous" else None  # the next D0 branches from D1
        ro1, r_pi_prime = measure(m.runner1, m.student, sizes.d1, seed1, sch.meta_reward, tape1)
        if tape1 is not None:
            m.starts.tape = tape1
        ex["look_returns"] += ro1.episode_returns
        r_pi = ex["r_pi"]
        if sizes.d1 == sch.nb_eval_steps and r_pi is not None:
            # 4. meta reward, 5. teacher steps on D0 (log-density of the raw Gaussian samples)
            delta = r_pi_prime - r_pi
            used = m.shaper(delta)
            ts = T.stats(ro0.obs0, ro0.raw_actions, sampled.means, np.float32(used))
            T.train(ro0.obs0, ro0.raw_actions, used, sch.nb_teacher_steps, sampled)
            for k, v in zip(META_KEYS, (delta, used, r_pi, r_pi_prime, float(ts.loss), float(ts.entropy), float(ts.log_std_mean),
                                        float(ts.action_mean), float(ts.action_std)), strict=True):
                ex["meta"][k].append(v)
        if snap is not None:
            snap.restore()
        ex["r_pi"] = r_pi_prime if sch.meta_baseline == "previous" and sizes.d1 == sch.nb_eval_steps else None
    # 6. B <- B + D_pi + D0 + D1 (D_pi: with --no-pi_in_replay only the first, line 3); the normaliser sees each once
    pi_in = sch.pi_in_replay or first_cycle
    new = [ro for ro in (ro_pi if pi_in else None, ro0 if sch.d0_in_replay else None, ro1) if ro is not None]
    for ro in new:
        store(m.buffer, ro, dc.reward_scale)
    if L.obs_rms is not None and new:
        L.obs_rms.update(np.concatenate([ro.obs0 for ro in new]))
    # 7. student on B
    losses += m.trainer.train(m.buffer, sch.nb_train_steps)
    m.student.refresh()
    m.explorer.refresh()
    checks = {"teacher_actions": ro0.raw_actions if ro0 is not None else [], "meta_reward": ex["meta"]["meta/reward"][-1:]}
    return CycleResult(sum(sizes), ro0, qs, losses, checks, tuple(ro for ro in (ro_pi, ro0, ro1) if ro is not None))


class Meta:
    """Algorithm 1 plugged into the shared loop."""

    def __init__(self, cfg: RunConfig, seeds: Seeds, envs: EnvFactory, logger, track_replay: Callable[[ReplayBuffer], None]):
        self.cfg, self.sch, self.seeds, self.logger = cfg, cfg.schedule, seeds, logger
        self.m = build(cfg, seeds, envs, logger, track_replay)

    def parts(self) -> dict:
        """The checkpointed parts by name (MetaParts.checkpointed)."""
        return self.m.checkpointed()

    def start(self, loop: LoopState, resumed: bool) -> None:
        """Before the first cycle: snapshot the (possibly restored) student and teacher networks and normaliser."""
        self.m.student.refresh()  # numpy snapshots of the (restored) networks and normaliser
        self.m.explorer.refresh()

    def cycle(self, loop: LoopState, remaining: int) -> CycleResult:
        """One cycle of Algorithm 1 of at most `remaining` env steps (run_cycle), R_pi measured unless it is reused."""
        sch = self.sch
        first = loop.extra["r_pi"] is None  # 'previous' measures R_pi only when there is none
        sizes = cycle_sizes(remaining, self.cfg.pi_steps(first), sch.nb_explore_steps, sch.nb_eval_steps)
        return run_cycle(self.m, self.cfg, self.seeds, loop, sizes)

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic student for evaluation: obs [N, O] -> unit-box actions [N, A]."""
        return self.m.student.greedy(obs)

    def q(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, mu(s)) [N] of the student's clean actor on obs [N, O] (eval/Q)."""
        return actor_q(self.m.learner, obs)

    def epoch_extra(self, loop: LoopState) -> dict:
        """The epoch row's meta, teacher, return and reference statistics; starts the next epoch's collection."""
        m, ex = self.m, loop.extra
        out = {k: (float(np.mean(v)) if len(v) else float("nan")) for k, v in ex["meta"].items()}
        out.update(meta_reward.summary(ex["meta"]["meta/reward"]))
        depths = ex.get("start_depths", [])
        out["teacher/start_depth"] = float(np.mean(depths)) if depths else (0.0 if self.sch.teacher_start == "reset" else float("nan"))
        same = meta_reward.all_equal(ex["meta"]["meta/reward"])
        if same is not None:
            self.logger.info(f"warning: epoch {loop.epoch + 1}: all {len(ex['meta']['meta/reward'])} meta rewards "
                                 f"equal {same:g}; the teacher gets no signal")
        for key, name in (("explore/return", "explore_returns"), ("lookahead/return", "look_returns"),
                          ("baseline/return", "pi_returns")):
            out[key] = float(np.mean(ex[name])) if ex[name] else float("nan")
        out.update(m.diag())
        out.update(m.ref_stats(m.buffer))
        loop.extra = _fresh_epoch_extra(ex["r_pi"])
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
    loop = shared.run(ctx, algo, _fresh_epoch_extra)
    return RunOutcome(loop.steps, loop.last_eval, algo.m.learner, algo.m.buffer, algo.m.teacher)
