"""The hard-exploration suite's metrics on hand-made run directories, and the live discovery log of the loop."""
import json
import math
import os

import numpy as np
import pytest

from baselines_meta.analysis import exploration as ex
from baselines_meta.analysis import exploration_runs as er
from baselines_meta.paper import ExplorationTask, exploration_task


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
    assert (er.collapse(d0), er.collapse(d1), er.collapse(d2)) == ((100, 75), (50, 25), (None, 75))
    assert (er.collapsed_at(d0), er.collapsed_at(d1), er.collapsed_at(d2)) == (100, 50, None)
    assert er.zero_fraction(d0) == pytest.approx(0.625) and er.zero_fraction(d1) == 0.5 and er.zero_fraction(d2) is None
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


# --- the rerun with critic L2 0 (results/exploration-l2zero/README.md) ------------------------------------------------

def write_progress(d, **cols):
    """progress.csv with epochs ending at 25, 50, ... and the given columns (keyword names: '__' for '/')."""
    cols = {k.replace("__", "/"): v for k, v in cols.items()}
    n = len(next(iter(cols.values())))
    with open(os.path.join(d, "progress.csv"), "w") as f:
        f.write(",".join(["total/steps", *cols]) + "\n")
        f.writelines(",".join([str(25 * (i + 1)), *("" if v[i] is None else str(v[i]) for v in cols.values())]) + "\n"
                     for i in range(n))


def write_normaliser(d, mean, std, floor=0.1, clip=5.0):
    with open(os.path.join(d, "normaliser.json"), "w") as f:
        json.dump({"mean": [mean, 0.0], "std": [std, 0.1], "count": 300.0, "std_floor": floor, "clip": clip}, f)


def test_the_rerun_collapse_rule_by_active_units(tmp_path):
    """The pre-registered rule: collapsed at the first epoch from which critic/active_frac is 0 in that row and every
    later one; a critic that comes back is not collapsed, however flat its Q; the first suite's rule (reference_Q_std
    below 1e-6 to the end) is reported beside it as Q flat."""
    root, env = str(tmp_path), "SparseMountainCar-v0"
    # dead from 75 to the end (alive until 50); discovered at 60, in the epoch it died in: not counted as alive
    d0 = write(root, env, "ddpg-param", 0, [0, 0, 0, 0])
    write_progress(d0, critic__active_frac=[0.5, 0.25, 0.0, 0.0], reference_Q_std=[0.1, 0.01, 1e-7, 1e-8],
                   explore__discovered_at=[None, None, 60, 60])
    # 0 at 50 and 75, one unit (1/64) active again at the end: not collapsed, though Q is flat from 50
    d1 = write(root, env, "ddpg-param", 1, [0, 0, 0, 0])
    write_progress(d1, critic__active_frac=[0.5, 0.0, 0.0, 0.015625], reference_Q_std=[0.1, 1e-7, 1e-7, 1e-7],
                   explore__discovered_at=[None, None, 60, 60])
    # a row without the value is skipped: dead from 50 (alive until 25)
    d2 = write(root, env, "ddpg-param", 2, [0, 0, 0, 0])
    write_progress(d2, critic__active_frac=[0.5, 0.0, "nan", 0.0], reference_Q_std=[0.1, 1e-7, 1e-7, 1e-7])
    assert [er.collapse(d, *er.ACTIVE_RULE) for d in (d0, d1, d2)] == [(75, 50), (None, 100), (50, 25)]
    assert [er.collapsed_at(d) for d in (d0, d1, d2)] == [75, 50, 50]  # the first suite's rule
    write(root, env, "meta-progress", 0, [0, 0, 0, 0], done=False)  # marks the rerun's root; unfinished: left out
    assert ex.is_l2zero(root) and not ex.is_l2zero(str(tmp_path / "nothing"))
    rs = ex.load(root, l2zero=True)[env]["ddpg-param"]
    assert [(r.collapsed_at, r.alive_until, r.flat_at) for r in rs] == [(75, 50, 75), (None, 100, 50), (50, 25, 50)]
    s = ex.summarise("ddpg-param", rs)
    assert (s.collapsed, s.flat, s.discovered, s.discovered_alive) == (2, 3, 2, 1)
    assert "| SparseMountainCar-v0 | ddpg-param | 3 of 10 | 0/3 [0.00, 0.56] | 0/3 | 2/3 | never | 0.00 | 2/3 | 3/3 | 1/3 | – | – | – |" \
        in ex.build_table(root)
    assert ex.summarise("ddpg-param", ex.load(root)[env]["ddpg-param"]).collapsed == 3  # the first suite's rule


