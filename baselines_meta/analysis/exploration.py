"""The hard-exploration suite's metrics, fixed before its runs (`python -m baselines_meta.analysis.exploration
results/exploration [--out results/exploration/table.md]`).

Runs live in <root>/<env>/<arm>/seed-<n>/, <env> the id with '/' replaced by '__' (the id itself is read from
config.json). Per seed: solved (the last-10% mean deterministic evaluation beats the task's bar), ever solved (some
evaluation's mean beats it) and the env steps of the first such evaluation, and discovery (the env steps of the first
training transition that found the reward, `explore/discovered_at`, logged live by the loop). Per arm: the fraction
solved with a Wilson 95% interval, the median steps to solve (seeds that never solved count as never: the median is
"never" when fewer than half did), the fraction that ever discovered the reward. The best ddpg arm of a task has the
highest fraction solved (ties: the lower median steps to solve); each meta arm is compared with it on the fraction
solved by Fisher's exact test, two-sided, alpha 0.05.

Added after the first runs, as diagnostics beside the verdicts (not part of them): the meta arms' fraction of cycles
whose meta reward Delta is exactly 0 (`meta/reward_zero_frac`: the teacher had no signal), and the student critic's
collapse. On these tasks baselines' critic (LayerNorm, L2 1e-2 on its kernels) can fit a constant: L2 shrinks every
kernel to ~1e-33, every hidden unit of its last layer goes dead, and Q no longer depends on the state or the action, so
the actor's gradient is exactly 0 and nothing found later can be learned. A run's critic has collapsed from the first
logged epoch after which `reference_Q_std` (Q's spread over the fixed reference batch of states and actions) stays
below COLLAPSE_STD to the end.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from typing import NamedTuple, Optional

import numpy as np

from baselines_meta import paper
from baselines_meta.analysis.results import final_score, load_run_or_skip, markdown_main, skip

PROG = "baselines_meta.analysis.exploration"
ALPHA = 0.05
COLLAPSE_STD = 1e-6  # the suite's runs end with reference_Q_std either below 1e-7 (collapsed) or above 1e-5
ARMS = ("ddpg-param", "ddpg-normal", "ddpg-ou", "ddpg-none", "meta", "meta-variance", "meta-student")


class SeedResult(NamedTuple):
    """One run's suite metrics."""

    seed: int
    solved: bool
    first_solved_at: Optional[int]  # env steps of the first evaluation beating the bar
    discovered_at: Optional[int]  # env steps of the first transition that found the reward
    final: float  # the last-10% mean evaluation return
    done: bool
    collapsed_at: Optional[int] = None  # env steps from which the critic stayed constant to the end (never: None)
    alive_until: Optional[int] = None  # env steps of the last epoch before that (the end of the run if it never did)
    zero_frac: Optional[float] = None  # meta: the fraction of cycles with Delta exactly 0 (ddpg: None)


def env_dir(env_id: str) -> str:
    """The directory name of an env id ('/' is not allowed in one)."""
    return env_id.replace("/", "__")


