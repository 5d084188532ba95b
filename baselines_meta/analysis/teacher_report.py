"""Does the teacher learn, and what do the arms of `run/teacher_experiments` give? A markdown report.

    python -m baselines_meta.analysis.teacher_report results/teacher [--out results/teacher/README-table.md]

Reads <root>/<arm>/<env>/<alg>/seed-<n>/ (progress.csv, evaluations.csv). Per arm and task, over seeds (mean ± std):
the evaluation return over the last 30% of training, its max, the teacher's drift from its start, its KL from its start,
its log-std at 0%, 50% and 100% of training (epoch means), the share of positive meta rewards, and the return of the
teacher's own episodes (explore/return) over the last 30%.
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


def arm_rows(root: str) -> list[tuple]:
    """(arm, run, progress.csv rows) of every run under root/<arm>/, arms sorted."""
    out = []
    for arm in sorted(os.listdir(root)):
        ad = os.path.join(root, arm)
        if not os.path.isdir(ad):
            continue
        for r in load_runs(ad):
            prog = _progress(r.dir)
            out.append((arm, r, prog))
    return out


def build_report(root: str) -> str:
    """The report's markdown table: one row per task, arm and alg, statistics over seeds; exits if there are no runs."""
    rows = arm_rows(root)
    if not rows:
        raise SystemExit(f"baselines_meta.analysis.teacher_report: error: no runs under {root}")
    lines = ["| task | arm | alg | seeds | eval, last 30% | eval max | drift | KL from start | log-std 0% / 50% / 100% | "
             "P(Δ > 0) | teacher's episodes, last 30% |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    keys = sorted({(r.env, arm, r.alg) for arm, r, _ in rows})
    for env, arm, alg in keys:
        group = [(r, p) for a, r, p in rows if (r.env, a, r.alg) == (env, arm, alg)]
        ev = [final_score(r, 0.3) for r, _ in group]
        mx = [float(r.returns.max()) for r, _ in group]
        meta = alg != "ddpg"

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
                     _ms([np.nanmean(_col(p, "meta/reward_pos_frac")) for _, p in group], 2), _ms(late_mean("explore/return"))]
        else:
            cells = ["–"] * 5
        done = sum(r.done for r, _ in group)
        seeds = str(len(group)) if done == len(group) else f"{len(group)} ({done} finished)"
        lines.append(f"| {env} | {arm} | {alg} | {seeds} | {_ms(ev)} | {_ms(mx)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.analysis.teacher_report`): prints the report and writes it to --out when given."""
    return markdown_main("python -m baselines_meta.analysis.teacher_report", __doc__, "results/teacher", build_report, argv)


if __name__ == "__main__":
    sys.exit(main())
