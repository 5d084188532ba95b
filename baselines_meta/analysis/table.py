"""Table 2 in markdown: `python -m baselines_meta.table [ROOT] [--out FILE]`.

ROOT (default results/runs, the committed runs; only read) holds <env>/<alg>/seed-<n>/. The table is printed, and
written to FILE only when --out names one (`--out results/table2.md` replaces the committed table). A run with a
damaged file (evaluations.csv, progress.csv or a monitor file that does not parse: garbage bytes, a half-written line,
a header only, a non-number) is left out and named in one line on stderr; the table of the others is still made. No
ROOT, or no run in it: one line on stderr, exit status 2 (as `plot`).

(a) Ours, the deterministic evaluation of the student (10 episodes every 10k steps on its own env): the mean over the
    last 10% of training and the maximum of the seed-mean curve, each mean ± std over seeds [bootstrap 95% CI].
(b) The metric the paper most likely reports, baselines' `rollout/return_history`: the mean return of the exploring
    policy's last 100 training episodes (ddpg: the noisy actor; meta: the teacher's D0 episodes; meta's D1 episodes,
    cut at the D1 length on some tasks, as a labelled extra column).
(c) Meta against ddpg: P(meta > ddpg) over seed pairs of (a)'s last-10% score, a verdict from the bootstrap 95% CI of
    the difference of means (better / worse / not distinguishable at that many seeds), and sample efficiency: the env
    steps at which meta's seed-mean evaluation curve first reaches ddpg's best seed-mean return, as a share of the
    budget.
(d) The aggregate over tasks with rliable (IQM, optimality gap, probability of improvement; baselines_meta.analysis.aggregate),
    when the analysis extra is installed; otherwise a line saying how to install it.
(e) With --controls DIR (default: `controls` beside the runs' root, when it exists): the control arms of
    DIR/<arm>/<env>/<alg>/seed-<n> beside meta and ddpg of the main grid on the same seeds, each with (a)'s and (b)'s
    score, and the contrasts they were run for (frozen teacher, ddpg at meta's update ratio, ddpg without noise, both
    algorithms under --truncation_as_terminal, the paper's literal form), each with P(A > B) and a verdict on the seeds
    both arms have.
(f) The paper's literal form (`--meta_form literal`, DIR/literal) against ours and against ddpg of the main grid on
    the same seeds, with (a)'s score, P and the verdict, and whether its teacher had a signal: the share of cycles whose
    raw meta reward was exactly 0, and its log-std over the last epoch.
The paper's Table 2 stands beside (a) and (b). (a) and (e)'s arm rows include unfinished runs, marked with the share of
their budget; (b), (c), (d) and (e)'s contrasts score finished runs only (a DONE file and the whole budget).
"""
from __future__ import annotations

import sys

import numpy as np

from baselines_meta import paper
from baselines_meta.analysis.results import CONTROL_ARMS as ARMS
from baselines_meta.analysis.results import (
    LITERAL,
    RESET,
    STUDENT,
    STUDENT_FROZEN,
    bootstrap_ci,
    bootstrap_mean_ci,
    common_curve,
    control_arm_runs,
    final_score,
    first_reach,
    load_runs,
    markdown_main,
    prob_better,
    progress_mean,
    training_score,
    verdict,
)
from baselines_meta.config import ALGS

PROG = "baselines_meta.table"


def fmt(m: float, s: float) -> str:
    """'mean ± std', 2 decimals when |mean| < 100 else none; '–' when the mean is not finite."""
    if not np.isfinite(m):
        return "–"
    digits = 2 if abs(m) < 100 else 0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def fmt_ci(m: float, s: float, ci: tuple[float, float]) -> str:
    """fmt(m, s) followed by the CI '[lo, hi]' at the same precision; '–' when the mean is not finite."""
    if not np.isfinite(m):
        return "–"
    digits = 2 if abs(m) < 100 else 0
    return f"{fmt(m, s)} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def paper_cell(env: str, alg: str) -> str:
    """The paper's Table 2 entry for env and alg (meta or ddpg) as 'mean ± std', '–' when there is none."""
    t = paper.task(env)
    return fmt(*(t.table2_meta if alg == "meta" else t.table2_ddpg)) if t and alg in ("meta", "ddpg") else "–"


