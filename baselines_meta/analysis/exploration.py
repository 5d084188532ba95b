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
below exploration_runs.COLLAPSE_STD to the end.

The rerun with critic L2 0 (the same command on results/exploration-l2zero; told apart by its arms, is_l2zero) is
reported as its README pre-registered: the seeds done of those due per arm, verdicts "pending" until a task is done
(contrasts), the critic's collapse by `critic/active_frac` (ACTIVE_RULE; the first suite's rule beside it as "Q flat"),
the meta arms' progress (progress_stats) and, on the MountainCar tasks, the final normaliser's clip (normaliser_check).
Added after two of its tasks were done, beside the verdicts: how many of the teacher's own D0 episodes found the reward
(episodes_scored). The per-run readers live in analysis.exploration_runs.
"""
from __future__ import annotations

import math
import os
import sys
from typing import NamedTuple, Optional

import numpy as np

from baselines_meta import paper
from baselines_meta.analysis.exploration_runs import (
    ACTIVE_RULE,
    GOAL_X,
    PROG,
    collapse,
    discovered_at,
    episodes_scored,
    normaliser_check,
    progress_stats,
    zero_fraction,
)
from baselines_meta.analysis.results import final_score, fisher_exact, load_run_or_skip, markdown_main, run_config, wilson

ALPHA = 0.05
ARMS = ("ddpg-param", "ddpg-normal", "ddpg-ou", "ddpg-none", "meta", "meta-variance", "meta-student")
ARMS_L2ZERO = ("ddpg-param", "ddpg-normal", "ddpg-ou", "ddpg-none", "meta", "meta-progress", "ddpg-param-l2")
L2_CONTROL_TASKS = ("SparseMountainCar-v0", "dm_control/cartpole-swingup_sparse-v0")  # the tasks of ddpg-param-l2


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
    flat_at: Optional[int] = None  # the rerun: from when reference_Q_std < 1e-6 to the end (the first suite's rule)
    progress: Optional[float] = None  # meta: the mean over epochs of meta/progress (ddpg: None)
    progress_abs: Optional[float] = None  # meta: the median over epochs of |meta/progress|
    goal_z: Optional[float] = None  # MountainCar: the goal's position through the final normaliser (none: None)
    goal_clipped: Optional[bool] = None  # MountainCar: goal_z >= the clip (the goal is seen as +clip)
    clip_from: Optional[float] = None  # MountainCar: the position from which the final normaliser gives +clip
    d0_episodes: Optional[tuple[int, int]] = None  # the rerun's meta arms: the teacher's D0 episodes (finished, scored)


def env_dir(env_id: str) -> str:
    """The directory name of an env id ('/' is not allowed in one)."""
    return env_id.replace("/", "__")


def seed_result(run_dir: str, bar: float, l2zero: bool = False) -> Optional[SeedResult]:
    """The metrics of one run directory (None without evaluations, or with a damaged file: named on stderr); l2zero:
    the rerun's collapse rule (ACTIVE_RULE), with the first suite's as flat_at."""
    cfg = run_config(run_dir, PROG)
    r = load_run_or_skip(run_dir, cfg["env_id"], cfg["alg"], int(cfg["seed"]), PROG) if cfg else None
    if r is None:
        return None
    above = np.flatnonzero(r.returns > bar)
    final = final_score(r)
    flat = collapse(run_dir)
    norm = normaliser_check(run_dir) if "MountainCar" in cfg["env_id"] else (None, None, None)
    return SeedResult(int(cfg["seed"]), bool(final > bar), int(r.steps[above[0]]) if above.size else None,
                      discovered_at(run_dir), final, r.done, *(collapse(run_dir, *ACTIVE_RULE) if l2zero else flat),
                      zero_fraction(run_dir), flat[0] if l2zero else None, *progress_stats(run_dir), *norm,
                      episodes_scored(run_dir) if l2zero and cfg["alg"] != "ddpg" else None)


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
    flat: int = 0  # the rerun: seeds whose reference_Q_std stayed below 1e-6 to the end (the first suite's rule)
    progress: Optional[float] = None  # meta: the mean over seeds of the run's mean meta/progress
    progress_abs: Optional[float] = None  # meta: the median over seeds of the run's median |meta/progress|
    d0_episodes: Optional[tuple[int, int]] = None  # the rerun's meta arms: the teacher's D0 episodes (finished, scored), summed


def summarise(arm: str, results: list[SeedResult]) -> ArmSummary:
    """An arm's fraction solved (with its Wilson interval), ever solved, median steps, discovery, final return, and
    the diagnostics: critics collapsed (and Q flat), discoveries made while the critic was alive, the fraction of
    Delta = 0, the progress and its scale, the teacher's D0 episodes that scored."""
    k = sum(r.solved for r in results)
    zf, pr = [r.zero_frac for r in results if r.zero_frac is not None], [r for r in results if r.progress is not None]
    d0 = [r.d0_episodes for r in results if r.d0_episodes is not None]
    # a discovery in the epoch the critic collapsed in is not counted: it may have come after
    alive = sum(r.discovered_at is not None and (r.collapsed_at is None or r.discovered_at <= r.alive_until)
                for r in results)
    return ArmSummary(arm, len(results), k, wilson(k, len(results)), sum(r.first_solved_at is not None for r in results),
                      median_steps(results), sum(r.discovered_at is not None for r in results),
                      float(np.mean([r.final for r in results])) if results else float("nan"),
                      sum(r.collapsed_at is not None for r in results), alive,
                      float(np.mean(zf)) if zf else None, sum(r.flat_at is not None for r in results),
                      float(np.mean([r.progress for r in pr])) if pr else None,
                      float(np.median([r.progress_abs for r in pr])) if pr else None,
                      (sum(n for n, _ in d0), sum(k for _, k in d0)) if d0 else None)