def test_meta_signals_delta_zero_and_progress(tmp_path):
    """Delta = 0: the mean over epochs of meta/reward_zero_frac; progress: the mean over epochs of meta/progress
    (meta/progress_mean where it is absent) and the median of its absolute values, each then over seeds."""
    root, env = str(tmp_path), "SparseMountainCar-v0"
    d0 = write(root, env, "meta-progress", 0, [0, 0, 0, 0])
    write_progress(d0, meta__reward_zero_frac=[1.0, 1.0, 0.5, 0.0], meta__progress=[1e-6, -5e-6, 2e-6, 2e-6])
    d1 = write(root, env, "meta-progress", 1, [0, 0, 0, 0])
    write_progress(d1, meta__reward_zero_frac=[1.0, 1.0, None, 1.0], meta__progress_mean=[4e-6, 10e-6, 4e-6, None])
    d3 = write(root, env, "meta-progress", 3, [0, 0, 0, 0])
    write_progress(d3, meta__reward_zero_frac=[0.0, 0.0], meta__progress=[1e-5, -1e-5])
    assert er.zero_fraction(d0) == pytest.approx(0.625) and er.zero_fraction(d1) == 1.0
    assert er.progress_stats(d0) == pytest.approx((0.0, 2e-6)) and er.progress_stats(d1) == pytest.approx((6e-6, 4e-6))
    d2 = write(root, env, "ddpg-none", 0, [0, 0, 0, 0])
    assert er.progress_stats(d2) == (None, None) and er.zero_fraction(d2) is None
    s = ex.summarise("meta-progress", ex.load(root, l2zero=True)[env]["meta-progress"])
    # over seeds: the mean of (0.625, 1, 0), the mean of (0, 6e-6, 0), the median of (2e-6, 4e-6, 1e-5)
    assert s.zero_frac == pytest.approx(1.625 / 3) and s.progress == pytest.approx(2e-6) and s.progress_abs == pytest.approx(4e-6)
    md = ex.build_table(root)
    assert "| meta-progress | 3 of 10 | 0/3 [0.00, 0.56] | 0/3 | 0/3 | never | 0.00 | 0/3 | 0/3 | 0/3 | 0.54 | 2e-06 | 4e-06 | 0/0 |" in md
    assert "| ddpg-none | 1 of 10 | 0/1 [0.00, 0.79] | 0/1 | 0/1 | never | 0.00 | 0/1 | 0/1 | 0/1 | – | – | – | – |" in md


def test_teacher_episodes_that_scored(tmp_path):
    """The teacher's D0 episodes (meta's 0.monitor.csv) with a return above 0, summed over seeds; a return of 0 or an
    action cost alone (below 0) did not score; no file: no episodes; ddpg arms: no cell."""
    root, env = str(tmp_path), "MountainCarContinuous-v0"

    def monitor(d, returns):
        with open(os.path.join(d, "0.monitor.csv"), "w") as f:
            f.write('#{"t_start": 0, "env_id": "x"}\nr,l,t\n' + "".join(f"{r},999,{i}\n" for i, r in enumerate(returns)))

    monitor(write(root, env, "meta", 0, [0, 0, 0, 0]), [-3.2, 0.0, 91.5, -0.01])
    monitor(write(root, env, "meta", 1, [0, 0, 0, 0]), [-1.0, -2.0])
    write(root, env, "meta", 2, [0, 0, 0, 0])  # no monitor file
    monitor(write(root, env, "ddpg-none", 0, [0, 0, 0, 0]), [95.0])
    write(root, env, "meta-progress", 0, [0, 0, 0, 0], done=False)  # marks the rerun's root
    assert [er.episodes_scored(os.path.join(root, env, "meta", f"seed-{s}")) for s in range(3)] == [(4, 1), (2, 0), (0, 0)]
    data = ex.load(root, l2zero=True)[env]
    assert ex.summarise("meta", data["meta"]).d0_episodes == (6, 1)
    assert data["ddpg-none"][0].d0_episodes is None and ex.summarise("ddpg-none", data["ddpg-none"]).d0_episodes is None
    md = ex.build_table(root)
    assert "| MountainCarContinuous-v0 | meta | 3 of 10 |" in md and md.split("| meta | 3 of 10 |")[1].split("\n")[0].endswith("| 1/6 |")
    assert md.split("| ddpg-none | 1 of 10 |")[1].split("\n")[0].endswith("| – | – | – | – |")


