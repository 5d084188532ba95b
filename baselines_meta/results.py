"""Loading runs written by `compare` (<root>/<env>/<alg>/seed-<n>/) and the statistics of the paper's Table 2."""
from __future__ import annotations

import csv
import json
import os
from typing import NamedTuple, Optional

import numpy as np

class Run(NamedTuple):
    env: str
    alg: str
    seed: int
    steps: np.ndarray  # [E] env steps per worker at each evaluation
    returns: np.ndarray  # [E] mean evaluation return at each evaluation
    budget: int  # num_timesteps of the run
    done: bool  # reached its budget
    dir: str


def load_run(d: str, env: str, alg: str, seed: int) -> Optional[Run]:
    path = os.path.join(d, "evaluations.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    steps = np.array([int(r["steps"]) for r in rows])
    rets = np.array([np.mean([float(v) for k, v in r.items() if k.startswith("return_") and v != ""]) for r in rows])
    try:
        with open(os.path.join(d, "config.json")) as f:
            budget = int(json.load(f)["schedule"]["num_timesteps"])
    except (OSError, KeyError, ValueError):
        budget = int(steps[-1])
    return Run(env, alg, seed, steps, rets, budget, bool(steps[-1] >= budget), d)


def load_runs(root: str) -> list[Run]:
    out = []
    if not os.path.isdir(root):
        return out
    for env in sorted(os.listdir(root)):
        for alg in sorted(os.listdir(os.path.join(root, env))) if os.path.isdir(os.path.join(root, env)) else []:
            ad = os.path.join(root, env, alg)
            for sd in sorted(os.listdir(ad)) if os.path.isdir(ad) else []:
                if sd.startswith("seed-"):
                    r = load_run(os.path.join(ad, sd), env, alg, int(sd.split("-", 1)[1]))
                    if r is not None:
                        out.append(r)
    return out


def common_curve(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds' curves on a common step grid (the first run's evaluation steps up to the shortest run),
    interpolated where a seed evaluated at other steps. Returns steps [E] and returns [S, E]."""
    end = min(r.steps[-1] for r in runs)
    grid = runs[0].steps[runs[0].steps <= end]
    return grid, np.stack([np.interp(grid, r.steps, r.returns) for r in runs])


def bootstrap_ci(x: np.ndarray, rng: np.random.Generator, n: int = 2000, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over seeds (axis 0), per column."""
    s = x.shape[0]
    idx = rng.integers(0, s, size=(n, s))
    means = x[idx].mean(axis=1)  # [n, E]
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return np.quantile(means, lo, axis=0), np.quantile(means, hi, axis=0)


def final_score(r: Run, frac: float = 0.1) -> float:
    """Mean evaluation return over the last `frac` of training (evaluations at steps >= (1 - frac) * last)."""
    m = r.steps >= (1 - frac) * r.steps[-1]
    return float(r.returns[m].mean())


def prob_better(a: list[float], b: list[float]) -> float:
    """P(X > Y) for X from a's seeds and Y from b's seeds, every pair once, ties count half."""
    if not a or not b:
        return float("nan")
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def markdown_main(prog: str, doc: str, default_root: str, build, argv=None) -> int:
    """The CLI of a markdown report over run directories: print build(root), and write it to --out when given."""
    import argparse

    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    p.add_argument("root", nargs="?", default=default_root)
    p.add_argument("--out", default=None, help="also write the markdown to this file")
    a = p.parse_args(argv)
    md = build(a.root)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
    return 0