def discovered_at(run_dir: str) -> Optional[int]:
    """The first logged `explore/discovered_at` of a run (None when it never discovered the reward)."""
    path = os.path.join(run_dir, "progress.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for row in csv.DictReader(f):
            v = row.get("explore/discovered_at", "")
            if v not in ("", "nan", None) and math.isfinite(float(v)):
                return int(float(v))
    return None


def _rows(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, "progress.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _num(v) -> float:
    return float(v) if v not in ("", None) else math.nan


def collapse(run_dir: str) -> tuple[Optional[int], int]:
    """(collapsed at, alive until): the env steps (total/steps) of the first logged epoch from which the student's
    critic stayed constant over the reference batch to the end (reference_Q_std < COLLAPSE_STD in that row and every
    later one; None if the last logged epoch's critic is alive), and those of the row before it (0 before the first
    row; the last step at which the critic is known alive). Rows without a finite value are skipped."""
    at, alive, prev = None, 0, 0
    for row in _rows(run_dir):
        q = _num(row.get("reference_Q_std"))
        if not math.isfinite(q):
            continue
        steps = int(float(row["total/steps"]))
        if q < COLLAPSE_STD:
            if at is None:
                at, alive = steps, prev
        else:
            at = None
        prev = steps
    return at, (alive if at is not None else prev)


def collapsed_at(run_dir: str) -> Optional[int]:
    """The env steps of the first epoch of the critic's collapse to the end of the run (collapse(); None: alive)."""
    return collapse(run_dir)[0]


def zero_fraction(run_dir: str) -> Optional[float]:
    """A meta run's fraction of cycles whose meta reward was exactly 0: the mean over epochs of meta/reward_zero_frac
    (each epoch's fraction of its cycles; None for a run that logs none, i.e. ddpg)."""
    x = [_num(r.get("meta/reward_zero_frac")) for r in _rows(run_dir)]
    x = [v for v in x if math.isfinite(v)]
    return float(np.mean(x)) if x else None


def run_config(run_dir: str) -> Optional[dict]:
    """A run's config.json; None (named on stderr) when it is missing or damaged."""
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            cfg = json.load(f)
        cfg["env_id"], cfg["alg"], int(cfg["seed"])  # noqa: B018
        return cfg
    except (OSError, ValueError, KeyError, TypeError) as e:
        skip(PROG, run_dir, f"config.json: {type(e).__name__}: {e}")
        return None


def seed_result(run_dir: str, bar: float) -> Optional[SeedResult]:
    """The metrics of one run directory (None without evaluations, or with a damaged file: named on stderr)."""
    cfg = run_config(run_dir)
    r = load_run_or_skip(run_dir, cfg["env_id"], cfg["alg"], int(cfg["seed"]), PROG) if cfg else None
    if r is None:
        return None
    above = np.flatnonzero(r.returns > bar)
    final = final_score(r)
    return SeedResult(int(cfg["seed"]), bool(final > bar), int(r.steps[above[0]]) if above.size else None,
                      discovered_at(run_dir), final, r.done, *collapse(run_dir), zero_fraction(run_dir))


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p of Fisher's exact test on the table [[a, b], [c, d]] (the tables as probable as or less probable
    than the observed one, with the margins fixed)."""
    n1, n2, k = a + b, c + d, a + c
    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n1 + n2, k)
    observed = prob(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p for p in (prob(x) for x in range(lo, hi + 1)) if p <= observed * (1 + 1e-9)))


def median_steps(results: list[SeedResult]) -> Optional[float]:
    """The median over seeds of the steps to solve, never-solved seeds counted as never (None: the median is never)."""
    x = sorted(r.first_solved_at if r.first_solved_at is not None else math.inf for r in results)
    if not x:
        return None
    m = float(np.median(x))
    return None if math.isinf(m) else m


class ArmSummary(NamedTuple):
    """One arm on one task."""

    arm: str
    n: int
    solved: int
    ci: tuple[float, float]
    ever: int
    median_steps: Optional[float]
    discovered: int
    final: float
    collapsed: int = 0  # seeds whose critic collapsed
    discovered_alive: int = 0  # seeds that discovered the reward by the last epoch their critic was known alive
    zero_frac: Optional[float] = None  # meta: the mean over seeds of the fraction of cycles with Delta exactly 0


def summarise(arm: str, results: list[SeedResult]) -> ArmSummary:
    """An arm's fraction solved (with its Wilson interval), ever solved, median steps, discovery, final return, and
    the diagnostics: critics collapsed, discoveries made while the critic was alive, the fraction of Delta = 0."""
    k = sum(r.solved for r in results)
    zf = [r.zero_frac for r in results if r.zero_frac is not None]
    # a discovery in the epoch the critic collapsed in is not counted: it may have come after
    alive = sum(r.discovered_at is not None and (r.collapsed_at is None or r.discovered_at <= r.alive_until)
                for r in results)
    return ArmSummary(arm, len(results), k, wilson(k, len(results)), sum(r.first_solved_at is not None for r in results),
                      median_steps(results), sum(r.discovered_at is not None for r in results),
                      float(np.mean([r.final for r in results])) if results else float("nan"),
                      sum(r.collapsed_at is not None for r in results), alive,
                      float(np.mean(zf)) if zf else None)


def best_ddpg(summaries: list[ArmSummary]) -> Optional[ArmSummary]:
    """The ddpg arm with the highest fraction solved; ties: the lower median steps to solve (never last)."""
    ddpg = [s for s in summaries if s.arm.startswith("ddpg") and s.n]
    if not ddpg:
        return None
    return min(ddpg, key=lambda s: (-s.solved / s.n, s.median_steps if s.median_steps is not None else math.inf))


def verdict(meta: ArmSummary, ddpg: ArmSummary) -> tuple[float, str]:
    """(p, words): a meta arm against the best ddpg arm on the fraction solved, Fisher's exact test."""
    p = fisher_exact(meta.solved, meta.n - meta.solved, ddpg.solved, ddpg.n - ddpg.solved)
    if p >= ALPHA:
        return p, "not distinguishable"
    return p, "better" if meta.solved / meta.n > ddpg.solved / ddpg.n else "worse"


def load(root: str) -> dict[str, dict[str, list[SeedResult]]]:
    """env id -> arm -> the finished seeds' results, for the suite's tasks found under root."""
    out: dict = {}
    for task in paper.EXPLORATION:
        d = os.path.join(root, env_dir(task.env_id))
        for arm in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            ad = os.path.join(d, arm)
            rs = [seed_result(os.path.join(ad, s), task.bar) for s in sorted(os.listdir(ad)) if s.startswith("seed-")]
            rs = [r for r in rs if r is not None and r.done]
            if rs:
                out.setdefault(task.env_id, {})[arm] = rs
    return out


def _p(p: float) -> str:
    """A p-value: three decimals, or two significant digits below 0.001 (never a bare 0.000)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _steps(x: Optional[float]) -> str:
    return "never" if x is None else f"{x:,.0f}"


def build_table(root: str) -> str:
    """results/exploration/table.md: per task and arm, then the verdicts."""
    data = load(root)
    if not data:
        raise SystemExit(f"baselines_meta.analysis.exploration: error: no finished runs under {root}")
    lines = ["## Per task and arm (finished runs)", "",
             "| task | arm | seeds | solved [Wilson 95%] | ever solved | discovered the reward | median steps to solve | "
             "final return (mean) | critic collapsed | discovered, critic alive | Δ = 0 (cycles) |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    v_lines = ["## Verdicts: each meta arm against the task's best ddpg arm (fraction solved, Fisher's exact test)", "",
               "| task | best ddpg arm | meta arm | solved (meta, ddpg) | p | verdict |", "| --- | --- | --- | --- | ---: | --- |"]
    for task in paper.EXPLORATION:
        arms = data.get(task.env_id, {})
        order = [a for a in ARMS if a in arms] + sorted(a for a in arms if a not in ARMS)
        sums = [summarise(a, arms[a]) for a in order]
        for s in sums:
            lines.append(f"| {task.env_id} | {s.arm} | {s.n} | {s.solved}/{s.n} [{s.ci[0]:.2f}, {s.ci[1]:.2f}] | "
                         f"{s.ever}/{s.n} | {s.discovered}/{s.n} | {_steps(s.median_steps)} | {s.final:.2f} | "
                         f"{s.collapsed}/{s.n} | {s.discovered_alive}/{s.n} | "
                         f"{'–' if s.zero_frac is None else f'{s.zero_frac:.2f}'} |")
        best = best_ddpg(sums)
        for s in sums:
            if best is not None and s.arm.startswith("meta"):
                p, words = verdict(s, best)
                v_lines.append(f"| {task.env_id} | {best.arm} | {s.arm} | {s.solved}/{s.n}, {best.solved}/{best.n} | "
                               f"{_p(p)} | {words} |")
    return "\n".join(lines + [""] + v_lines) + "\n"


def solved_curve(root: str, env_id: str, arm: str, bar: float) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of an arm's finished seeds whose evaluation mean beats the bar, at each evaluation step (the
    first seed's steps): steps [E], fractions [E]."""
    d = os.path.join(root, env_dir(env_id), arm)
    runs = []
    for s in sorted(os.listdir(d)):
        cfg = run_config(os.path.join(d, s))
        r = load_run_or_skip(os.path.join(d, s), env_id, arm, int(cfg["seed"]), PROG) if cfg else None
        if r is not None and r.done:
            runs.append(r)
    grid = runs[0].steps
    return grid, np.mean([np.interp(grid, r.steps, (r.returns > bar).astype(float)) >= 0.5 for r in runs], axis=0)


def figure(root: str, out_stem: str) -> list[str]:
    """The fraction of seeds solved against env steps, one panel per task, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from baselines_meta.analysis.figures import save

    data = load(root)
    tasks = [t for t in paper.EXPLORATION if t.env_id in data]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.2 * max(1, len(tasks)), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for arm in [a for a in ARMS if a in data[task.env_id]]:
            steps, frac = solved_curve(root, task.env_id, arm, task.bar)
            ax.step(steps, frac, where="post", label=arm, ls="--" if arm.startswith("ddpg") else "-")
        ax.set_title(task.env_id.split("/")[-1], fontsize=9)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" if x else "0"))
        ax.set_ylim(-0.03, 1.03)
    axes[0][0].set_ylabel("fraction of seeds solved")
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save(fig, out_stem)


def main(argv=None) -> int:
    """The table's command line (`--figure STEM` also draws the fraction of seeds solved against env steps)."""
    def add_args(p):
        p.add_argument("--figure", default=None, help="also draw the fraction solved against env steps to STEM.png/.svg")

    def build(root, a):
        md = build_table(root)
        if a.figure:
            figure(root, a.figure)
        return md

    return markdown_main("python -m baselines_meta.analysis.exploration", __doc__, "results/exploration", build, argv,
                         add_args)


if __name__ == "__main__":
    sys.exit(main())
