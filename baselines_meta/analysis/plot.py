"""Learning curves: `python -m baselines_meta.plot [ROOT] [--out DIR]`.

Reads ROOT (default results/runs, the committed runs; only read) and writes the figures to DIR, by default
logs/plots (git ignores logs/): the committed figures are replaced only when DIR names them, `--out results/plots`.
A run with a damaged file (as in `table`) is left out and named in one line on stderr, and the figures of the others
are still drawn. A curve needs two evaluations: a run with fewer (e.g. a budget not above --eval_interval evaluates
once, at its end) is left out of its curve, and a curve left with none is left out, each named in one line on
stderr; with nothing left to draw, one line and exit status 2, and no file is written. No ROOT, no run in it, or a
DIR that is a file: one line, exit status 2 (as `table`).

Evaluation return vs env steps, one panel per env (a 2x3 grid like the paper's Figure 3 when there are up to six),
algorithms overlaid: the mean over seeds as a line and the bootstrap 95% CI of that mean as a shaded band, each seed's
curve first smoothed by a trailing moving average over `--smooth K` evaluations (default 5; 1: raw). PNG and SVG.
`--figure1` draws the paper's Figure 1: meta, meta-variance and ddpg on InvertedDoublePendulum-v4.
`--figure4` draws the paper's Figure 4 from the `states.npz` of the meta and ddpg runs of one seed on
InvertedDoublePendulum-v4 (written with --record_states): state-visitation density contours, columns the meta teacher's
D0, the meta student and ddpg, rows each policy's first 50 and last 50 episodes. As the paper draws it, all states
are embedded jointly in 2D by t-SNE and each panel's density is a Gaussian kernel density estimate (needs the analysis
extra: scikit-learn, scipy); `--states N` states a panel, sampled at random (the paper embedded about 2.5M). It also
prints each panel's spread: the mean over observation dimensions of the states' standard deviation, in units of that
dimension's standard deviation over all panels. `--branching DIR` draws `figure4-branching` instead: the main grid's
reset-start teacher, DIR's (the student-start arm's) teacher and student, and ddpg.
`--profile` draws rliable's performance profile of meta and ddpg over the tasks (Table 2 (d); analysis extra).
`--controls DIR` draws the control arms of DIR (Table 2 (e)) beside the main grid's meta and ddpg on the same seeds,
one panel per task the controls ran (controls.png / .svg).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

from baselines_meta import paper
from baselines_meta.analysis.cli import ToolParser, dir_error, int_at_least
from baselines_meta.analysis.figures import save
from baselines_meta.analysis.results import ARM_STYLE, CONTROL_ARMS, bootstrap_ci, common_curve, control_arm_runs, load_runs


def smooth(curves: np.ndarray, k: int) -> np.ndarray:
    """Trailing moving average over the last k points of each row [S, E] (fewer at the start)."""
    if k <= 1:
        return curves
    c = np.cumsum(np.pad(curves, ((0, 0), (1, 0))), axis=1)
    idx = np.arange(1, curves.shape[1] + 1)
    lo = np.maximum(idx - k, 0)
    return (c[:, idx] - c[:, lo]) / (idx - lo)


PROG = "baselines_meta.plot"
ALGS = ("meta", "meta-variance", "ddpg")  # the arms of the curves and of --figure1


def drawable(runs, prog: str = PROG) -> list:
    """The runs that can be drawn: each curve (env, arm) keeps its runs with two evaluations or more, as long as they
    share two evaluation steps or more (common_curve); each run or curve left out is named in one line on stderr."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r.env, r.alg), []).append(r)
    out = []
    for (env, alg), rs in groups.items():
        keep = [r for r in rs if len(r.steps) >= 2]
        few = [r for r in rs if len(r.steps) < 2]
        if keep and len(common_curve(keep)[0]) < 2:
            print(f"{prog}: {env} {alg}: its seeds' evaluations share fewer than two steps; curve left out", file=sys.stderr)
            continue
        if few:
            seeds = ", ".join(str(r.seed) for r in few)
            who = f"seeds {seeds} have" if len(few) > 1 else f"seed {seeds} has"
            print(f"{prog}: {env} {alg}: {who} fewer than two evaluations; "
                  f"{'left out of the curve' if keep else 'curve left out'}", file=sys.stderr)
        out += keep
    return out