def test_normaliser_clip_of_the_position(tmp_path):
    """(x - mean) / max(std, floor) for the goal x = 0.45; the clip +5 begins at mean + 5 max(std, floor)."""
    root, env = str(tmp_path), "SparseMountainCar-v0"
    d0 = write(root, env, "ddpg-none", 0, [0, 0, 0, 0])
    write_normaliser(d0, -0.52, 0.1)  # a car that never left the valley: every x right of -0.02 is seen as +5
    d1 = write(root, env, "ddpg-none", 1, [0, 0, 0, 0])
    write_normaliser(d1, -0.5, 0.3)
    d2 = write(root, env, "ddpg-none", 2, [0, 0, 0, 0])
    write_normaliser(d2, -0.5, 0.05)  # below the floor: 0.1 is used
    z, clipped, start = er.normaliser_check(d0)
    assert z == pytest.approx(9.7) and clipped and start == pytest.approx(-0.02)
    z, clipped, start = er.normaliser_check(d1)
    assert z == pytest.approx(0.95 / 0.3) and not clipped and start == pytest.approx(1.0)
    assert er.normaliser_check(d2) == pytest.approx((9.5, True, 0.0))
    assert er.normaliser_check(d0, x=-0.03) == pytest.approx((4.9, False, -0.02))  # just left of the clip
    assert er.normaliser_check(d2, x=0.0) == (5.0, True, 0.0) and not er.normaliser_check(d2, x=-0.001)[1]  # at it: +5
    write(root, env, "ddpg-none", 3, [0, 0, 0, 0])  # no normaliser.json: not counted
    c = write(root, "dm_control/cartpole-swingup_sparse-v0", "ddpg-none", 0, [0, 0, 0, 0])
    write_normaliser(c, -0.52, 0.1)  # not a MountainCar task: its dimension 0 is no position
    write(root, env, "ddpg-param-l2", 0, [0, 0, 0, 0])
    data = ex.load(root, l2zero=True)
    assert [r.goal_clipped for r in data[env]["ddpg-none"]] == [True, False, True, None]
    assert data["dm_control/cartpole-swingup_sparse-v0"]["ddpg-none"][0].goal_z is None
    md = ex.build_table(root)  # 2 of 3 seen as +5, the goal normalised 9.5 (median), +5 from 0.0 (median of -0.02, 1, 0)
    assert "| SparseMountainCar-v0 | ddpg-none | 3 | 2/3 | 9.50 | 0.000 [-0.020, 1.000] |" in md
    assert "| dm_control/cartpole-swingup_sparse-v0 | ddpg-none | 1 |" not in md


def _seeds(k, n, at=50):
    """n finished seeds' results of which the first k solved (first at `at` steps)."""
    return [ex.SeedResult(s, s < k, at if s < k else None, None, float(s < k), True) for s in range(n)]


