"""Did a change of the pinned stack (mujoco 4.0.0 -> 3.17.0, for dm_control) change the dense tasks? A markdown report.

    python -m baselines_meta.analysis.stack_check results/stack-check [--campaign results/runs] [--out FILE]

Reads the runs `run/stack_check` wrote under ROOT:
- identity/<version>/<env>/ddpg/seed-0/: the same seeded short ddpg run on each version of the stack. Per env: are
  the two evaluations.csv files identical, are the training episodes' returns and lengths (0.monitor.csv) identical,
  and if not, the first episode that differs.
- spread/<env>/ddpg/seed-<n>/: longer runs on the new version, for the envs whose short runs differ. Per env: each
  seed's mean evaluation return over the last 10% of its steps, beside the campaign's ddpg seeds (CAMPAIGN, the old
  version) over the same window of steps; "within the spread" when every new seed lies between the campaign's lowest
  and highest seed, and the verdict (new against campaign) as in Table 2 (c).
"""
from __future__ import annotations

import csv
import os
import sys

import numpy as np

from baselines_meta.analysis.results import Run, load_runs, markdown_main, verdict


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


def spread_rows(root: str, campaign: str) -> list[tuple]:
    """(env, new seeds' scores, campaign seeds' scores, window (lo, hi), within the spread, verdict) per env under
    root/spread/, each new run scored over the last 10% of its own steps and the campaign's ddpg over that window."""
    new = [r for r in load_runs(os.path.join(root, "spread")) if r.alg == "ddpg"]
    old = [r for r in load_runs(campaign) if r.alg == "ddpg"]
    out = []
    for env in sorted({r.env for r in new}):
        rs = [r for r in new if r.env == env]
        hi = int(min(r.steps[-1] for r in rs))
        lo = int(0.9 * hi)
        a = [window_score(r, lo, hi) for r in rs]
        b = [s for s in (window_score(r, lo, hi) for r in old if r.env == env) if np.isfinite(s)]
        within = bool(b) and all(min(b) <= x <= max(b) for x in a)
        out.append((env, a, b, (lo, hi), within, verdict(a, b, np.random.default_rng(0))))
    return out


def build_report(root: str, args=None) -> str:
    """The two tables; exits when root holds neither kind of run."""
    campaign = getattr(args, "campaign", "results/runs")
    ident, spread = identity_rows(root), spread_rows(root, campaign)
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
        lines += [f"| task | steps scored | new version's seeds | campaign's seeds ({campaign}) | within the spread | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for env, a, b, (lo, hi), within, v in spread:
            fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs) or "–"  # noqa: E731
            lines.append(f"| {env} | {lo:,}–{hi:,} | {fmt(a)} | {fmt(b)} | {'yes' if within else 'no'} | {v} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.analysis.stack_check`): prints the report, and writes it to --out when given."""
    def add_args(p):
        p.add_argument("--campaign", default="results/runs", help="the main grid, run on the old version")

    return markdown_main("python -m baselines_meta.analysis.stack_check", __doc__, "results/stack-check", build_report,
                         argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
