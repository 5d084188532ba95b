"""Does the teacher learn, and what do the arms of `run/teacher_experiments` give? A markdown report.

    python -m baselines_meta.analysis.teacher_report results/teacher [--out results/teacher/README-table.md]
    python -m baselines_meta.analysis.teacher_report results/controls --arms reset-start student-start student-start-frozen

Reads <root>/<arm>/<env>/<alg>/seed-<n>/ (progress.csv, evaluations.csv, 0.monitor.csv); `--arms` keeps only those
arms. Per arm and task, over seeds (mean ± std of the per-seed values): the evaluation return over the last 30% of
training, its max, the teacher's drift from its start, its KL from its start, its log-std at 0%, 50% and 100% of
training (epoch means), the share of positive and of zero meta rewards (epoch means over the run), the mean depth in
the student's episode at which D0's episodes started (teacher/start_depth, epoch means over the run; 0 from resets),
and the return (explore/return, epoch means) and length (0.monitor.csv, the teacher's episodes counted from their start
or branch) of the teacher's own episodes over the last 30%.
"""
from __future__ import annotations

import csv
import os
import sys

import numpy as np

from baselines_meta.analysis.results import final_score, load_runs, markdown_main


def _progress(d: str) -> list[dict]:
    with open(os.path.join(d, "progress.csv")) as f:
        return list(csv.DictReader(f))


def _col(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key, "") != "" else np.nan for r in rows])


def _ms(x: list[float], digits: int = 0) -> str:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return "–"
    return f"{x.mean():.{digits}f} ± {x.std():.{digits}f}"


def teacher_episode_steps(d: str, tail: float = 0.3) -> float:
    """The mean length of the last `tail` share of the teacher's D0 episodes (the run's 0.monitor.csv); nan if none."""
    path = os.path.join(d, "0.monitor.csv")
    if not os.path.exists(path):
        return float("nan")
    with open(path) as f:
        lengths = [float(r["l"]) for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    if not lengths:
        return float("nan")
    return float(np.mean(lengths[int((1 - tail) * len(lengths)):]))


def arm_rows(root: str, arms=None) -> list[tuple]:
    """(arm, run, progress.csv rows) of every run under root/<arm>/ (only `arms` when given), arms sorted."""
    out = []
    for arm in sorted(os.listdir(root)):
        ad = os.path.join(root, arm)
        if not os.path.isdir(ad) or (arms and arm not in arms):
            continue
        for r in load_runs(ad, "baselines_meta.analysis.teacher_report"):
            prog = _progress(r.dir)
            out.append((arm, r, prog))
    return out


def build_report(root: str, args=None) -> str:
    """The report's markdown table: one row per task, arm and alg, statistics over seeds; exits if there are no runs."""
    arms = getattr(args, "arms", None)
    rows = arm_rows(root, arms)
    if not rows:
        raise SystemExit(f"baselines_meta.analysis.teacher_report: error: no runs under {root}"
                         + (f" in arms {', '.join(arms)}" if arms else ""))
    lines = ["| task | arm | alg | seeds | eval, last 30% | eval max | drift | KL from start | log-std 0% / 50% / 100% | "
             "P(Δ > 0) | P(Δ = 0) | start depth | teacher's episodes, last 30%: return | steps |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    keys = sorted({(r.env, arm, r.alg) for arm, r, _ in rows})
    for env, arm, alg in keys:
        group = [(r, p) for a, r, p in rows if (r.env, a, r.alg) == (env, arm, alg)]
        ev = [final_score(r, 0.3) for r, _ in group]
        mx = [float(r.returns.max()) for r, _ in group]
        meta = alg != "ddpg"

        def run_mean(key):
            return [float(np.nanmean(_col(p, key))) if np.isfinite(_col(p, key)).any() else np.nan for _, p in group]

        def last(key):
            return [float(_col(p, key)[-1]) for _, p in group]

        def late_mean(key):
            out = []
            for _, p in group:
                c = _col(p, key)
                out.append(float(np.nanmean(c[int(0.7 * len(c)):])) if np.isfinite(c).any() else np.nan)
            return out

        if meta:
            ls = [_col(p, "teacher/log_std_mean") for _, p in group]
            traj = " / ".join(_ms([c[min(int(f * (len(c) - 1)), len(c) - 1)] for c in ls], 2) for f in (0.0, 0.5, 1.0))
            cells = [_ms(last("teacher/drift"), 2), _ms(last("teacher/kl_init"), 3), traj,
                     _ms(run_mean("meta/reward_pos_frac"), 2), _ms(run_mean("meta/reward_zero_frac"), 2),
                     _ms(run_mean("teacher/start_depth"), 1), _ms(late_mean("explore/return")),
                     _ms([teacher_episode_steps(r.dir) for r, _ in group], 1)]
        else:
            cells = ["–"] * 8
        done = sum(r.done for r, _ in group)
        seeds = str(len(group)) if done == len(group) else f"{len(group)} ({done} finished)"
        lines.append(f"| {env} | {arm} | {alg} | {seeds} | {_ms(ev)} | {_ms(mx)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.analysis.teacher_report`): prints the report and writes it to --out when given."""
    def add_args(p):
        p.add_argument("--arms", nargs="+", default=None, metavar="ARM", help="only these arms (directories of root)")

    return markdown_main("python -m baselines_meta.analysis.teacher_report", __doc__, "results/teacher", build_report, argv,
                         add_args)


if __name__ == "__main__":
    sys.exit(main())