def best_ddpg(summaries: list[ArmSummary], among: Optional[tuple] = None) -> Optional[ArmSummary]:
    """The ddpg arm (one of `among` when given) with the highest fraction solved; ties: the lower median steps to
    solve (never last)."""
    ddpg = [s for s in summaries if (s.arm in among if among else s.arm.startswith("ddpg")) and s.n]
    if not ddpg:
        return None
    return min(ddpg, key=lambda s: (-s.solved / s.n, s.median_steps if s.median_steps is not None else math.inf))


def verdict(meta: ArmSummary, ddpg: ArmSummary) -> tuple[float, str]:
    """(p, words): a meta arm against the best ddpg arm (or any arm against another) on the fraction solved, Fisher's
    exact test; words: the first arm is better, worse, or not distinguishable."""
    p = fisher_exact(meta.solved, meta.n - meta.solved, ddpg.solved, ddpg.n - ddpg.solved)
    if p >= ALPHA:
        return p, "not distinguishable"
    return p, "better" if meta.solved / meta.n > ddpg.solved / ddpg.n else "worse"


def is_l2zero(root: str) -> bool:
    """Whether root holds the rerun with critic L2 0: some task has an arm only it has (meta-progress, ddpg-param-l2)."""
    return any(os.path.isdir(os.path.join(root, env_dir(t.env_id), a)) for t in paper.EXPLORATION for a in set(ARMS_L2ZERO) - set(ARMS))


def l2zero_arms(env_id: str) -> tuple:
    """The rerun's arms on a task (ddpg-param-l2 only on L2_CONTROL_TASKS)."""
    return tuple(a for a in ARMS_L2ZERO if a != "ddpg-param-l2" or env_id in L2_CONTROL_TASKS)


def load(root: str, l2zero: bool = False) -> dict[str, dict[str, list[SeedResult]]]:
    """env id -> arm -> the finished seeds' results, for the suite's tasks found under root (l2zero: seed_result's)."""
    out: dict = {}
    for task in paper.EXPLORATION:
        d = os.path.join(root, env_dir(task.env_id))
        for arm in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            ad = os.path.join(d, arm)
            rs = [seed_result(os.path.join(ad, s), task.bar, l2zero) for s in sorted(os.listdir(ad)) if s.startswith("seed-")]
            rs = [r for r in rs if r is not None and r.done]
            if rs:
                out.setdefault(task.env_id, {})[arm] = rs
    return out


