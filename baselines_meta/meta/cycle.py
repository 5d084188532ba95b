"""One cycle of Algorithm 1 ("Teacher: Learn to Explore"), as the paper's numbered lines, each a small named step:

    measure_pi        lines 2-3 (the first cycle) and 10 (every later one): R_pi, the deterministic pi from resets
    explore           line 4:  D0, nb_explore_steps of the teacher (where its episodes start: meta/starts)
    look_ahead        lines 5-6: pi -> pi' by nb_train_steps DDPG steps on D0 alone; D1 of pi' from the same resets;
                      R_pi'; and the signals of meta/rewards measured around the update (e.g. progress)
    reward_teacher    lines 7-8: Delta = R_pi' - R_pi; the teacher's reward (meta/rewards) and its REINFORCE steps
                      on D0, each action scored under the density it was sampled from
    add_to_replay     line 9:  B <- B + D_pi + D0 + D1; the normaliser sees each once, after pi and pi' have acted
    update_student    line 11: nb_train_steps DDPG steps on B

Line 10 of cycle t runs as measure_pi at the start of cycle t + 1: nothing changes in between (the normaliser moves
in add_to_replay only), so the arithmetic is that of line 10. With --meta_baseline previous it runs in the first cycle
only, and R_pi of cycle t is R_pi' of cycle t - 1 (an ablation). D_pi, D0 and D1 each have their own env and all count
toward num_timesteps. With lookahead 'inplace' (Algorithm 1) pi' replaces pi; 'copy' restores pi after D1.
R and its standardisation: meta/reward.py. `--meta_form literal` (config.META_FORMS) is the paper's text read
literally: D_pi and D1 continue their episodes across cycles (--rollout_starts continue), R is their reward sum, Delta
is raw, the teacher takes plain REINFORCE steps, and only the first D_pi joins B (line 3; --no-pi_in_replay).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from baselines_meta.ddpg.student import actor_q, store
from baselines_meta.meta import reward as meta_reward
from baselines_meta.meta.teacher import Sampled
from baselines_meta.runtime.envs import Rollout
from baselines_meta.runtime.loop import CycleResult

META_KEYS = ("meta/reward", "meta/reward_used", "meta/R_pi", "meta/R_pi_prime", "teacher/loss", "teacher/entropy",
             "teacher/log_std_mean", "teacher/action_mean", "teacher/action_std")


@dataclass
class EpochLog:
    """What one epoch collects for its row (meta/*, teacher/*, the rollouts' returns, the teacher's start depths)."""

    meta: dict = field(default_factory=lambda: {k: [] for k in META_KEYS})
    signals: dict = field(default_factory=dict)  # meta/rewards' signals by name: [one value a look-ahead]
    explore_returns: list = field(default_factory=list)  # D0's finished episodes
    look_returns: list = field(default_factory=list)  # D1's
    pi_returns: list = field(default_factory=list)  # D_pi's
    start_depths: list = field(default_factory=list)  # --teacher_start student: each D0 branch's depth


@dataclass
class MetaState:
    """What Algorithm 1 carries from cycle to cycle: R_pi (line 10 gives the next cycle's line 7 its baseline; None
    until measured, or when the budget cut its rollout short) and this epoch's log. Checkpointed (part 'meta_state')."""

    absent_from_old_checkpoints = True  # (the loop state's `extra` dict held it before)
    r_pi: Optional[float] = None
    epoch: EpochLog = field(default_factory=EpochLog)

    def get_state(self) -> dict:
        return {"r_pi": self.r_pi, "epoch": self.epoch}

    def set_state(self, st: dict) -> None:
        self.r_pi, self.epoch = st["r_pi"], st["epoch"]

    def from_old_loop_state(self, loop) -> None:
        """A checkpoint from before this class: its loop state's `extra` dict held the same."""
        ex = getattr(loop, "extra", None) or {}
        self.r_pi = ex.get("r_pi")
        self.epoch = EpochLog(ex.get("meta", EpochLog().meta), {}, ex.get("explore_returns", []),
                              ex.get("look_returns", []), ex.get("pi_returns", []), ex.get("start_depths", []))


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


class Explored(NamedTuple):
    """D0 and what the cycle needs of how it was drawn."""
    ro: Rollout
    sampled: Sampled  # the sampler's means and log-densities (before the look-ahead moves the variance teacher)
    qs: np.ndarray  # [T] the student's Q(s, mu(s)) on D0 before this cycle's updates (rollout/Q_mean)


class LookAhead(NamedTuple):
    """What pi -> pi' on D0 gave."""
    ro1: Rollout  # D1, pi' from the same resets as D_pi
    r_pi_prime: float
    losses: list  # [TrainResult] of the update on D0
    signals: dict  # meta/rewards' signals by name


def measure(runner, policy, n: int, seed: Optional[int], mode: str, tape=None) -> tuple[Rollout, float]:
    """R of the deterministic student: n steps from fresh resets (seeds seed, seed + 1, ...), or continuing the
    runner's episode in progress when seed is None (--rollout_starts continue); tape records its states."""
    ro = runner.run(n, policy.greedy, start_seed=seed, tape=tape)
    return ro, meta_reward.policy_return(ro, mode)


def reset_seeds(sch, rng: np.random.Generator) -> tuple[Optional[int], Optional[int]]:
    """The reset seeds of the rollouts behind R_pi and R_pi' (the same under --paired_starts); None, None when each
    continues its env's episode (--rollout_starts continue)."""
    if sch.rollout_starts != "reset":
        return None, None
    seed = meta_reward.start_seed(rng)
    return seed, seed if sch.paired_starts else meta_reward.start_seed(rng)


def measure_pi(m, sch, st: MetaState, n: int, seed: Optional[int]) -> Optional[Rollout]:
    """Lines 2-3 / 10: D_pi and R_pi (kept only when the rollout was not cut short by the budget)."""
    if n <= 0:
        return None
    tape = m.start.tape_for_pi()
    ro, r_pi = measure(m.runner_pi, m.student, n, seed, sch.meta_reward, tape)
    m.start.keep(tape)
    st.epoch.pi_returns += ro.episode_returns
    st.r_pi = r_pi if n == sch.nb_eval_steps else None
    return ro


def explore(m, sch, st: MetaState, n: int, branch_rng) -> Optional[Explored]:
    """Line 4: D0 from the teacher; stored alone in m.d0 for the look-ahead."""
    if n <= 0:
        return None
    ro, depths = m.start.collect(m.runner0, n, m.explorer.sample, branch_rng)
    st.epoch.start_depths.extend(depths)
    sampled = m.explorer.density(ro.obs0, ro.raw_actions)  # before the look-ahead moves the variance teacher's mean
    qs = actor_q(m.learner, ro.obs0)  # the student's Q(s, mu(s)) before this cycle
    st.epoch.explore_returns += ro.episode_returns
    m.diag.see(ro.obs0)
    m.d0.clear()
    store(m.d0, ro, m.cfg.ddpg.reward_scale)
    return Explored(ro, sampled, qs)


def look_ahead(m, sch, st: MetaState, n: int, seed1: Optional[int]) -> LookAhead:
    """Lines 5-6: pi -> pi' on D0 alone, the signals measured around it; D1 of pi' and R_pi'."""
    d0 = m.d0.get(np.arange(len(m.d0))) if m.signals else None  # D0's transitions as a Batch [T, ...]
    memos = {name: s.before(m.learner, d0) for name, s in m.signals.items()}
    losses = m.trainer.train(m.d0, sch.nb_train_steps)
    signals = {name: s.after(m.learner, d0, memos[name]) for name, s in m.signals.items()}
    m.student.refresh()
    tape = m.start.tape_for_d1()
    ro1, r_pi_prime = measure(m.runner1, m.student, n, seed1, sch.meta_reward, tape)
    m.start.keep(tape)
    st.epoch.look_returns += ro1.episode_returns
    for name, v in signals.items():  # logged in every look-ahead, whether or not the teacher steps
        st.epoch.signals.setdefault(name, []).append(v)
    return LookAhead(ro1, r_pi_prime, losses, signals)


def reward_teacher(m, sch, st: MetaState, d0: Explored, look: LookAhead) -> None:
    """Lines 7-8: Delta = R_pi' - R_pi, the reward plug-in's number for the teacher, its steps on D0; logged."""
    delta = look.r_pi_prime - st.r_pi
    used = m.reward(delta, look.signals)
    T, ro0 = m.teacher, d0.ro
    ts = T.stats(ro0.obs0, ro0.raw_actions, d0.sampled.means, np.float32(used))
    T.train(ro0.obs0, ro0.raw_actions, used, sch.nb_teacher_steps, d0.sampled)
    values = (delta, used, st.r_pi, look.r_pi_prime, float(ts.loss), float(ts.entropy), float(ts.log_std_mean),
              float(ts.action_mean), float(ts.action_std))
    for k, v in zip(META_KEYS, values, strict=True):
        st.epoch.meta[k].append(v)


def add_to_replay(m, sch, rollouts: tuple, first_cycle: bool) -> None:
    """Line 9: B <- B + D_pi + D0 + D1 (D_pi: with --no-pi_in_replay only the first one, line 3; D0 unless
    --no-d0_in_replay); then the normaliser sees them, once."""
    ro_pi, ro0, ro1 = rollouts
    pi_in = sch.pi_in_replay or first_cycle
    new = [ro for ro in (ro_pi if pi_in else None, ro0 if sch.d0_in_replay else None, ro1) if ro is not None]
    for ro in new:
        store(m.buffer, ro, m.cfg.ddpg.reward_scale)
    if m.learner.obs_rms is not None and new:
        m.learner.obs_rms.update(np.concatenate([ro.obs0 for ro in new]))


def update_student(m, sch) -> list:
    """Line 11: the student on B; then the acting snapshots of pi and the teacher are refreshed."""
    losses = m.trainer.train(m.buffer, sch.nb_train_steps)
    m.student.refresh()
    m.explorer.refresh()
    return losses


def run_cycle(m, seeds, st: MetaState, sizes: CycleSizes, first_cycle: bool, say) -> CycleResult:
    """One cycle of Algorithm 1 (the module docstring) with rollouts of `sizes`. seeds.meta: the reset seeds of the
    rollouts behind R_pi and R_pi'; seeds.branch: where D0 branches (--teacher_start student); say: logs one line."""
    sch = m.cfg.schedule
    seed, seed1 = reset_seeds(sch, seeds.meta)
    ro_pi = measure_pi(m, sch, st, sizes.pi, seed)
    d0 = explore(m, sch, st, sizes.d0, seeds.branch)
    look, losses = None, []
    if d0 is not None and sizes.d1 > 0:
        snap = m.snapshot() if sch.lookahead == "copy" else None
        look = look_ahead(m, sch, st, sizes.d1, seed1)
        losses += look.losses
        if sizes.d1 == sch.nb_eval_steps and st.r_pi is not None:
            reward_teacher(m, sch, st, d0, look)
        else:
            say(f"the budget cut this cycle's rollouts short (D_pi {sizes.pi}, D1 {sizes.d1} of {sch.nb_eval_steps} "
                f"steps): no meta reward, the teacher took no step")
        if snap is not None:
            snap.restore()
        st.r_pi = look.r_pi_prime if sch.meta_baseline == "previous" and sizes.d1 == sch.nb_eval_steps else None
    elif d0 is not None:
        say("the budget cut this cycle's rollouts short (no D1): no meta reward, the teacher took no step")
    rollouts = (ro_pi, d0.ro if d0 else None, look.ro1 if look else None)
    add_to_replay(m, sch, rollouts, first_cycle)
    losses += update_student(m, sch)
    checks = {"teacher_actions": d0.ro.raw_actions if d0 else [], "meta_reward": st.epoch.meta["meta/reward"][-1:]}
    return CycleResult(sum(sizes), d0.ro if d0 else None, d0.qs if d0 else np.zeros(0), losses, checks,
                       tuple(ro for ro in rollouts if ro is not None))
