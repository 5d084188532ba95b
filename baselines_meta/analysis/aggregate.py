"""Table 2 (d): the aggregate over tasks that Agarwal et al. (NeurIPS 2021) recommend, with their `rliable` library
(an optional extra: `pip install -e ".[analysis]"`).

Each run's score is its (a) score, the mean evaluation return over the last 10% of training, normalised per task
between a random policy (uniform actions, the mean return of `RANDOM_EPISODES` episodes) and the best seed-mean
evaluation return of any main-grid arm (meta or ddpg) on that task. Over the tasks where both meta and ddpg have runs,
and the seeds both have on every such task: IQM and optimality gap with stratified-bootstrap 95% CIs, the probability
of improvement of meta over ddpg, and a performance-profile figure.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

from baselines_meta import paper
from baselines_meta.analysis.results import Run, common_curve, final_score
from baselines_meta.common.episodes import episode

RANDOM_EPISODES = 10
INSTALL = 'the aggregate (d) needs the analysis extra: pip install -e ".[analysis]" (rliable)'


def random_return(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = 0) -> float:
    """Mean return of uniformly random actions over `episodes` episodes."""
    import warnings

    import gymnasium as gym  # (analysis reads run directories and imports no training code)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium warns that v4 MuJoCo envs are out of date
        env = gym.make(env_id)
    env.action_space.seed(seed)
    total = sum(episode(env, lambda o: env.action_space.sample(), seed=seed + i) for i in range(episodes))
    env.close()
    return total / episodes


def best_return(runs: list[Run], env: str, seeds: list[int]) -> float:
    """The best seed-mean evaluation return of meta or ddpg on env, over the given seeds."""
    return max(common_curve([r for r in runs if r.env == env and r.alg == a and r.seed in seeds])[1].mean(0).max()
               for a in ("meta", "ddpg"))


def paired(runs: list[Run]) -> tuple[list[str], list[int]]:
    """The tasks both meta and ddpg ran (Table 2's order), and the seeds both have on all of them."""
    envs = sorted({r.env for r in runs if r.alg == "meta"} & {r.env for r in runs if r.alg == "ddpg"}, key=paper.order_key)
    seeds = sorted(set.intersection(*[{r.seed for r in runs if r.env == e and r.alg == a}
                                      for e in envs for a in ("meta", "ddpg")])) if envs else []
    return envs, seeds


def normalised_scores(runs: list[Run], randoms: dict[str, float]) -> tuple[list[str], dict[str, np.ndarray]]:
    """(tasks, {alg: [seeds, tasks]}) for meta and ddpg on the tasks both ran, the seeds both have on all of them."""
    envs, seeds = paired(runs)
    out = {a: np.zeros((len(seeds), len(envs))) for a in ("meta", "ddpg")}
    if not seeds:
        return envs, out
    for j, env in enumerate(envs):
        best = best_return(runs, env, seeds)
        lo = randoms[env]
        if not best > lo:
            raise ValueError(f"{env}: the best seed-mean return {best:g} is not above the random policy's {lo:g}")
        for a in ("meta", "ddpg"):
            by_seed = {r.seed: r for r in runs if r.env == env and r.alg == a}
            for i, s in enumerate(seeds):
                out[a][i, j] = (final_score(by_seed[s]) - lo) / (best - lo)
    return envs, out


def aggregate_markdown(runs: list[Run], reps: int = 2000, randoms: Optional[dict[str, float]] = None) -> str:
    """Section (d) of the table; the install hint instead when rliable is missing."""
    try:
        from rliable import library as rly
        from rliable import metrics
    except ImportError:
        return f"## (d) Aggregate over tasks\n\n{INSTALL}\n"
    if randoms is None:
        randoms = {e: random_return(e) for e in paired(runs)[0]}
    try:
        envs, scores = normalised_scores(runs, randoms)
    except ValueError as e:
        return f"## (d) Aggregate over tasks\n\ncannot normalise: {e}\n"
    if not envs or scores["meta"].shape[0] < 2:
        return "## (d) Aggregate over tasks\n\nneeds meta and ddpg runs of at least 2 common seeds\n"
    rs = np.random.RandomState(0)
    np.random.seed(0)  # arch 7 ignores the deprecated random_state above and draws from numpy's global generator

    def iqm_gap(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_optimality_gap(x)])

    with warnings.catch_warnings():  # rliable 1.2 hands arch a RandomState, which arch 7 deprecates
        warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
        pt, ci = rly.get_interval_estimates(scores, iqm_gap, reps=reps, random_state=rs)
        ppt, pci = rly.get_interval_estimates({"meta,ddpg": (scores["meta"], scores["ddpg"])},
                                              metrics.probability_of_improvement, reps=reps, random_state=rs)
    lines = ["## (d) Aggregate over tasks (rliable)", "",
             f"{len(envs)} tasks ({', '.join(paper.family(e) for e in envs)}), {scores['meta'].shape[0]} seeds each; "
             "scores normalised per task between a random policy (0) and the best seed-mean evaluation return of meta "
             "or ddpg (1). Stratified-bootstrap 95% CIs.", "",
             "| task | random policy | best seed-mean return |", "| --- | ---: | ---: |"]
    seeds = paired(runs)[1]
    for e in envs:
        lines.append(f"| {e} | {randoms[e]:.2f} | {best_return(runs, e, seeds):.2f} |")
    lines += ["", "| alg | IQM | optimality gap |", "| --- | ---: | ---: |"]
    for a in ("meta", "ddpg"):
        lines.append(f"| {a} | {pt[a][0]:.3f} [{ci[a][0, 0]:.3f}, {ci[a][1, 0]:.3f}] | "
                     f"{pt[a][1]:.3f} [{ci[a][0, 1]:.3f}, {ci[a][1, 1]:.3f}] |")
    p, (lo, hi) = float(ppt["meta,ddpg"]), (float(pci["meta,ddpg"][0][0]), float(pci["meta,ddpg"][1][0]))
    lines += ["", f"Probability of improvement P(meta > ddpg): {p:.3f} [{lo:.3f}, {hi:.3f}]"]
    return "\n".join(lines) + "\n"


def performance_profile(scores: dict[str, np.ndarray], out_dir: str, reps: int = 2000) -> list[str]:
    """rliable's performance profile (fraction of runs above each normalised score) with CIs, PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from rliable import plot_utils

    taus = np.linspace(-0.25, 1.25, 61)
    np.random.seed(0)  # rliable draws its bootstrap from numpy's global generator here
    prof, prof_ci = rly.create_performance_profile(scores, taus, reps=reps)
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {"meta": "tab:red", "ddpg": "tab:blue"}
    plot_utils.plot_performance_profiles(prof, taus, performance_profile_cis=prof_ci, ax=ax, colors=colors)
    from matplotlib.lines import Line2D  # one line per algorithm (the axes also hold the CI bands' patches)

    ax.legend([Line2D([], [], color=colors[a]) for a in scores], list(scores), loc="upper right")
    ax.set_title("Performance profile over the paper's tasks")
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    from baselines_meta.analysis.figures import save

    return save(fig, os.path.join(out_dir, "performance_profile"))