def build_table(root: str, aggregate: bool = True) -> str:
    """Sections (a)-(c) of the markdown table over the runs under root, then (d) when aggregate; exits if there are no runs."""
    runs = load_runs(root, PROG)
    if not runs:
        raise SystemExit(f"baselines_meta.table: error: no runs with evaluations under {root}")
    envs = sorted({r.env for r in runs}, key=paper.order_key)
    algs = [a for a in ALGS if any(r.alg == a for r in runs)]
    rng = np.random.default_rng(0)
    a_lines = ["## (a) Ours: deterministic evaluation of the student", "",
               "| task | alg | seeds | steps (share of budget) | last 10% of training | max of seed-mean curve | paper (Table 2) |",
               "| --- | --- | ---: | --- | ---: | ---: | ---: |"]
    b_lines = ["## (b) The exploring policy's last 100 training episodes (baselines' rollout/return_history; finished "
               "runs)", "",
               "| task | alg | seeds | last 100 training episodes | meta: last 100 D1 episodes (extra) | paper (Table 2) |",
               "| --- | --- | ---: | ---: | ---: | ---: |"]
    c_lines = ["## (c) meta against ddpg (finished runs)", "",
               "| task | seeds (meta, ddpg) | P(meta > ddpg), (a) last 10% | verdict (a) | P(meta > ddpg), (b) | verdict (b) | "
               "meta reaches ddpg's best seed-mean return at |",
               "| --- | --- | ---: | --- | ---: | --- | --- |"]
    for env in envs:
        final, train, curves_of = {}, {}, {}
        for alg in algs:
            rs = [r for r in runs if r.env == env and r.alg == alg]
            if not rs:
                continue
            fs = [final_score(r) for r in rs]
            fin = [r for r in rs if r.done]  # (b) and (c) score finished runs only
            train[alg] = [training_score(r) for r in fin]
            if fin:
                final[alg] = [f for f, r in zip(fs, rs) if r.done]
                curves_of[alg] = (*common_curve(fin), max(r.budget for r in fin))
            grid, curves = common_curve(rs)
            mean = curves.mean(0)
            k = int(np.argmax(mean))
            lo, hi = bootstrap_ci(curves[:, k : k + 1], rng)
            share = min(r.steps[-1] / r.budget for r in rs)
            steps = f"{int(grid[-1]):,}" + ("" if all(r.done for r in rs) else f" ({share:.0%}, running)")
            a_lines.append(f"| {env} | {alg} | {len(rs)} | {steps} | {fmt_ci(np.mean(fs), np.std(fs), bootstrap_mean_ci(fs, rng))} | "
                           f"{fmt_ci(mean[k], curves[:, k].std(), (lo[0], hi[0]))} | {paper_cell(env, alg)} |")
            tr = [x for x in train[alg] if np.isfinite(x)]
            d1 = [x for x in (training_score(r, "0.d1.monitor.csv") for r in fin) if np.isfinite(x)]
            d1_cell = fmt_ci(np.mean(d1), np.std(d1), bootstrap_mean_ci(d1, rng)) if d1 else "–"
            tr_cell = fmt_ci(np.mean(tr), np.std(tr), bootstrap_mean_ci(tr, rng)) if tr else "–"
            b_lines.append(f"| {env} | {alg} | {len(tr)} | {tr_cell} | {d1_cell} | {paper_cell(env, alg)} |")
        if "meta" in final and "ddpg" in final:
            (gm, cm, budget), (_, cd, _) = curves_of["meta"], curves_of["ddpg"]
            at = first_reach(gm, cm.mean(0), float(cd.mean(0).max()))
            reach = f"{at:,} ({at / budget:.2f} of the budget)" if at is not None else "never"
            tm, td = ([x for x in train[a] if np.isfinite(x)] for a in ("meta", "ddpg"))
            c_lines.append(f"| {env} | {len(final['meta'])}, {len(final['ddpg'])} | "
                           f"{prob_better(final['meta'], final['ddpg']):.2f} | {verdict(final['meta'], final['ddpg'], rng)} | "
                           f"{prob_better(tm, td):.2f} | {verdict(tm, td, rng)} | {reach} |")
    notes = ["", "Our numbers: gymnasium v4 tasks (MuJoCo 3+); ± is the population std over seeds, [..] the percentile "
             "bootstrap 95% CI of the mean over seeds (seeds resampled). A verdict is 'better' or 'worse' when the "
             "bootstrap 95% CI of the difference of the two means excludes 0. The paper's numbers are on gym v1 tasks "
             "(see results/README.md for the protocol)."]
    md = "\n".join(a_lines + [""] + b_lines + [""] + c_lines + notes) + "\n"
    if aggregate:
        from baselines_meta.analysis.aggregate import aggregate_markdown

        md += "\n" + aggregate_markdown([r for r in runs if r.done])
    return md


