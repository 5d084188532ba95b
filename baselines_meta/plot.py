"""Learning curves: `python -m baselines_meta.plot results/runs [--out results/plots]`.

Evaluation return vs env steps, one panel per env (a 2x3 grid like the paper's Figure 3 when there are up to six),
algorithms overlaid: the mean over seeds, a band of +-1 std and the bootstrap 95% CI of the mean. PNG and SVG.
`--figure1` draws the paper's Figure 1: meta, meta-variance and ddpg on InvertedDoublePendulum-v4.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from baselines_meta import paper
from baselines_meta.results import bootstrap_ci, common_curve, load_runs

COLORS = {"meta": "tab:red", "meta-variance": "tab:orange", "ddpg": "tab:blue"}


def draw(runs, envs, path_stem: str, title: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(envs)
    cols = 3 if n > 2 else n
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, env in zip(axes.ravel(), envs):
        for alg in ("meta", "meta-variance", "ddpg"):
            rs = [r for r in runs if r.env == env and r.alg == alg]
            if not rs:
                continue
            steps, curves = common_curve(rs)
            mean, std = curves.mean(0), curves.std(0)
            lo, hi = bootstrap_ci(curves, rng)
            c = COLORS.get(alg)
            ax.plot(steps, mean, color=c, label=f"{alg} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
            ax.fill_between(steps, mean - std, mean + std, color=c, alpha=0.12, linewidth=0)
            ax.plot(steps, lo, color=c, lw=0.6, ls="--", alpha=0.7)
            ax.plot(steps, hi, color=c, lw=0.6, ls="--", alpha=0.7)
        ax.set_title(env)
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.text(0.5, 0.01, "line: mean over seeds; shade: ±1 std; dashed: bootstrap 95% CI of the mean",
             ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    out = []
    for ext in ("png", "svg"):
        p = f"{path_stem}.{ext}"
        fig.savefig(p, dpi=110)
        out.append(p)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m baselines_meta.plot", description=__doc__.split("\n")[0])
    p.add_argument("root", nargs="?", default="results/runs")
    p.add_argument("--out", default="results/plots", help="directory for the PNG and SVG files")
    p.add_argument("--figure1", action="store_true", help="meta, meta-variance and ddpg on InvertedDoublePendulum-v4")
    a = p.parse_args(argv)
    runs = load_runs(a.root)
    if not runs:
        print(f"baselines_meta.plot: error: no runs with evaluations under {a.root}", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    if a.figure1:
        envs = sorted({r.env for r in runs if paper.family(r.env) == "InvertedDoublePendulum"})
        if not envs:
            print("baselines_meta.plot: error: no InvertedDoublePendulum runs for --figure1", file=sys.stderr)
            return 2
        files = draw(runs, envs[:1], os.path.join(a.out, "figure1"), "Figure 1: meta exploration policies vs DDPG")
    else:
        envs = sorted({r.env for r in runs}, key=paper.order_key)
        files = draw(runs, envs, os.path.join(a.out, "curves"), "meta vs ddpg")
    print("\n".join(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
