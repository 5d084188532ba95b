"""Table 2 in markdown: `python -m baselines_meta.table results/runs [--out results/table2.md]`.

Per task and algorithm, over seeds: (a) the mean evaluation return over the last 10% of training, mean +- std;
(b) the maximum of the seed-averaged evaluation curve (+- the std over seeds at that point); the paper's Table 2
beside them; and P(meta > ddpg), the probability that a meta seed's (a) beats a ddpg seed's (all pairs).
Unfinished runs are included and marked with the share of their budget they reached.
"""
from __future__ import annotations

import sys

import numpy as np

from baselines_meta import paper
from baselines_meta.results import common_curve, final_score, load_runs, markdown_main, prob_better


def fmt(m: float, s: float) -> str:
    if not np.isfinite(m):
        return "–"
    digits = 2 if abs(m) < 100 else 0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def build_table(root: str) -> str:
    runs = load_runs(root)
    if not runs:
        raise SystemExit(f"baselines_meta.table: error: no runs with evaluations under {root}")
    envs = sorted({r.env for r in runs}, key=paper.order_key)
    algs = [a for a in ("meta", "meta-variance", "ddpg") if any(r.alg == a for r in runs)]
    lines = ["| task | alg | seeds | steps (share of budget) | last 10% of training | max of seed-mean curve | paper (Table 2) | P(meta > ddpg) |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for env in envs:
        scores = {}
        for alg in algs:
            rs = [r for r in runs if r.env == env and r.alg == alg]
            if not rs:
                continue
            fs = [final_score(r) for r in rs]
            scores[alg] = fs
            grid, curves = common_curve(rs)
            mean = curves.mean(0)
            k = int(np.argmax(mean))
            share = min(r.steps[-1] / r.budget for r in rs)
            steps = f"{int(grid[-1]):,}" + ("" if all(r.done for r in rs) else f" ({share:.0%}, running)")
            t = paper.task(env)
            p = fmt(*(t.table2_meta if alg == "meta" else t.table2_ddpg)) if t and alg in ("meta", "ddpg") else "–"
            pb = f"{prob_better(scores.get('meta', []), fs):.2f}" if alg == "ddpg" and "meta" in scores else ""
            lines.append(f"| {env} | {alg} | {len(rs)} | {steps} | {fmt(np.mean(fs), np.std(fs))} | "
                         f"{fmt(mean[k], curves[:, k].std())} | {p} | {pb} |")
    notes = ["", "Our numbers: gymnasium v4 tasks (MuJoCo 3+), deterministic evaluation episodes of the student; std is the",
             "population std over seeds. The paper's numbers are on gym v1 tasks (see results/README.md for the protocol)."]
    return "\n".join(lines + notes) + "\n"


def main(argv=None) -> int:
    return markdown_main("python -m baselines_meta.table", __doc__, "results/runs", build_table, argv)


if __name__ == "__main__":
    sys.exit(main())