# (e): the contrasts the control arms (results.CONTROL_ARMS) answer: (question, arm A, arm B).
CONTRASTS = (("Does learning the teacher matter?", "meta", "meta, frozen teacher"),
             ("Is meta's result its update ratio?", "meta", "ddpg, meta's update ratio 0.20"),
             ("Does the update ratio change ddpg?", "ddpg, meta's update ratio 0.20", "ddpg"),
             ("Does ddpg's exploration noise help?", "ddpg", "ddpg, no exploration noise"),
             ("Does meta beat no exploration at all?", "meta", "ddpg, no exploration noise"),
             ("The paper's conditions: meta against ddpg", "meta, truncation as terminal", "ddpg, truncation as terminal"),
             ("Does truncation as terminal change ddpg?", "ddpg, truncation as terminal", "ddpg"),
             ("Does truncation as terminal change meta?", "meta, truncation as terminal", "meta"),
             ("The paper's literal form against ours", LITERAL, "meta"),
             ("The paper's literal form against ddpg", LITERAL, "ddpg"),
             ("Does starting D0 from the student's states help?", STUDENT, RESET),
             ("From the student's states, does learning the teacher matter?", STUDENT, STUDENT_FROZEN),
             ("Student starts against ddpg", STUDENT, "ddpg"),
             ("Does the first-Delta fix change meta? (study commit vs main grid)", RESET, "meta"))



def _finite_mean(x: list[float]) -> float:
    x = [v for v in x if np.isfinite(v)]
    return float(np.mean(x)) if x else float("nan")


def build_literal(main_root: str, controls_root: str) -> str:
    """(f): the paper's literal form against our form and ddpg, finished runs on the seeds all three have."""
    arm_runs = control_arm_runs(main_root, controls_root, PROG)
    lit = [r for r in arm_runs[LITERAL] if r.done]
    if not lit:
        return ""
    rng = np.random.default_rng(0)
    lines = ["## (f) The paper's literal form (`--meta_form literal`) against ours and against ddpg (finished runs)", "",
             "| task | seeds | literal (a) | ours (a) | ddpg (a) | P(literal > ours) | verdict | P(literal > ddpg) | verdict | "
             "literal: cycles with Delta = 0 | literal: teacher log-std, last epoch | ours: cycles with Delta = 0 |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |"]
    for env in sorted({r.env for r in lit}, key=paper.order_key):
        by = {k: {r.seed: r for r in arm_runs[k] if r.env == env and r.done} for k in (LITERAL, "meta", "ddpg")}
        seeds = sorted(set(by[LITERAL]) & set(by["meta"]) & set(by["ddpg"]))
        if not seeds:
            continue
        f = {k: [final_score(by[k][s]) for s in seeds] for k in by}
        cell = {k: fmt(np.mean(v), np.std(v)) for k, v in f.items()}
        zero = {k: _finite_mean([progress_mean(by[k][s], "meta/reward_zero_frac") for s in seeds]) for k in (LITERAL, "meta")}
        log_std = _finite_mean([progress_mean(by[LITERAL][s], "teacher/log_std_mean", last_epochs=1) for s in seeds])
        z = {k: "–" if not np.isfinite(v) else f"{v:.2f}" for k, v in zero.items()}
        lines.append(f"| {env} | {', '.join(map(str, seeds))} | {cell[LITERAL]} | {cell['meta']} | {cell['ddpg']} | "
                     f"{prob_better(f[LITERAL], f['meta']):.2f} | {verdict(f[LITERAL], f['meta'], rng)} | "
                     f"{prob_better(f[LITERAL], f['ddpg']):.2f} | {verdict(f[LITERAL], f['ddpg'], rng)} | {z[LITERAL]} | "
                     f"{log_std:.2f} | {z['meta']} |")
    return "\n".join(lines + ["", "'ours: cycles with Delta = 0' is '–' for runs made before meta/reward_zero_frac was "
                              "logged (the main grid). The teacher's log-std lies in [-4, 0] and starts at -2."]) + "\n"