def _p(p: float) -> str:
    """A p-value: three decimals, or two significant digits below 0.001 (never a bare 0.000)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _steps(x: Optional[float]) -> str:
    return "never" if x is None else f"{x:,.0f}"


def _g(x: Optional[float], fmt: str = ".2g") -> str:
    return "–" if x is None else f"{x:{fmt}}"


def _ordered(arms: dict, known: tuple) -> list[str]:
    """An env's arms in the suite's order (`known`), any other after them, sorted."""
    return [a for a in known if a in arms] + sorted(set(arms) - set(known))


def _solved_cells(s: ArmSummary) -> str:
    """The cells both tables share: solved [Wilson 95%], ever solved, discovered, median steps, final return."""
    return (f"{s.solved}/{s.n} [{s.ci[0]:.2f}, {s.ci[1]:.2f}] | {s.ever}/{s.n} | {s.discovered}/{s.n} | "
            f"{_steps(s.median_steps)} | {s.final:.2f}")


def build_table(root: str) -> str:
    """results/exploration/table.md: per task and arm, then the verdicts (the rerun's root: build_table_l2zero)."""
    if is_l2zero(root):
        return build_table_l2zero(root)
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
        sums = [summarise(a, arms[a]) for a in _ordered(arms, ARMS)]
        for s in sums:
            lines.append(f"| {task.env_id} | {s.arm} | {s.n} | {_solved_cells(s)} | {s.collapsed}/{s.n} | "
                         f"{s.discovered_alive}/{s.n} | {_g(s.zero_frac, '.2f')} |")
        best = best_ddpg(sums)
        for s in sums:
            if best is not None and s.arm.startswith("meta"):
                p, words = verdict(s, best)
                v_lines.append(f"| {task.env_id} | {best.arm} | {s.arm} | {s.solved}/{s.n}, {best.solved}/{best.n} | "
                               f"{_p(p)} | {words} |")
    return "\n".join(lines + [""] + v_lines) + "\n"


def contrasts(task: paper.ExplorationTask, sums: dict[str, ArmSummary]) -> list[str]:
    """The rerun's verdict lines of a task (fraction solved, Fisher's exact test): meta and meta-progress each against
    the best of the four ddpg arms with L2 0, meta-progress against meta, and where the task has it the same-commit L2
    contrast, ddpg-param against ddpg-param-l2; "pending" with the runs done of those due until the task is done."""
    arms = l2zero_arms(task.env_id)
    pairs = [("meta", None), ("meta-progress", None), ("meta-progress", "meta")] + [("ddpg-param", a) for a in arms if a.endswith("-l2")]
    done, due = sum(min(sums[a].n, task.seeds) for a in arms if a in sums), len(arms) * task.seeds
    if done < due:
        return [f"| {task.env_id} | {a} vs {b or 'the best ddpg arm'} | – | – | pending: {done} of {due} runs done |" for a, b in pairs]
    best, out = best_ddpg(list(sums.values()), among=ARMS_L2ZERO[:4]), []
    for a, b in pairs:
        x, y = sums[a], sums[b] if b else best
        p, words = verdict(x, y)
        out.append(f"| {task.env_id} | {a} vs {y.arm}{'' if b else ' (the best ddpg arm)'} | {x.solved}/{x.n}, {y.solved}/{y.n} | "
                   f"{_p(p)} | {words} |")
    return out


def build_table_l2zero(root: str) -> str:
    """results/exploration-l2zero/table.md: per task and arm, the final normaliser's clip on MountainCar, contrasts()."""
    data = load(root, l2zero=True)
    if not data:
        raise SystemExit(f"baselines_meta.analysis.exploration: error: no finished runs under {root}")
    lines = ["## Per task and arm (finished runs; the protocol: results/exploration-l2zero/README.md)", "",
             "| task | arm | done | solved [Wilson 95%] | ever solved | discovered the reward | median steps to solve | "
             "final return (mean) | critic collapsed (active_frac 0 to the end) | Q flat (reference_Q_std < 1e-6 to the end) | "
             "discovered, critic alive | Δ = 0 (cycles) | progress (mean) | progress (median abs) | "
             "teacher's D0 episodes that scored |", "| --- | --- | ---: | --- |" + " ---: |" * 11]
    n_lines = [f"## The final observation normaliser on the MountainCar tasks: the position (clip ±5; goal x = {GOAL_X})", "",
               "| task | arm | runs | the goal seen as +5 | the goal normalised (median) | +5 from x (median [min, max]) |",
               "| --- | --- | ---: | ---: | ---: | --- |"]
    v_lines = ["## Verdicts (fraction solved, Fisher's exact test, two-sided, α = 0.05; pending until the task is done)", "",
               "| task | contrast | solved (first, second) | p | verdict |", "| --- | --- | --- | ---: | --- |"]
    for task in paper.EXPLORATION:
        arms = data.get(task.env_id, {})
        sums = {a: summarise(a, arms[a]) for a in _ordered(arms, ARMS_L2ZERO)}
        for s in sums.values():
            d0 = "–" if s.d0_episodes is None else f"{s.d0_episodes[1]}/{s.d0_episodes[0]}"
            lines.append(f"| {task.env_id} | {s.arm} | {s.n} of {task.seeds} | {_solved_cells(s)} | {s.collapsed}/{s.n} | "
                         f"{s.flat}/{s.n} | {s.discovered_alive}/{s.n} | {_g(s.zero_frac, '.2f')} | {_g(s.progress)} | "
                         f"{_g(s.progress_abs)} | {d0} |")
            ns = [r for r in arms[s.arm] if r.goal_z is not None]  # the normaliser check (normaliser_check) over seeds
            c = [r.clip_from for r in ns]
            if ns:
                n_lines.append(f"| {task.env_id} | {s.arm} | {len(ns)} | {sum(r.goal_clipped for r in ns)}/{len(ns)} | "
                               f"{np.median([r.goal_z for r in ns]):.2f} | {np.median(c):.3f} [{min(c):.3f}, {max(c):.3f}] |")
        v_lines += contrasts(task, sums)
    return "\n".join(lines + [""] + n_lines + [""] + v_lines) + "\n"


def solved_curve(root: str, env_id: str, arm: str, bar: float) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of an arm's finished seeds whose evaluation mean beats the bar, at each evaluation step (the
    first seed's steps): steps [E], fractions [E]."""
    d = os.path.join(root, env_dir(env_id), arm)
    runs = []
    for s in sorted(os.listdir(d)):
        cfg = run_config(os.path.join(d, s), PROG)
        r = load_run_or_skip(os.path.join(d, s), env_id, arm, int(cfg["seed"]), PROG) if cfg else None
        if r is not None and r.done:
            runs.append(r)
    grid = runs[0].steps
    return grid, np.mean([np.interp(grid, r.steps, (r.returns > bar).astype(float)) >= 0.5 for r in runs], axis=0)


def figure(root: str, out_stem: str) -> list[str]:
    """The fraction of seeds solved against env steps, one panel per task, one line per arm (the rerun's: its arms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from baselines_meta.analysis.figures import save

    l2zero = is_l2zero(root)
    data = load(root, l2zero)
    tasks = [t for t in paper.EXPLORATION if t.env_id in data]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.2 * max(1, len(tasks)), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for arm in [a for a in (ARMS_L2ZERO if l2zero else ARMS) if a in data[task.env_id]]:
            steps, frac = solved_curve(root, task.env_id, arm, task.bar)
            k = len(data[task.env_id][arm])  # the rerun's unfinished arms say so: (k of n)
            ax.step(steps, frac, where="post", label=arm + (f" ({k} of {task.seeds})" if l2zero and k < task.seeds else ""),
                    ls=":" if arm.endswith("-l2") else "--" if arm.startswith("ddpg") else "-")
        ax.set_title(task.env_id.split("/")[-1], fontsize=9)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" if x else "0"))
        ax.set_ylim(-0.03, 1.03)
    axes[0][0].set_ylabel("fraction of seeds solved")
    labels = {}  # one legend for every panel's arms (ddpg-param-l2 is not on every task), below the panels
    for ax in axes[0]:
        labels.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels()) if lab not in labels})
    fig.legend(list(labels.values()), list(labels), fontsize=7, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
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