def draw(runs, envs, path_stem: str, title: str, k: int = 5, algs=ALGS) -> list[str]:
    """One panel per env of evaluation return vs env steps: per arm the mean over seeds and its bootstrap 95% CI band; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(envs)
    cols = 3 if n > 2 else n
    rows = math.ceil(n / cols)
    shared = len(algs) > 3  # many arms: one legend under the panels, without per-panel seed counts
    width = max(5 * cols, 7)  # one panel (Figure 1): wide enough for the caption
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.6 * rows + (1.0 if shared else 0)), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, env in zip(axes.ravel(), envs):
        for alg in algs:
            rs = [r for r in runs if r.env == env and r.alg == alg]
            if not rs:
                continue
            steps, curves = common_curve(rs)
            curves = smooth(curves, k)
            mean = curves.mean(0)
            lo, hi = bootstrap_ci(curves, rng)
            c, ls = ARM_STYLE.get(alg, (None, "-"))
            ax.plot(steps, mean, color=c, ls=ls, label=alg if shared else f"{alg} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
            ax.fill_between(steps, lo, hi, color=c, alpha=0.2, linewidth=0)
        ax.set_title(env)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))  # 1e6-style ticks on every panel
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
        if not shared:
            ax.legend(fontsize=8, loc="lower right")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    what = f"each seed smoothed over its last {k} evaluations; " if k > 1 else ""
    fig.text(0.5, 0.01, f"{what}line: mean over seeds; shade: bootstrap 95% CI of the mean", ha="center", fontsize=7)
    bottom = 0.04
    if shared:  # every arm that any panel drew, in algs' order
        handles = {}
        for ax in axes.ravel()[:n]:
            for h, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, h)
        labels = [x for x in algs if x in handles]
        fig.legend([handles[x] for x in labels], labels, loc="lower center", ncol=4, fontsize=8,
                   bbox_to_anchor=(0.5, 0.03))
        bottom = 0.2
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    return save(fig, path_stem)


PANELS = (("meta", "teacher", "Meta-Teacher"), ("meta", "student", "Meta-Student"), ("ddpg", "explore", "DDPG"))
# --branching DIR: the reset-start teacher of the main grid beside the student-start run's teacher and student
BRANCHING_PANELS = ((None, "meta", "teacher", "Teacher (reset start)"), ("branching", "meta", "teacher", "Teacher (student start)"),
                    ("branching", "meta", "student", "Student (student start)"), (None, "ddpg", "explore", "DDPG"))


def figure4_panels(root: str, seed: int, branching: str | None = None) -> tuple[dict, list[str]]:
    """({(row, col): states [N, O]}, column titles) of the IDP runs' states.npz: rows 'first' / 'last'; columns PANELS,
    or with `branching` (the student-start arm's directory) BRANCHING_PANELS."""
    env = next((e for e in paper.ENV_IDS if paper.family(e) == "InvertedDoublePendulum"), None)
    cols = [(None, *c) for c in PANELS] if branching is None else list(BRANCHING_PANELS)
    out = {}
    for col, (which, alg, stream, _) in enumerate(cols):
        path = os.path.join(root if which is None else branching, env, alg, f"seed-{seed}", "states.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no {path} (run {alg} on {env} with --record_states)")
        z = np.load(path)
        for row in ("first", "last"):
            out[row, col] = z[f"{stream}_{row}_obs"]
    return out, [c[3] for c in cols]


def panel_spread(panels: dict) -> dict:
    """{key: mean over dimensions of the panel's std, each dimension scaled by its std over all panels' states}."""
    scale = np.concatenate([panels[k] for k in sorted(panels)]).std(0) + 1e-8
    return {k: float((panels[k].std(0) / scale).mean()) for k in panels}


def draw_figure4(panels: dict, titles: list[str], path_stem: str, n_states: int, seed: int) -> list[str]:
    """Figure 4: all panels' states (at most n_states each) embedded jointly by t-SNE, each panel a KDE contour; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(0)
    keys = sorted(panels)
    picked = {k: panels[k][rng.choice(len(panels[k]), min(n_states, len(panels[k])), replace=False)] for k in keys}
    allx = np.concatenate([picked[k] for k in keys])
    z = (allx - allx.mean(0)) / (allx.std(0) + 1e-8)
    emb = TSNE(n_components=2, perplexity=min(30.0, (len(z) - 1) / 3), init="pca", random_state=0).fit_transform(z)
    bounds = np.concatenate([emb.min(0), emb.max(0)])
    gx, gy = np.meshgrid(np.linspace(bounds[0], bounds[2], 120), np.linspace(bounds[1], bounds[3], 120))
    fig, axes = plt.subplots(2, len(titles), figsize=(4.3 * len(titles), 8), squeeze=False)
    i = 0
    for k in keys:
        pts = emb[i : i + len(picked[k])]
        i += len(picked[k])
        row, col = k
        ax = axes[0 if row == "first" else 1, col]
        dens = gaussian_kde(pts.T)(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
        ax.contourf(gx, gy, dens, levels=12, cmap="viridis")
        ax.set_title(f"{titles[col]} ({'early: first' if row == 'first' else 'late: last'} 50 episodes)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Figure 4: state-visitation density, InvertedDoublePendulum-v4, seed {seed} (joint t-SNE, "
                 f"Gaussian KDE; {n_states:,} states a panel at most)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save(fig, path_stem)


def parser() -> ToolParser:
    """The command line of `python -m baselines_meta.plot`."""
    p = ToolParser(prog="python -m baselines_meta.plot", description=__doc__.split("\n")[0],
                   epilog=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("root", nargs="?", default="results/runs", help="the run directories to read (never written)")
    p.add_argument("--out", default="logs/plots", help="directory for the PNG and SVG files (default logs/plots; "
                                                      "--out results/plots replaces the committed figures)")
    p.add_argument("--figure1", action="store_true", help="meta, meta-variance and ddpg on InvertedDoublePendulum-v4")
    p.add_argument("--smooth", type=int_at_least(1), default=5, metavar="K",
                   help="moving window over K evaluations (1: off)")
    p.add_argument("--figure4", action="store_true", help="state-visitation density on InvertedDoublePendulum-v4")
    p.add_argument("--profile", action="store_true", help="rliable's performance profile of meta and ddpg (Table 2 (d))")
    p.add_argument("--controls", default=None, metavar="DIR", help="the control arms under DIR beside meta and ddpg")
    p.add_argument("--branching", default=None, metavar="DIR", help="--figure4: the student-start arm's directory "
                   "(e.g. results/controls/student-start); draws figure4-branching: the reset-start and the student-start "
                   "teacher, the student-start student and ddpg")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="--figure4: the seed whose runs recorded states")
    p.add_argument("--states", type=int_at_least(10), default=1500, help="--figure4: states a panel at most")
    return p


def error(msg: str) -> int:
    """One line on stderr; the exit status 2."""
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.plot`): draws the requested figures; returns the exit code."""
    a = parser().parse_args(argv)
    if not os.path.isdir(a.root):
        return error(f"no such directory: {a.root}")
    if dir_error(a.out):
        return error(f"--out: {dir_error(a.out)}")
    if a.figure4:
        try:
            panels, titles = figure4_panels(a.root, a.seed, a.branching)
        except FileNotFoundError as e:
            return error(str(e))
        try:
            import scipy  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError:
            return error('--figure4 needs the analysis extra: pip install -e ".[analysis]"')
        os.makedirs(a.out, exist_ok=True)
        stem = os.path.join(a.out, "figure4" if a.branching is None else "figure4-branching")
        for (row, col), v in sorted(panel_spread(panels).items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"{titles[col]}, {row} 50 episodes: {len(panels[row, col]):,} states, spread {v:.3f}")
        print("\n".join(draw_figure4(panels, titles, stem, a.states, a.seed)))
        return 0
    runs = load_runs(a.root, PROG)
    if not runs:
        return error(f"no runs with evaluations under {a.root}")
    if a.profile:
        from baselines_meta.analysis.aggregate import INSTALL, normalised_scores, paired, performance_profile, random_return

        try:
            import rliable  # noqa: F401
        except ImportError:
            return error(INSTALL)
        runs = [r for r in runs if r.done]  # as table (d): finished runs only
        envs = paired(runs)[0]
        try:
            _, scores = normalised_scores(runs, {e: random_return(e) for e in envs})
        except ValueError as e:
            return error(f"cannot normalise: {e}")
        if scores["meta"].shape[0] < 2:
            return error("--profile needs meta and ddpg runs of at least 2 common seeds")
        os.makedirs(a.out, exist_ok=True)
        print("\n".join(performance_profile(scores, a.out)))
        return 0
    if a.controls:
        arms = control_arm_runs(a.root, a.controls, PROG)
        ctrl = [r for label, sub, _ in CONTROL_ARMS if sub is not None for r in arms[label]]
        if not ctrl:
            return error(f"no control runs with evaluations under {a.controls}")
        envs = sorted({r.env for r in ctrl}, key=paper.order_key)
        seeds = {e: {r.seed for r in ctrl if r.env == e} for e in envs}
        runs = [r for rs in arms.values() for r in rs if r.env in seeds and r.seed in seeds[r.env] and r.done]
        seen = ", ".join(f"{paper.family(e)} {'/'.join(map(str, sorted(seeds[e])))}" for e in envs)
        stem, title, algs = "controls", f"Controls beside meta and ddpg (finished runs; seeds {seen})", \
            [label for label, _, _ in CONTROL_ARMS]
    elif a.figure1:
        envs = sorted({r.env for r in runs if paper.family(r.env) == "InvertedDoublePendulum"})[:1]
        if not envs:
            return error("no InvertedDoublePendulum runs for --figure1")
        stem, title, algs = "figure1", "Figure 1: meta exploration policies vs DDPG", ALGS
    else:
        envs = sorted({r.env for r in runs}, key=paper.order_key)
        stem, title, algs = "curves", "meta vs ddpg", ALGS
    sel = [r for r in runs if r.env in envs and r.alg in algs]
    runs = drawable(sel)
    if not runs:
        why = "no curve has two evaluations" if sel else \
            "no finished runs of the arms" if a.controls else f"no runs of {', '.join(algs)}"
        return error(f"nothing to draw under {a.root}: {why}")
    envs = [e for e in envs if any(r.env == e for r in runs)]
    os.makedirs(a.out, exist_ok=True)
    print("\n".join(draw(runs, envs, os.path.join(a.out, stem), title, a.smooth, algs=algs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
