"""Algorithm 1 ("Teacher: Learn to Explore"), one cycle at a time:

  1. D0: nb_explore_steps of the teacher on its own env
  2. student pi -> pi': nb_train_steps DDPG steps on minibatches of D0 only
  3. D1: nb_eval_steps of the deterministic pi' on a second env; R_pi' from D1
  4. meta reward R(D0) = R_pi' - R_pi (R_pi from the previous cycle; the first from a D1 drawn before cycle 1)
  5. teacher: nb_teacher_steps meta-policy-gradient steps on D0 (gradients averaged over ranks)
  6. B <- B + D0 + D1; the observation normaliser sees D0 and D1 once each
  7. student: nb_train_steps DDPG steps on B
D0, D1 and evaluation each have their own env whose episodes continue across cycles; D0 and D1 steps count
toward num_timesteps. With lookahead 'inplace' (Algorithm 1) pi' replaces pi; 'copy' restores pi after step 3.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np

from baselines_meta import mpi
from baselines_meta.ddpg.learn import (LoopState, ReferenceStats, RunOutcome, StudentTrainer, actor_q, add_train_results,
                                       finish_cycle, restore, snapshot, store)
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.envs import Rollout
from baselines_meta.meta.teacher import TeacherLearner, TeacherPolicy
from baselines_meta.replay import ReplayBuffer
from baselines_meta.training import Evaluator, ProgressBar, RunContext


def estimate_return(ro: Rollout, mode: str, previous: Optional[float]) -> Optional[float]:
    """R_pi from a D1 rollout: mean reward per step, or mean return of the episodes that finished in it.

    'episodic' with no finished episode keeps the previous estimate (so that cycle's meta reward is 0).
    """
    if mode == "step":
        return float(np.mean(ro.rewards)) if len(ro.rewards) else previous
    return float(np.mean(ro.episode_returns)) if ro.episode_returns else previous


class StudentSnapshot:
    """All of the student's mutable state (networks, targets, Adam slots, counters), for `--lookahead copy`."""

    def __init__(self, learner: DDPGLearner):
        self.vars = (list(learner.sync_variables()) + list(learner.actor_opt.variables) +
                     list(learner.critic_opt.variables) + [learner.train_steps])
        self.values = [v.numpy() for v in self.vars]

    def restore(self) -> None:
        for v, x in zip(self.vars, self.values, strict=True):
            v.assign(x)


def cycle_sizes(remaining: int, n0: int, n1: int) -> tuple[int, int]:
    """D0 and D1 sizes of the next cycle, shortened so the run ends exactly at the budget."""
    a = min(n0, remaining)
    return a, min(n1, remaining - a)


META_KEYS = ("meta/reward", "meta/R_pi", "meta/R_pi_prime", "teacher/loss", "teacher/entropy", "teacher/log_std_mean",
             "teacher/action_mean", "teacher/action_std")


def _fresh_epoch_extra() -> dict:
    return {"meta": {k: [] for k in META_KEYS}, "explore_returns": [], "look_returns": []}


def learn(ctx: RunContext) -> RunOutcome:
    cfg, sch = ctx.cfg, ctx.cfg.schedule
    dc = dataclasses.replace(cfg.ddpg, noise_type="none")  # the teacher replaces the noise process
    runner0 = ctx.make_runner("train")  # D0 (teacher), monitor <rank>.monitor.csv
    runner1 = ctx.make_runner("d1", monitor_tag="d1")  # D1 (look-ahead student), <rank>.d1.monitor.csv
    O, A = runner0.obs_dim, runner0.act_dim
    learner = DDPGLearner(O, A, dc, jit_compile=cfg.fast, seed=ctx.env_seed("noise"))
    teacher = TeacherLearner(O, A, cfg.teacher, learner.obs_rms, dc.obs_clip, actor=learner.actor, jit_compile=cfg.fast)
    mpi.sync_from_root(learner.sync_variables() + teacher.sync_variables())
    student = DDPGPolicy(learner, ctx.noise_rng, fast=cfg.fast)
    explorer = TeacherPolicy(teacher, ctx.teacher_rng, fast=cfg.fast)
    buffer = ReplayBuffer(dc.buffer_size, O, A, dc.truncation_as_terminal)
    d0 = ReplayBuffer(sch.nb_explore_steps, O, A, dc.truncation_as_terminal)
    trainer = StudentTrainer(learner, ctx.replay_rng, fused=cfg.fast)
    evaluator = Evaluator(ctx)
    budget = sch.num_timesteps
    ctx.track_replay(buffer)
    ref_stats = ReferenceStats(learner, student, ctx.replay_rng)
    parts = {"learner": learner, "teacher": teacher, "runner0": runner0, "runner1": runner1, "evaluator": evaluator,
             "ref_stats": ref_stats}
    loop = LoopState(extra=_fresh_epoch_extra())
    if ctx.resume_state is not None:
        loop = restore(parts, ctx.resume_state)
    else:
        # Algorithm 1 lines 2-3: D1 from the initial pi gives R_pi; B = D1.
        n_init = min(sch.nb_eval_steps, budget)
        ro1 = runner1.run(n_init, student.greedy)
        loop.extra["r_pi"] = estimate_return(ro1, sch.meta_reward, None)
        store(buffer, ro1, dc.reward_scale)
        if learner.obs_rms is not None:
            learner.obs_rms.update(ro1.obs0)
        loop.steps = n_init
    student.refresh()
    explorer.refresh()

    def epoch_extra() -> dict:
        ex = loop.extra
        out = {k: (float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else float("nan")) for k, v in ex["meta"].items()}
        out["explore/return"] = float(np.mean(ex["explore_returns"])) if ex["explore_returns"] else float("nan")
        out["lookahead/return"] = float(np.mean(ex["look_returns"])) if ex["look_returns"] else float("nan")
        out.update(ref_stats(buffer))
        r_pi = ex["r_pi"]
        loop.extra = _fresh_epoch_extra()
        loop.extra["r_pi"] = r_pi
        return out

    ctx.install_signal_handlers()
    bar = ProgressBar(budget, cfg.progress_bar)
    epoch_t0 = time.time() - loop.epoch_elapsed
    while loop.steps < budget:
        ex = loop.extra
        n0, n1 = cycle_sizes(budget - loop.steps, sch.nb_explore_steps, sch.nb_eval_steps)
        # 1. D0 from the teacher
        ro0 = runner0.run(n0, explorer.sample)
        qs = actor_q(learner, ro0.obs0)  # rollout/Q_mean: the student's Q(s, mu(s)) before this cycle's updates
        ex["explore_returns"] += ro0.episode_returns
        d0.clear()
        store(d0, ro0, dc.reward_scale)
        losses, ro1 = [], None
        if n1 > 0:
            snap = StudentSnapshot(learner) if sch.lookahead == "copy" else None
            # 2. pi -> pi' on D0 only
            res = trainer.train(d0, sch.nb_train_steps)
            losses += res
            add_train_results(loop.stats, res)
            student.refresh()
            # 3. D1 from the deterministic pi'
            ro1 = runner1.run(n1, student.greedy)
            ex["look_returns"] += ro1.episode_returns
            r_pi = ex["r_pi"]
            r_pi_prime = estimate_return(ro1, sch.meta_reward, r_pi)
            # 4. meta reward
            meta_reward = (r_pi_prime - r_pi) if (r_pi is not None and r_pi_prime is not None) else 0.0
            # 5. teacher step(s) on D0 with the log-density of the raw Gaussian samples
            ts = teacher.stats(ro0.obs0, ro0.raw_actions, np.float32(meta_reward))
            teacher.train(ro0.obs0, ro0.raw_actions, meta_reward, sch.nb_teacher_steps)
            if snap is not None:
                snap.restore()
            for k, v in zip(META_KEYS, (meta_reward, r_pi, r_pi_prime, float(ts.loss), float(ts.entropy),
                                        float(ts.log_std_mean), float(ts.action_mean), float(ts.action_std)), strict=True):
                ex["meta"][k].append(np.nan if v is None else v)
            ex["r_pi"] = r_pi_prime
        # 6. B <- B + D0 + D1; normaliser sees each once
        store(buffer, ro0, dc.reward_scale)
        new_obs = [ro0.obs0]
        if ro1 is not None:
            store(buffer, ro1, dc.reward_scale)
            new_obs.append(ro1.obs0)
        if learner.obs_rms is not None:
            learner.obs_rms.update(np.concatenate(new_obs))
        # 7. student on B
        res = trainer.train(buffer, sch.nb_train_steps)
        losses += res
        add_train_results(loop.stats, res)
        student.refresh()
        explorer.refresh()
        n = n0 + n1
        loop.steps += n
        loop.epoch_steps += n
        loop.stats.add_rollout(ro0, qs)
        ctx.check_finite(loop.steps, teacher_actions=ro0.raw_actions, Q=qs, critic_loss=[r.critic_loss for r in losses],
                         actor_loss=[r.actor_loss for r in losses], meta_reward=ex["meta"]["meta/reward"][-1:])
        if evaluator.due(loop.steps) or (loop.steps >= budget and evaluator.n_total > 0):
            loop.stats.eval = evaluator.run(loop.steps, student.greedy, lambda o: actor_q(learner, o))
            loop.last_eval = loop.stats.eval.returns
        bar.update(loop.steps, f"eval {np.mean(loop.last_eval):.1f}" if loop.last_eval else "")
        n_cycles = sch.nb_epoch_cycles if loop.steps < budget else loop.cycle + 1  # the last epoch may be short
        epoch_t0 = finish_cycle(ctx, loop, n_cycles, epoch_t0, learner.sync_variables() + teacher.sync_variables(),
                                epoch_extra, lambda: snapshot(parts, loop))
    return RunOutcome(loop.steps, loop.last_eval, learner, buffer, teacher)