def build_controls(main_root: str, controls_root: str, required: bool = True) -> str:
    """(e): the control arms beside the main grid's meta and ddpg on the seeds the controls ran, and the contrasts.
    Without control runs: an error when required, else an empty string."""
    arm_runs = control_arm_runs(main_root, controls_root, PROG)
    ctrl = [r for label, sub, _ in ARMS if sub is not None for r in arm_runs[label]]
    if not ctrl:
        if not required:
            return ""
        raise SystemExit(f"baselines_meta.table: error: no control runs with evaluations under {controls_root}")
    rng = np.random.default_rng(0)
    lines = ["## (e) Controls: meta and ddpg of the main grid on the controls' seeds, and the control arms", "",
             "| task | arm | seeds | steps (share of budget) | (a) last 10% of training | (b) last 100 training episodes |",
             "| --- | --- | --- | --- | ---: | ---: |"]
    c_lines = ["| task | question | A | B | seeds | P(A > B), (a) | verdict (a) | P(A > B), (b) | verdict (b) |",
               "| --- | --- | --- | --- | --- | ---: | --- | ---: | --- |"]
    for env in sorted({r.env for r in ctrl}, key=paper.order_key):
        seeds = sorted({r.seed for r in ctrl if r.env == env})
        by = {label: {r.seed: r for r in arm_runs[label] if r.env == env and r.seed in seeds} for label, _, _ in ARMS}
        for label, _, _ in ARMS:
            rs = [by[label][s] for s in sorted(by[label])]
            if not rs:
                continue
            fs = [final_score(r) for r in rs]
            tr = [x for x in (training_score(r) for r in rs) if np.isfinite(x)]
            share = min(r.steps[-1] / r.budget for r in rs)
            steps = f"{int(min(r.steps[-1] for r in rs)):,}" + ("" if all(r.done for r in rs) else f" ({share:.0%}, running)")
            tr_cell = fmt_ci(np.mean(tr), np.std(tr), bootstrap_mean_ci(tr, rng)) if tr else "–"
            lines.append(f"| {env} | {label} | {', '.join(map(str, sorted(by[label])))} | {steps} | "
                         f"{fmt_ci(np.mean(fs), np.std(fs), bootstrap_mean_ci(fs, rng))} | {tr_cell} |")
        for question, a, b in CONTRASTS:
            common = sorted(s for s in set(by[a]) & set(by[b]) if by[a][s].done and by[b][s].done)  # finished runs
            if not common:
                continue
            fa, fb = ([final_score(by[x][s]) for s in common] for x in (a, b))
            tscore = {(x, s): training_score(by[x][s]) for x in (a, b) for s in common}
            tcommon = [s for s in common if np.isfinite(tscore[a, s]) and np.isfinite(tscore[b, s])]  # (b): both arms
            ta, tb = ([tscore[x, s] for s in tcommon] for x in (a, b))
            seeds_cell = ", ".join(map(str, common)) + ("" if tcommon == common else
                                                         f" ((b): {', '.join(map(str, tcommon)) or 'none'})")
            b_cells = f"{prob_better(ta, tb):.2f} | {verdict(ta, tb, rng)}" if tcommon else "– | –"
            c_lines.append(f"| {env} | {question} | {a} | {b} | {seeds_cell} | "
                           f"{prob_better(fa, fb):.2f} | {verdict(fa, fb, rng)} | {b_cells} |")
    return "\n".join(lines + ["", "Contrasts, on the seeds where both arms have finished (A's score against B's; the "
                              "verdict as in (c)):", ""] + c_lines) + "\n"


def build_all(root: str, a) -> str:
    """(a)-(d) over root, then (e) and (f) from the controls root (a.controls)."""
    import os

    md = build_table(root)
    controls = a.controls if a.controls is not None else os.path.join(os.path.dirname(os.path.abspath(root)), "controls")
    if controls != "none" and (a.controls is not None or os.path.isdir(controls)):
        e = build_controls(root, controls, required=a.controls is not None)
        md += "\n" + e if e else ""
        f = build_literal(root, controls)
        md += "\n" + f if f else ""
    return md


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.table`): prints the markdown table and writes it to --out when given."""
    def add_args(p):
        p.add_argument("--controls", default=None, help="root of the control arms (default: `controls` beside ROOT, "
                                                          "when it exists); 'none' to leave (e) and (f) out")

    return markdown_main("python -m baselines_meta.table", __doc__, "results/runs", build_all, argv, add_args)


if __name__ == "__main__":
    sys.exit(main())
