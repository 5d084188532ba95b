"""Did a change of the pinned stack (mujoco 4.0.0 -> 3.17.0, for dm_control) change the dense tasks? A markdown report.

    python -m baselines_meta.analysis.stack_check results/stack-check [--campaign results/runs] [--out FILE]

Reads the runs `run/stack_check` wrote under ROOT:
- identity/<version>/<env>/ddpg/seed-0/: the same seeded short ddpg run on each version of the stack. Per env: are
  the two evaluations.csv files identical, are the training episodes' returns and lengths (0.monitor.csv) identical,
  and if not, the first episode that differs.
- spread/<version>/<env>/ddpg/seed-<n>/: longer runs on both versions (--old, --new), for the envs whose short runs
  differ. Per env: each finished seed's mean evaluation return over the last 10% of the new runs' steps, beside the
  campaign's ddpg seeds (--campaign, run on the old version, perhaps on older code) over the same window of steps;
  "within the spread" when every new seed lies between the campaign's lowest and highest seed; and the verdicts
  (new against old on this code, new against the campaign) as in Table 2 (c).
"""
from __future__ import annotations

import csv
import os
import sys

import numpy as np

from baselines_meta.analysis.results import Run, load_runs, markdown_main, verdict

OLD, NEW = "mujoco-4.0.0", "mujoco-3.17.0"
PROG = "baselines_meta.analysis.stack_check"


def _episodes(d: str) -> list[tuple[str, str]]:
    """(return, length) of each training episode in d's 0.monitor.csv, as written."""
    path = os.path.join(d, "0.monitor.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(r["r"], r["l"]) for r in csv.DictReader(line for line in f if not line.startswith("#"))]


def _read(path: str) -> str | None:
    return open(path).read() if os.path.exists(path) else None


def identity_rows(root: str) -> list[tuple]:
    """(env, version A, version B, evaluations identical, episodes identical, first differing episode or None, episodes)
    for every env that both versions under root/identity/ ran (versions in sorted order; the first two)."""
    base = os.path.join(root, "identity")
    versions = sorted(v for v in os.listdir(base) if os.path.isdir(os.path.join(base, v))) if os.path.isdir(base) else []
    if len(versions) < 2:
        return []
    a, b = versions[:2]
    out = []
    for env in sorted(set(os.listdir(os.path.join(base, a))) & set(os.listdir(os.path.join(base, b)))):
        da, db = (os.path.join(base, v, env, "ddpg", "seed-0") for v in (a, b))
        if not (os.path.isdir(da) and os.path.isdir(db)):
            continue
        eva, evb = (_read(os.path.join(d, "evaluations.csv")) for d in (da, db))
        same_eval = eva is not None and eva == evb
        ea, eb = _episodes(da), _episodes(db)
        first = next((i for i, (x, y) in enumerate(zip(ea, eb)) if x != y), None)
        if first is None and len(ea) != len(eb):
            first = min(len(ea), len(eb))
        out.append((env, a, b, same_eval, first is None, first, len(ea)))
    return out


def window_score(r: Run, lo: int, hi: int) -> float:
    """Mean evaluation return of r over the evaluations at steps in [lo, hi]; nan if none."""
    m = (r.steps >= lo) & (r.steps <= hi)
    return float(r.returns[m].mean()) if m.any() else float("nan")


def spread_rows(root: str, campaign: str, old: str, new: str) -> list[tuple]:
    """(env, window (lo, hi), {version: seeds' scores}, campaign's scores, new within the campaign's spread, verdict
    new against old, verdict new against the campaign) per env under root/spread/<new>/. The finished runs only; the
    window is the last 10% of the shortest new run's steps, the same for every arm."""
    runs = {v: [r for r in load_runs(os.path.join(root, "spread", v), PROG) if r.alg == "ddpg" and r.done] for v in (old, new)}
    camp = [r for r in load_runs(campaign, PROG) if r.alg == "ddpg"]
    out = []
    for env in sorted({r.env for r in runs[new]}):
        hi = int(min(r.steps[-1] for r in runs[new] if r.env == env))
        lo = int(0.9 * hi)
        score = lambda rs: [s for s in (window_score(r, lo, hi) for r in rs if r.env == env) if np.isfinite(s)]  # noqa: E731
        by = {v: score(runs[v]) for v in (old, new)}
        b = score(camp)
        within = bool(b) and all(min(b) <= x <= max(b) for x in by[new])
        rng = np.random.default_rng(0)
        out.append((env, (lo, hi), by, b, within, verdict(by[new], by[old], rng), verdict(by[new], b, rng)))
    return out


def build_report(root: str, args=None) -> str:
    """The two tables; exits when root holds neither kind of run."""
    campaign = getattr(args, "campaign", "results/runs")
    old, new = getattr(args, "old", OLD), getattr(args, "new", NEW)
    ident, spread = identity_rows(root), spread_rows(root, campaign, old, new)
    if not ident and not spread:
        raise SystemExit(f"baselines_meta.analysis.stack_check: error: no identity/ or spread/ runs under {root}")
    lines = []
    if ident:
        lines += ["| task | versions | evaluations identical | training episodes identical | first differing episode |",
                  "| --- | --- | --- | --- | ---: |"]
        for env, a, b, se, sp, first, n in ident:
            lines.append(f"| {env} | {a} / {b} | {'yes' if se else 'no'} | {'yes' if sp else 'no'} | "
                         f"{'–' if first is None else f'{first} of {n}'} |")
        lines.append("")
    if spread:
        fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs) or "–"  # noqa: E731
        lines += [f"| task | steps scored | {old} | {new} | campaign ({campaign}) | {new} within the campaign's spread | "
                  f"{new} against {old} | {new} against the campaign |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for env, (lo, hi), by, b, within, v_old, v_camp in spread:
            lines.append(f"| {env} | {lo:,}–{hi:,} | {fmt(by[old])} | {fmt(by[new])} | {fmt(b)} | "
                         f"{'yes' if within else 'no'} | {v_old} | {v_camp} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.analysis.stack_check`): prints the report, and writes it to --out when given."""
    def add_args(p):
        p.add_argument("--campaign", default="results/runs", help="the main grid, run on the old version")
        p.add_argument("--old", default=OLD, help="the old stack's directory under spread/ and identity/")
        p.add_argument("--new", default=NEW, help="the new stack's directory")

    return markdown_main("python -m baselines_meta.analysis.stack_check", __doc__, "results/stack-check", build_report,
                         argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
