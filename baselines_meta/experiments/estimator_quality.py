"""How well does a meta reward estimate the effect of D0 on the student? Measured on frozen snapshots of a meta run.

    python -m baselines_meta.experiments.estimator_quality --env Pendulum-v1 --snapshots 15000 45000 --trials 60

For each snapshot (a seeded meta run trained to that many env steps with the default settings, then restored from its
checkpoint), each trial draws a fresh D0 from the teacher, updates a copy of the student on it (pi -> pi', the
look-ahead of Algorithm 1 line 5) and measures:
  - the true effect of D0: the mean return of pi' minus that of pi over `--true_starts` fixed start states (full
    episodes; the same starts for both);
  - the new default estimator: R_pi' - R_pi, each the return of an nb_eval_steps rollout from the same fresh reset seed
    (meta_reward 'return', meta_baseline 'fresh', paired starts);
  - the old estimator: the mean reward per step of pi' over nb_eval_steps steps minus that of pi over the
    nb_eval_steps steps just before, on one env whose episodes continue across rollouts (meta_reward 'step',
    meta_baseline 'previous'), times nb_eval_steps to put it on the same scale.
It prints and writes (JSON, to --out: logs/teacher/estimator_quality.json by default, git ignores logs/) the
correlation of each estimator with the true effect over the trials, and their spreads.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else float("nan")


def _rank_corr(x: np.ndarray, y: np.ndarray) -> float:
    return _corr(np.argsort(np.argsort(x)).astype(float), np.argsort(np.argsort(y)).astype(float))


def train_snapshot(env_id: str, steps: int, seed: int, run_dir: str) -> None:
    """A default meta run of `steps` env steps (its final checkpoint is the snapshot)."""
    from baselines_meta.api import train

    train(alg="meta", env=env_id, num_timesteps=steps, seed=seed, eval_episodes=0, log_path=run_dir, log_formats="csv",
          progress_bar=False)


def measure_snapshot(run_dir: str, trials: int, true_starts: int, seed: int) -> dict:
    """Restore a snapshot and, over `trials` fresh D0s, the true effect of each and both estimators' values, with their correlations."""
    from baselines_meta.ddpg.student import store
    from baselines_meta.flags import resume_config
    from baselines_meta.meta import reward as meta_reward
    from baselines_meta.meta.learn import StudentSnapshot, build
    from baselines_meta.runtime.context import RunContext
    from baselines_meta.runtime.envs import EnvRunner, evaluate, make_env
    from baselines_meta.runtime.loop import restore

    cfg = resume_config(argparse.Namespace(log_path=run_dir, progress_bar=False))
    ctx = RunContext(cfg, resume=True, finished_ok=True)
    try:
        m = build(cfg, ctx.seeds, ctx.envs, ctx.logger, ctx.track_replay)
        restore(m.checkpointed(), ctx.resume.state)
        m.student.refresh()
        m.explorer.refresh()
        sch = cfg.schedule
        rng = np.random.default_rng(seed)
        true_env = make_env(cfg.env_id)
        old_runner = EnvRunner(make_env(cfg.env_id), seed + 1)  # the old D1 env: episodes continue across rollouts
        new_runner = EnvRunner(make_env(cfg.env_id), seed + 2)

        def true_return() -> float:
            rets = []
            for i in range(true_starts):
                true_env.reset(seed=10_000_000 + i)  # evaluate() resets without a seed: seed the env's stream first
                rets += evaluate(true_env, m.runner0.scaler, m.student.greedy, 1)
            return float(np.mean(rets))

        def new_estimate(s: int) -> float:
            ro = new_runner.run(sch.nb_eval_steps, m.student.greedy, start_seed=s)
            return meta_reward.policy_return(ro, "return")

        true_pi = true_return()
        rows = []
        for _ in range(trials):
            s = int(rng.integers(0, 2**31 - 2**20))
            r_pi_new = new_estimate(s)
            r_pi_old = float(np.mean(old_runner.run(sch.nb_eval_steps, m.student.greedy).rewards))
            ro0 = m.runner0.run(sch.nb_explore_steps, m.explorer.sample)
            m.d0.clear()
            store(m.d0, ro0, cfg.ddpg.reward_scale)
            snap = StudentSnapshot(m.learner)
            m.trainer.train(m.d0, sch.nb_train_steps)
            m.student.refresh()
            true_effect = true_return() - true_pi
            new = new_estimate(s) - r_pi_new
            old = (float(np.mean(old_runner.run(sch.nb_eval_steps, m.student.greedy).rewards)) - r_pi_old) * sch.nb_eval_steps
            snap.restore()
            m.student.refresh()
            rows.append((true_effect, new, old))
        t, new, old = (np.array(c) for c in zip(*rows))
        return {"steps": int(ctx.resume.state["loop"].steps), "trials": trials, "true_starts": true_starts,
                "true_return_pi": true_pi, "true_effect_mean": float(t.mean()), "true_effect_std": float(t.std()),
                "new": {"corr": _corr(new, t), "rank_corr": _rank_corr(new, t), "std": float(new.std()),
                        "sign_agreement": float(np.mean(np.sign(new) == np.sign(t)))},
                "old": {"corr": _corr(old, t), "rank_corr": _rank_corr(old, t), "std": float(old.std()),
                        "sign_agreement": float(np.mean(np.sign(old) == np.sign(t)))},
                "rows": [list(map(float, r)) for r in rows]}
    finally:
        ctx.close()


def parser():
    """The command line of `python -m baselines_meta.experiments.estimator_quality`."""
    from baselines_meta.analysis.cli import ToolParser, int_at_least

    p = ToolParser(prog="python -m baselines_meta.experiments.estimator_quality", description=__doc__.split("\n")[0])
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--snapshots", nargs="+", type=int_at_least(1), default=[15000, 45000], help="env steps of the snapshots")
    p.add_argument("--trials", type=int_at_least(2), default=60)
    p.add_argument("--true_starts", type=int_at_least(1), default=20, help="fixed start states of the true effect")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", default=os.path.join("logs", "teacher", "estimator_quality.json"),
                   help="the JSON file (git ignores logs/; --out results/teacher/estimator_quality.json replaces the "
                        "committed one)")
    return p


def main(argv=None) -> int:
    """The CLI: trains and measures each snapshot, prints a summary line per snapshot and writes the JSON to --out."""
    from baselines_meta.analysis.cli import file_error, write_text

    p = parser()
    a = p.parse_args(argv)
    if file_error(a.out):
        p.error(f"--out: {file_error(a.out)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = {"env": a.env, "seed": a.seed, "snapshots": []}
    with tempfile.TemporaryDirectory() as tmp:
        for steps in a.snapshots:
            d = os.path.join(tmp, f"snap-{steps}")
            train_snapshot(a.env, steps, a.seed, d)
            r = measure_snapshot(d, a.trials, a.true_starts, a.seed)
            out["snapshots"].append(r)
            print(f"{a.env} at {r['steps']} steps, {a.trials} trials: true effect of D0 {r['true_effect_mean']:+.1f} "
                  f"± {r['true_effect_std']:.1f}; correlation with it: new {r['new']['corr']:+.2f} "
                  f"(rank {r['new']['rank_corr']:+.2f}, std {r['new']['std']:.1f}), old {r['old']['corr']:+.2f} "
                  f"(rank {r['old']['rank_corr']:+.2f}, std {r['old']['std']:.1f})", flush=True)
    write_text(a.out, json.dumps(out, indent=1))
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