def test_rerun_contrasts_fisher_by_hand_and_pending():
    """The rerun's verdicts: the best ddpg arm among the four with L2 0 only (ddpg-param-l2 solves more here), ties to
    the lower median steps; Fisher's two-sided p by hand; pending until every arm of the task has all its seeds."""
    task = ExplorationTask("SparseMountainCar-v0", 100, 0.5, 5, "goal")
    arms = {"ddpg-param": _seeds(4, 5), "ddpg-normal": _seeds(4, 5, at=75), "ddpg-ou": _seeds(0, 5), "ddpg-none": _seeds(1, 5),
            "meta": _seeds(0, 5), "meta-progress": _seeds(5, 5), "ddpg-param-l2": _seeds(5, 5)}
    sums = {a: ex.summarise(a, rs) for a, rs in arms.items()}
    lines = ex.contrasts(task, sums)
    # [[0, 5], [4, 1]]: of the C(10, 4) = 210 tables, 5 as probable as the observed (0 solved) and 5 at the other end
    p_meta = 2 * 5 / math.comb(10, 4)
    assert ex.fisher_exact(0, 5, 4, 1) == pytest.approx(p_meta) and p_meta < 0.05
    assert lines == [
        f"| SparseMountainCar-v0 | meta vs ddpg-param (the best ddpg arm) | 0/5, 4/5 | {ex._p(p_meta)} | worse |",
        "| SparseMountainCar-v0 | meta-progress vs ddpg-param (the best ddpg arm) | 5/5, 4/5 | 1.000 | not distinguishable |",
        f"| SparseMountainCar-v0 | meta-progress vs meta | 5/5, 0/5 | {ex._p(2 / math.comb(10, 5))} | better |",
        "| SparseMountainCar-v0 | ddpg-param vs ddpg-param-l2 | 4/5, 5/5 | 1.000 | not distinguishable |"]
    assert ex._p(p_meta) == "0.048"
    sums["meta-progress"] = ex.summarise("meta-progress", _seeds(4, 4))  # one seed short: the whole task is pending
    assert ex.contrasts(task, sums) == [f"| SparseMountainCar-v0 | {c} | – | – | pending: 34 of 35 runs done |" for c in (
        "meta vs the best ddpg arm", "meta-progress vs the best ddpg arm", "meta-progress vs meta", "ddpg-param vs ddpg-param-l2")]
    del sums["ddpg-param-l2"]  # an arm not started counts as 0 done
    assert ex.contrasts(task, sums)[0].endswith("pending: 29 of 35 runs done |")
    other = task._replace(env_id="SparseHalfCheetah-v5")  # no L2 control there
    assert len(ex.contrasts(other, {a: s for a, s in sums.items()})) == 3


def test_rerun_table_end_to_end(tmp_path, capsys):
    """A complete task (every arm of MountainCarContinuous-v0, 10 seeds) gets its verdicts; an incomplete one says
    pending with its runs done; a run that has only started (no config.json yet) is neither counted nor named."""
    root = str(tmp_path)
    solved = {"ddpg-param": 8, "ddpg-normal": 0, "ddpg-ou": 0, "ddpg-none": 0, "meta": 0, "meta-progress": 10}
    for arm, k in solved.items():
        for s in range(10):
            write(root, "MountainCarContinuous-v0", arm, s, [0, 0, 1, 1] if s < k else [0, 0, 0, 0])
    for s in range(3):
        write(root, "SparseMountainCar-v0", "meta", s, [0, 0, 0, 0])
    write(root, "SparseMountainCar-v0", "meta", 3, [0, 0, 0, 0], done=False)
    os.makedirs(os.path.join(root, "SparseMountainCar-v0", "meta", "seed-4"))  # just started: a lock, no config.json
    open(os.path.join(root, "SparseMountainCar-v0", "meta", "seed-4", ".lock"), "w").close()
    assert ex.main([root, "--figure", str(tmp_path / "fig")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and os.path.getsize(str(tmp_path / "fig.png")) > 1000
    p8 = 2 * math.comb(10, 8) / math.comb(20, 8)  # 0/10 against 8/10: the two extreme tables of 125,970
    assert f"| MountainCarContinuous-v0 | meta vs ddpg-param (the best ddpg arm) | 0/10, 8/10 | {ex._p(p8)} | worse |" in out
    assert "| MountainCarContinuous-v0 | meta-progress vs ddpg-param (the best ddpg arm) | 10/10, 8/10 | 0.474 | not distinguishable |" in out
    assert f"| MountainCarContinuous-v0 | meta-progress vs meta | 10/10, 0/10 | {ex._p(2 / 184756)} | better |" in out
    assert "| SparseMountainCar-v0 | meta | 3 of 10 | 0/3 [0.00, 0.56] |" in out
    assert "| SparseMountainCar-v0 | meta-progress vs meta | – | – | pending: 3 of 70 runs done |" in out
    assert "| dm_control/cartpole-swingup_sparse-v0 | meta vs the best ddpg arm | – | – | pending: 0 of 70 runs done |" in out
    assert "MountainCarContinuous-v0 | ddpg-param vs" not in out  # no L2 control on that task
