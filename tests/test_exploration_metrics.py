"""The hard-exploration suite's metrics on hand-made run directories, and the live discovery log of the loop."""
import json
import os

import numpy as np
import pytest

from baselines_meta.analysis import exploration as ex
from baselines_meta.paper import exploration_task


def write(root, env_id, arm, seed, returns, discovered=None, budget=100, done=True):
    d = os.path.join(root, ex.env_dir(env_id), arm, f"seed-{seed}")
    os.makedirs(d)
    steps = np.linspace(budget / len(returns), budget, len(returns)).astype(int)
    with open(os.path.join(d, "evaluations.csv"), "w") as f:
        f.write("steps,total_steps,return_0\n" + "".join(f"{s},{s},{r}\n" for s, r in zip(steps, returns)))
    with open(os.path.join(d, "progress.csv"), "w") as f:
        f.write("total/steps,explore/discovered_at\n50,\n100," + ("" if discovered is None else str(discovered)) + "\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"env_id": env_id, "alg": arm.split("-")[0], "seed": seed, "schedule": {"num_timesteps": budget}}, f)
    if done:
        open(os.path.join(d, "DONE"), "w").close()
    return d


def test_intervals_and_tests_against_the_libraries():
    from scipy.stats import fisher_exact
    from statsmodels.stats.proportion import proportion_confint

    for k, n in ((0, 10), (3, 10), (10, 10), (2, 5)):
        np.testing.assert_allclose(ex.wilson(k, n), proportion_confint(k, n, method="wilson"), atol=1e-6)
    for table in ((0, 10, 10, 0), (3, 7, 8, 2), (1, 4, 4, 1), (5, 5, 5, 5), (0, 10, 0, 10)):
        a, b, c, d = table
        assert ex.fisher_exact(a, b, c, d) == pytest.approx(fisher_exact([[a, b], [c, d]])[1], rel=1e-9), table
    assert ex.fisher_exact(10, 0, 0, 10) == pytest.approx(2 / 184756)  # by hand: 2 of C(20, 10) tables
    assert ex._p(0.4) == "0.400" and ex._p(2 / 184756) == "1.1e-05" and ex._p(0.0) == "0"  # never a bare 0.000


def test_seed_metrics_arm_summary_best_arm_and_verdicts(tmp_path):
    root, env = str(tmp_path), "SparseMountainCar-v0"  # bar 0.5
    # ddpg-param: 2 of 3 solved (at steps 50 and 75), ddpg-none: 2 of 3 solved later (100, 100): param is best (tie)
    write(root, env, "ddpg-param", 0, [0, 1, 1, 1], discovered=30)  # evaluations at 25, 50, 75, 100
    write(root, env, "ddpg-param", 1, [0, 0, 1, 1], discovered=60)
    write(root, env, "ddpg-param", 2, [0, 0, 0, 0])
    write(root, env, "ddpg-none", 0, [0, 0, 0, 1])
    write(root, env, "ddpg-none", 1, [0, 0, 0, 1])
    write(root, env, "ddpg-none", 2, [0, 0, 0, 0])
    for s in range(3):  # meta: none solved, one ever solved (a single good evaluation, not in the last 10%)
        write(root, env, "meta", s, [0, 1, 0, 0] if s == 0 else [0, 0, 0, 0], discovered=10 if s == 0 else None)
    write(root, env, "meta", 3, [1, 1, 1, 1], done=False)  # unfinished: left out
    data = ex.load(root)[env]
    r = data["ddpg-param"][0]
    assert (r.solved, r.first_solved_at, r.discovered_at, r.final) == (True, 50, 30, 1.0)
    assert len(data["meta"]) == 3 and data["meta"][0].first_solved_at == 50 and not data["meta"][0].solved
    sums = {a: ex.summarise(a, rs) for a, rs in data.items()}
    p = sums["ddpg-param"]
    assert (p.n, p.solved, p.ever, p.discovered, p.median_steps) == (3, 2, 2, 2, 75.0)  # median of 50, 75, never
    assert sums["ddpg-none"].median_steps == 100.0 and sums["meta"].median_steps is None  # 1 of 3: never
    assert ex.best_ddpg(list(sums.values())).arm == "ddpg-param"
    pval, words = ex.verdict(sums["meta"], sums["ddpg-param"])
    assert words == "not distinguishable" and pval == pytest.approx(0.4)  # 0/3 vs 2/3: p = 0.4 by hand
    md = ex.build_table(root)
    assert "| SparseMountainCar-v0 | ddpg-param | meta | 0/3, 2/3 | 0.400 | not distinguishable |" in md
    steps, frac = ex.solved_curve(root, env, "ddpg-param", 0.5)
    np.testing.assert_allclose(frac, [0, 1 / 3, 2 / 3, 2 / 3])  # at 25, 50, 75, 100
    stem = str(tmp_path / "fig")
    assert ex.main([root, "--figure", stem, "--out", str(tmp_path / "t.md")]) == 0
    assert os.path.getsize(stem + ".png") > 1000 and open(str(tmp_path / "t.md")).read() == md


def test_critic_collapse_and_zero_meta_rewards(tmp_path):
    """The diagnostics beside the verdicts, by hand: a critic collapses from the first epoch after which its
    reference_Q_std stays below 1e-6; a discovery counts as made while it was alive only up to the epoch before;
    Delta = 0 is averaged over epochs."""
    root, env = str(tmp_path), "SparseMountainCar-v0"

    def progress(d, q_std, zero=None, discovered=None):
        with open(os.path.join(d, "progress.csv"), "w") as f:
            f.write("total/steps,explore/discovered_at,reference_Q_std" + (",meta/reward_zero_frac" if zero else "") + "\n")
            for i, q in enumerate(q_std):
                disc = "" if discovered is None or discovered[i] is None else str(discovered[i])
                f.write(f"{25 * (i + 1)},{disc},{q}" + (f",{zero[i]}" if zero else "") + "\n")

    # epochs end at 25, 50, 75, 100
    # collapsed from 100 (its 0 at 50 does not count: alive again at 75), alive until 75; discovered at 70: alive
    d0 = write(root, env, "meta", 0, [0, 0, 0, 0])
    progress(d0, [0.01, 0.0, 1e-3, 3.7e-9], zero=[0.0, 0.5, 1.0, 1.0], discovered=[None, None, 70, 70])
    # collapsed from 50, alive until 25; discovered at 40, inside the epoch it collapsed in: not counted
    d1 = write(root, env, "meta", 1, [0, 0, 0, 0])
    progress(d1, [0.02, 4e-8, 0.0, 0.0], zero=[0.0, 0.0, 1.0, 1.0], discovered=[None, 40, 40, 40])
    d2 = write(root, env, "ddpg-none", 0, [0, 0, 0, 0])  # alive to the end (a nan row skipped), no meta column
    progress(d2, [0.0, 0.0, 2e-6, "nan"])
    assert (ex.collapse(d0), ex.collapse(d1), ex.collapse(d2)) == ((100, 75), (50, 25), (None, 75))
    assert (ex.collapsed_at(d0), ex.collapsed_at(d1), ex.collapsed_at(d2)) == (100, 50, None)
    assert ex.zero_fraction(d0) == pytest.approx(0.625) and ex.zero_fraction(d1) == 0.5 and ex.zero_fraction(d2) is None
    m = ex.summarise("meta", ex.load(root)[env]["meta"])
    assert (m.collapsed, m.discovered, m.discovered_alive) == (2, 2, 1)
    assert m.zero_frac == pytest.approx((0.625 + 0.5) / 2)
    md = ex.build_table(root)
    assert "| SparseMountainCar-v0 | meta | 2 | 0/2 [0.00, 0.66] | 0/2 | 2/2 | never | 0.00 | 2/2 | 1/2 | 0.56 |" in md
    assert "| SparseMountainCar-v0 | ddpg-none | 1 | 0/1 [0.00, 0.79] | 0/1 | 0/1 | never | 0.00 | 0/1 | 0/1 | – |" in md


def test_discovery_is_logged_live_by_the_loop(tmp_path):
    """A fake algorithm on SparseMountainCar-v0 whose third cycle's second rollout rewards its 7th transition."""
    from test_loop import Fake, _rows

    from baselines_meta.config import RunConfig, ScheduleConfig
    from baselines_meta.runtime import loop as shared
    from baselines_meta.runtime.context import RunContext
    from baselines_meta.runtime.envs import Rollout
    from baselines_meta.runtime.tasks import watchers_for

    def ro(n, hit=None):
        r = np.zeros(n, np.float32)
        t = np.zeros(n, bool)
        if hit is not None:
            r[hit], t[hit] = 1.0, True
        z = np.zeros((n, 2), np.float32)
        return Rollout(z, np.zeros((n, 1)), r, z, t, np.zeros(n, bool), np.zeros((n, 1)), [], [])

    class Finds(Fake):
        def cycle(self, loop, remaining):
            c = super().cycle(loop, remaining)
            parts = (ro(50), ro(100, 6 if self.count.n == 3 else None)) if c.steps == 150 else (ro(c.steps),)
            return c._replace(rollouts=parts)

    d = str(tmp_path / "run")
    sch = ScheduleConfig(num_timesteps=900, nb_epoch_cycles=2, eval_interval=10**6, eval_episodes=0)
    from baselines_meta.resolve import resolve

    ctx = RunContext(resolve(RunConfig(alg="ddpg", env_id="SparseMountainCar-v0", log_path=d, log_formats="csv", progress_bar=False,
                               schedule=sch)))
    try:
        shared.run(ctx, Finds(), watchers=watchers_for(ctx.cfg.env_id))
    finally:
        ctx.close()
    got = [r["explore/discovered_at"] for r in _rows(d)]
    assert got[0] in ("", "nan") and [float(x) for x in got[1:]] == [2 * 150 + 50 + 7] * 2  # cycle 3: 300 + 50 + 7
    assert exploration_task("Hopper-v4") is None and watchers_for("Hopper-v4") == {}
