"""Table 2 statistics against hand computation, the plot files, and the compare launcher's skip / resume plan."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from baselines_meta.analysis.results import Run, bootstrap_ci, common_curve, final_score, load_runs, prob_better


def write_run(root, env, alg, seed, steps, returns, budget, episodes=None, done=None):
    """A run as compare leaves it; DONE (compare's mark of a finished run) when done, by default when the last
    evaluation reached the budget."""
    d = os.path.join(root, env, alg, f"seed-{seed}")
    os.makedirs(d)
    if done if done is not None else steps[-1] >= budget:
        open(os.path.join(d, "DONE"), "w").close()
    if episodes is not None:  # the training env's monitor
        with open(os.path.join(d, "0.monitor.csv"), "w") as f:
            f.write('#{"t_start": 0, "env_id": "%s"}\nr,l,t\n' % env + "".join(f"{r},10,0.1\n" for r in episodes))
    with open(os.path.join(d, "evaluations.csv"), "w") as f:
        f.write("steps,total_steps,return_0,return_1\n")
        for s, r in zip(steps, returns):
            f.write(f"{s},{s},{r - 1},{r + 1}\n")  # two episodes whose mean is r
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"schedule": {"num_timesteps": budget}}, f)
    return d


def test_scores_by_hand():
    r = Run("E", "meta", 0, np.arange(10, 110, 10), np.arange(10, dtype=float), 100, True, "")
    assert final_score(r) == pytest.approx(np.mean([8.0, 9.0]))  # steps >= 90: evaluations at 90 and 100
    assert prob_better([3, 5], [4, 4]) == 0.5  # (3>4:0, 3>4:0, 5>4:1, 5>4:1) / 4
    assert prob_better([1, 2], [2, 3]) == pytest.approx(0.5 / 4)  # one tie (2 vs 2) counts half
    assert np.isnan(prob_better([], [1]))
    x = np.array([[1.0, 10.0], [3.0, 10.0]])
    lo, hi = bootstrap_ci(x, np.random.default_rng(0))
    assert 1.0 <= lo[0] <= 2.0 <= hi[0] <= 3.0 and lo[1] == hi[1] == 10.0
    from baselines_meta.analysis.results import first_reach, verdict

    rng = np.random.default_rng(0)
    assert verdict([10, 11, 12], [1, 2, 3], rng) == "better" and verdict([1, 2, 3], [10, 11, 12], rng) == "worse"
    assert verdict([1, 5, 9], [2, 5, 8], rng) == "not distinguishable" and verdict([], [1], rng) == "–"
    assert verdict([10], [1, 2], rng) == "too few seeds"
    assert first_reach(np.array([10, 20, 30]), np.array([0.0, 5.0, 4.0]), 5.0) == 20
    assert first_reach(np.array([10, 20]), np.array([0.0, 1.0]), 5.0) is None


def test_load_and_table(tmp_path):
    import re

    from baselines_meta.analysis.table import build_table

    root = str(tmp_path)
    steps = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    for seed, off in enumerate((0.0, 2.0, 4.0)):
        eps = np.arange(150) / 10 + off  # last 100 training episodes: mean 9.95 + off
        write_run(root, "Pendulum-v1", "meta", seed, steps, [-500 + 40 * i + off for i in range(10)], 1000, eps)
        write_run(root, "Pendulum-v1", "ddpg", seed, steps, [-600 + 40 * i + off for i in range(10)], 1000, eps - 5)
    write_run(root, "Hopper-v4", "ddpg", 0, [100, 200], [5.0, 6.0], 1000)  # unfinished
    # at its budget but without DONE (cut off after its last evaluation): unfinished too, so (b) and (c) leave it out
    write_run(root, "Pendulum-v1", "ddpg", 3, steps, [5000.0] * 10, 1000, np.full(150, 5000.0), done=False)
    runs = load_runs(root)
    assert len(runs) == 8 and sum(r.done for r in runs) == 6
    grid, curves = common_curve([r for r in runs if r.env == "Pendulum-v1" and r.alg == "meta"])
    assert curves.shape == (3, 10) and list(grid) == steps
    md = build_table(root, aggregate=False)

    def cell(prefix):  # 'mean ± std [lo, hi]' after a row's prefix -> (text, lo, hi)
        m = re.search(re.escape(prefix) + r"([-0-9.]+ ± [0-9.]+) \[([-0-9.]+), ([-0-9.]+)\]", md)
        assert m, prefix
        return m.group(1), float(m.group(2)), float(m.group(3))

    # (a) meta last 10%: evaluations at 900, 1000 -> mean of (-180+off, -140+off) = -160 + off; off 0,2,4 -> -158 +- 1.63
    # and the bootstrap CI of the mean lies within the seeds' range
    text, lo, hi = cell("| Pendulum-v1 | meta | 3 | 1,000 | ")
    assert text == "-158 ± 2" and -160 <= lo <= -158 <= hi <= -156
    # max of the seed-mean curve: at 1000, -140 + 2 = -138, std over seeds 1.63; the paper's -123 ± 10 beside it
    assert re.search(r"\| -138 ± 2 \[[-0-9]+, [-0-9]+\] \| -123 ± 10 \|", md)
    # (a) includes the unfinished seed 3, marked running: the mean of -260, -258, -256 and 5000 is 1056.5 (printed
    # 1056, half to even), population std 2276.8
    assert cell("| Pendulum-v1 | ddpg | 4 | 1,000 (100%, running) | ")[0] == "1056 ± 2277"
    assert "| Hopper-v4 | ddpg | 1 | 200 (20%, running) |" in md
    # (b) the last 100 training episodes: 9.95 + off -> 11.95 +- 1.63 (meta), 5 less for ddpg; no D1 monitor here
    # (finished runs only: ddpg's seed 3, 5000 a training episode, is left out)
    assert cell("| Pendulum-v1 | meta | 3 | ")[0] == "11.95 ± 1.63" and cell("| Pendulum-v1 | ddpg | 3 | ")[0] == "6.95 ± 1.63"
    assert "| 11.95 ± 1.63 [" in md and "| – | -123 ± 10 |" in md
    # (c) every meta seed beats every ddpg seed on both metrics; meta's seed-mean curve -498 + 40 i first reaches
    # ddpg's best seed-mean return (-238, at 1000) at i = 7: step 800 of 1000
    assert "| Pendulum-v1 | 3, 3 | 1.00 | better | 1.00 | better | 800 (0.80 of the budget) |" in md


def test_controls_by_hand(tmp_path, capsys):
    """(e): the main grid's arms on the controls' seeds only, each control arm's scores, and the contrasts on the
    seeds where both arms finished."""
    from baselines_meta.analysis.table import build_controls, main

    runs, ctrl = str(tmp_path / "runs"), str(tmp_path / "controls")
    steps = [100 * i for i in range(1, 11)]
    env = "HalfCheetah-v4"
    for seed in range(4):  # main grid: seeds 0-3; the controls have 0-2, so seed 3 (return 1000) must not count
        level = 1000.0 if seed == 3 else 10.0 * seed
        write_run(runs, env, "meta", seed, steps, [level] * 10, 1000, [level] * 100)
        write_run(runs, env, "ddpg", seed, steps, [level - 50] * 10, 1000, [level + 1] * 100)
    for seed in range(3):  # frozen meta: 20 below meta on every seed; no-noise ddpg: level 30 on every seed
        write_run(os.path.join(ctrl, "frozen"), env, "meta", seed, steps, [10.0 * seed - 20] * 10, 1000, [5.0] * 100)
        write_run(os.path.join(ctrl, "ddpg-nonoise"), env, "ddpg", seed, steps, [30.0] * 10, 1000, [30.0] * 100)
    write_run(os.path.join(ctrl, "truncation"), env, "meta", 0, steps[:2], [1.0, 2.0], 1000)  # running
    for seed in range(3):  # ddpg at meta's ratio: seed 2 has no training monitor, so (b) pairs seeds 0 and 1 only
        write_run(os.path.join(ctrl, "ddpg-ratio0.2"), env, "ddpg", seed, steps, [0.0] * 10, 1000,
                  [100.0] * 100 if seed < 2 else None)
    md = build_controls(runs, ctrl)
    # meta on seeds 0-2: 0, 10, 20 -> 10 +- 8.16 (population std); training episodes the same
    assert f"| {env} | meta | 0, 1, 2 | 1,000 | 10.00 ± 8.16 [" in md and "] | 10.00 ± 8.16 [" in md
    assert f"| {env} | meta, frozen teacher | 0, 1, 2 | 1,000 | -10.00 ± 8.16 [" in md
    # the running arm: the last 10% of its 200 steps is the evaluation at 200 (2.0); it has no monitor file
    assert f"| {env} | meta, truncation as terminal | 0 | 200 (20%, running) | 2.00 ± 0.00 [2.00, 2.00] | – |" in md
    # meta (0, 10, 20) against frozen (-20, -10, 0) on (a): 2 + 3 + 3 = 8 wins of 9 pairs and one tie (0 vs 0), so
    # (8 + 0.5) / 9 = 0.94; resampled within each arm, the difference of means is >= 0 and reaches 0 only when meta
    # draws seed 0 three times and frozen seed 2 three times (1/729 < 2.5%): better. On (b), meta's 0, 10, 20 against
    # frozen's 5, 5, 5: 6 of 9 pairs = 0.67, and the difference spans -5 .. 15: not distinguishable.
    assert (f"| {env} | Does learning the teacher matter? | meta | meta, frozen teacher | 0, 1, 2 | 0.94 | "
            f"better | 0.67 | not distinguishable |") in md
    # ddpg (-50, -40, -30) against no noise (30 on every seed): worse on (a) in every pair; (b): 1, 11, 21 vs 30 -> 0
    assert (f"| {env} | Does ddpg's exploration noise help? | ddpg | ddpg, no exploration noise | 0, 1, 2 | 0.00 | "
            f"worse | 0.00 | worse |") in md
    # ratio 0.2 (0 on every seed) against ddpg (-50, -40, -30): every pair on (a); on (b) the seeds both have a
    # score, 0 and 1: 100 against 1 and 11
    assert (f"| {env} | Does the update ratio change ddpg? | ddpg, meta's update ratio 0.20 | ddpg | 0, 1, 2 ((b): 0, 1) "
            f"| 1.00 | better | 1.00 | better |") in md
    # the running truncation arm enters no contrast; arms without runs give no row
    assert "change meta?" not in md and "no exploration at all" in md
    assert main([runs, "--out", str(tmp_path / "t.md")]) == 0  # finds ../controls by default and writes (e)
    assert "## (e) Controls" in open(tmp_path / "t.md").read() and "## (e) Controls" in capsys.readouterr().out
    # a controls/ beside the runs that holds no run yet: (a)-(c) as usual and no (e); asked for by name, an error
    other = tmp_path / "other"
    write_run(str(other / "runs"), env, "meta", 0, steps, [1.0] * 10, 1000)
    os.makedirs(other / "controls" / "frozen")
    assert main([str(other / "runs"), "--out", str(other / "t.md")]) == 0
    assert "## (a)" in open(other / "t.md").read() and "## (e)" not in open(other / "t.md").read()
    with pytest.raises(SystemExit, match="no control runs"):
        main([str(other / "runs"), "--controls", str(other / "controls")])


def test_aggregate_by_hand(tmp_path, monkeypatch):
    """meta's runs score 1000 on both tasks, ddpg's 500, a random policy 0: normalised 1 and 0.5; IQM 1 and 0.5, optimality
    gap 0 and 0.5 (mean shortfall below 1), P(meta > ddpg) = 1, with degenerate CIs."""
    import re
    import sys

    from baselines_meta.analysis.aggregate import aggregate_markdown, normalised_scores

    root = str(tmp_path)
    for env in ("Pendulum-v1", "Hopper-v4"):
        for seed in range(3):
            write_run(root, env, "meta", seed, [10, 20], [1000.0, 1000.0], 20)
            write_run(root, env, "ddpg", seed, [10, 20], [500.0, 500.0], 20)
    write_run(root, "Hopper-v4", "meta", 3, [10, 20], [3000.0, 3000.0], 20)  # a seed ddpg lacks: left out
    runs = load_runs(root)
    randoms = {"Pendulum-v1": 0.0, "Hopper-v4": 0.0}
    envs, sc = normalised_scores(runs, randoms)
    assert envs == ["Hopper-v4", "Pendulum-v1"] and sc["meta"].shape == (3, 2)
    np.testing.assert_allclose(sc["meta"], 1.0)
    np.testing.assert_allclose(sc["ddpg"], 0.5)
    md = aggregate_markdown(runs, reps=200, randoms=randoms)
    assert "| meta | 1.000 [1.000, 1.000] | 0.000 [0.000, 0.000] |" in md
    assert "| ddpg | 0.500 [0.500, 0.500] | 0.500 [0.500, 0.500] |" in md
    assert "P(meta > ddpg): 1.000 [1.000, 1.000]" in md
    from baselines_meta.analysis.aggregate import random_return
    from baselines_meta.analysis.table import build_table

    assert -16.3 * 200 <= random_return("Pendulum-v1", 2) < 0  # Pendulum's reward lies in [-16.27, 0] for 200 steps
    assert "## (d) Aggregate over tasks (rliable)" in build_table(root)  # with the random policies measured
    bad = aggregate_markdown(runs, randoms={"Pendulum-v1": 2000.0, "Hopper-v4": 0.0})  # best 1000 below random
    assert "cannot normalise: Pendulum-v1: the best seed-mean return 1000 is not above the random policy's 2000" in bad
    from baselines_meta.analysis.plot import main

    out = str(tmp_path / "plots")
    assert main([root, "--out", out, "--profile"]) == 0
    assert os.path.getsize(os.path.join(out, "performance_profile.png")) > 1000
    # ddpg holds the best curve on a third task (800 against meta's 400): meta 0.5, ddpg 1 there. Per seed meta scores
    # (1, 1, 0.5) and ddpg (0.5, 0.5, 1) over the three tasks; IQM = the mean of the middle 5 of 9 sorted values (0.9
    # and 0.6), optimality gap = mean shortfall below 1 (1.5 / 9 and 3 / 9), P(meta > ddpg) = mean over tasks (2 / 3)
    for seed in range(3):
        write_run(root, "Reacher-v4", "meta", seed, [10, 20], [400.0, 400.0], 20)
        write_run(root, "Reacher-v4", "ddpg", seed, [10, 20], [800.0, 800.0], 20)
    runs = load_runs(root)
    randoms["Reacher-v4"] = 0.0
    md = aggregate_markdown(runs, reps=200, randoms=randoms)
    assert "| meta | 0.900 [0.900, 0.900] | 0.167 [0.167, 0.167] |" in md
    assert "| ddpg | 0.600 [0.600, 0.600] | 0.333 [0.333, 0.333] |" in md and "P(meta > ddpg): 0.667" in md
    # spread over seeds: every interval holds its point estimate, lower bound first
    write_run(root, "Reacher-v4", "meta", 4, [10, 20], [50.0, 50.0], 20)
    for env, off in (("Pendulum-v1", 0.0), ("Hopper-v4", 300.0), ("Reacher-v4", 100.0)):
        write_run(root, env, "ddpg", 4, [10, 20], [off, off], 20)
        if env != "Reacher-v4":
            write_run(root, env, "meta", 4, [10, 20], [200.0, 200.0], 20)
    md = aggregate_markdown(load_runs(root), reps=200, randoms=randoms)
    for m in re.finditer(r"([-0-9.]+) \[([-0-9.]+), ([-0-9.]+)\]", md):
        pt_, lo_, hi_ = map(float, m.groups())
        assert lo_ <= pt_ <= hi_ and lo_ < hi_, m.group(0)
    monkeypatch.setitem(sys.modules, "rliable", None)  # not installed: the hint, and (a)-(c) still print
    assert 'pip install -e ".[analysis]"' in aggregate_markdown(runs, randoms=randoms)
    md = build_table(root)
    assert "## (c) meta against ddpg" in md and 'pip install -e ".[analysis]"' in md
    assert main([root, "--out", out, "--profile"]) == 2


def test_smoothing_by_hand():
    from baselines_meta.analysis.plot import smooth

    x = np.array([[1.0, 2.0, 6.0, 10.0]])
    np.testing.assert_allclose(smooth(x, 2), [[1.0, 1.5, 4.0, 8.0]])  # (1), (1+2)/2, (2+6)/2, (6+10)/2
    np.testing.assert_allclose(smooth(x, 3), [[1.0, 1.5, 3.0, 6.0]])
    np.testing.assert_array_equal(smooth(x, 1), x)


def test_plot_files(tmp_path):
    from baselines_meta.analysis.plot import main

    root = str(tmp_path / "runs")
    for seed in range(2):
        write_run(root, "Pendulum-v1", "meta", seed, [10, 20, 30], [1.0 + seed, 2.0, 3.0], 30)
        write_run(root, "InvertedDoublePendulum-v4", "meta-variance", seed, [10, 20], [1.0, 2.0], 20)
    out = str(tmp_path / "plots")
    assert main([root, "--out", out]) == 0
    assert main([root, "--out", out, "--figure1", "--smooth", "1"]) == 0
    for f in ("curves.png", "curves.svg", "figure1.png", "figure1.svg"):
        assert os.path.getsize(os.path.join(out, f)) > 1000
    assert main([str(tmp_path / "empty"), "--out", out]) == 2
    # --controls: the control arms beside meta and ddpg; none there is a one-line error
    assert main([root, "--out", out, "--controls", str(tmp_path / "controls")]) == 2
    write_run(str(tmp_path / "controls" / "frozen"), "Pendulum-v1", "meta", 0, [10, 20, 30], [0.5, 1.0, 1.5], 30)
    assert main([root, "--out", out, "--controls", str(tmp_path / "controls")]) == 0
    assert os.path.getsize(os.path.join(out, "controls.png")) > 1000 and os.path.exists(os.path.join(out, "controls.svg"))


def test_panel_spread_by_hand():
    """Spread: the mean over dimensions of a panel's std over the pooled std of that dimension."""
    from baselines_meta.analysis.plot import panel_spread

    a = np.array([[0.0, 0.0], [2.0, 0.0]])  # dim 0: std 1, dim 1: 0
    b = np.array([[0.0, -1.0], [0.0, 1.0]])  # dim 0: 0, dim 1: std 1
    # pooled: dim 0 values 0,2,0,0 -> std sqrt(0.75); dim 1 values 0,0,-1,1 -> std sqrt(0.5)
    got = panel_spread({("first", 0): a, ("first", 1): b})
    assert got["first", 0] == pytest.approx((1 / np.sqrt(0.75) + 0) / 2, rel=1e-6)
    assert got["first", 1] == pytest.approx((0 + 1 / np.sqrt(0.5)) / 2, rel=1e-6)


@pytest.mark.long
def test_figure4_panels_and_files(tmp_path):
    """The six panels are the runs' recorded streams (meta: teacher, student; ddpg: explore; first and last 50
    episodes), drawn to PNG and SVG; a missing states.npz is a one-line error."""
    from baselines_meta.analysis.plot import figure4_panels, main

    root = str(tmp_path / "runs")
    rng = np.random.default_rng(0)
    env = "InvertedDoublePendulum-v4"
    want = {}
    for alg, streams in (("meta", ("teacher", "student")), ("ddpg", ("explore",))):
        d = os.path.join(root, env, alg, "seed-0")
        os.makedirs(d)
        z = {}
        for stream in streams:
            for row in ("first", "last"):
                z[f"{stream}_{row}_obs"] = want[stream, row] = rng.normal(size=(40, 11)).astype(np.float32)
                z[f"{stream}_{row}_episode"] = np.repeat(np.arange(4), 10)
        np.savez(os.path.join(d, "states.npz"), **z)
    panels, titles = figure4_panels(root, 0)
    assert titles == ["Meta-Teacher", "Meta-Student", "DDPG"]
    for (row, col), stream in [((r, 0), "teacher") for r in ("first", "last")] + \
                              [((r, 1), "student") for r in ("first", "last")] + [((r, 2), "explore") for r in ("first", "last")]:
        np.testing.assert_array_equal(panels[row, col], want[stream, row])
    out = str(tmp_path / "plots")
    assert main([root, "--out", out, "--figure4", "--states", "30"]) == 0
    for f in ("figure4.png", "figure4.svg"):
        assert os.path.getsize(os.path.join(out, f)) > 1000
    # --branching: the student-start run's teacher and student between the main grid's teacher and ddpg
    b = str(tmp_path / "student-start")
    d = os.path.join(b, env, "meta", "seed-0")
    os.makedirs(d)
    z = {}
    for stream in ("teacher", "student"):
        for row in ("first", "last"):
            z[f"{stream}_{row}_obs"] = want["b", stream, row] = rng.normal(size=(40, 11)).astype(np.float32)
    np.savez(os.path.join(d, "states.npz"), **z)
    panels, titles = figure4_panels(root, 0, b)
    assert titles == ["Teacher (reset start)", "Teacher (student start)", "Student (student start)", "DDPG"]
    for row in ("first", "last"):
        np.testing.assert_array_equal(panels[row, 0], want["teacher", row])
        np.testing.assert_array_equal(panels[row, 1], want["b", "teacher", row])
        np.testing.assert_array_equal(panels[row, 2], want["b", "student", row])
        np.testing.assert_array_equal(panels[row, 3], want["explore", row])
    assert main([root, "--out", out, "--figure4", "--states", "30", "--branching", b]) == 0
    assert os.path.getsize(os.path.join(out, "figure4-branching.png")) > 1000
    assert main([root, "--out", out, "--figure4", "--branching", str(tmp_path / "none")]) == 2
    assert main([root, "--out", out, "--figure4", "--seed", "1"]) == 2


def test_compare_plan_skips_done_and_resumes_partial(tmp_path, capsys):
    import json

    from baselines_meta.experiments.compare import Job, command, main, parser, requested, run_dir

    out = str(tmp_path)
    done, partial = run_dir(out, "Pendulum-v1", "meta", 0), run_dir(out, "Pendulum-v1", "ddpg", 0)
    for d, alg in ((done, "meta"), (partial, "ddpg")):  # each holding the config compare asks for (else: 'differs')
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(requested(Job("Pendulum-v1", alg, 0, d), parser().parse_args(["--out", out]), []).to_dict(), f)
    open(os.path.join(done, "DONE"), "w").close()
    assert main(["--algs", "meta", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "1", "--out", out, "--dry_run"]) == 0
    plan = capsys.readouterr().out
    assert f"done     {done}" in plan and f"partial  {partial}" in plan and "new      " in plan

    class A:
        np, eval_interval, eval_episodes, save_interval = 2, 10, 2, 100

    cmd = command(Job("Pendulum-v1", "ddpg", 0, partial), A, ["--num_timesteps", "5"])
    assert "--resume" in cmd and "--num_timesteps" not in cmd and cmd[0].endswith("mpiexec")
    cmd = command(Job("Pendulum-v1", "ddpg", 1, run_dir(out, "Pendulum-v1", "ddpg", 1)), A, ["--num_timesteps", "5"])
    assert "--resume" not in cmd and cmd[-2:] == ["--num_timesteps", "5"] and "--seed" in cmd
    assert main(["--envs", "Nope-v0", "--out", out]) == 2
    # one folder per env id, '/' written '__' (what the exploration loaders read)
    assert run_dir(out, "dm_control/cartpole-swingup_sparse-v0", "meta", 3) == os.path.join(
        out, "dm_control__cartpole-swingup_sparse-v0", "meta", "seed-3")


def test_literal_section_by_hand(tmp_path):
    """(f): the literal arm against ours and ddpg on the seeds all three finished, with the share of zero meta
    rewards and the last epoch's log-std read from progress.csv."""
    from baselines_meta.analysis.table import build_literal

    main, ctrl = str(tmp_path / "runs"), str(tmp_path / "controls")
    steps = list(range(100, 1100, 100))
    for seed in range(3):
        write_run(main, "Hopper-v4", "meta", seed, steps, [10.0 + seed] * 10, 1000)
        write_run(main, "Hopper-v4", "ddpg", seed, steps, [20.0 + seed] * 10, 1000)
        d = write_run(os.path.join(ctrl, "literal"), "Hopper-v4", "meta", seed, steps, [10.0 + seed + 0.1 * (seed == 0)] * 10,
                      1000 if seed < 2 else 2000)  # seed 2 unfinished: left out
        with open(os.path.join(d, "progress.csv"), "w") as f:
            f.write("meta/reward_zero_frac,teacher/log_std_mean\n1.0,-2.0\n0.5,-3.0\n")
    md = build_literal(main, ctrl)
    row = [l for l in md.splitlines() if l.startswith("| Hopper-v4")][0].split(" | ")
    assert row[1] == "0, 1"  # seeds 0 and 1 only
    assert row[2] == "10.55 ± 0.45" and row[3] == "10.50 ± 0.50" and row[4] == "20.50 ± 0.50"
    assert row[5] == "0.62" and row[7] == "0.00" and row[8] == "worse"  # P(literal > ours): (1 + 0 + 1 + 0.5) / 4
    assert row[9] == "0.75" and row[10] == "-3.00" and row[11].startswith("–")  # (1.0 + 0.5) / 2; last epoch's log-std
    assert build_literal(main, str(tmp_path / "none")) == ""


def test_collect_runs_copies_finished_small_files_into_one_folder_per_env(tmp_path):
    """run/collect_runs: DONE runs only, small files only, log_path rewritten, and an env id with '/' (a run made
    before the '__' layout) lands in the '__' folder the loaders read."""
    src, dest = tmp_path / "src", tmp_path / "results"
    for env, seed, done in (("dm_control/cartpole-swingup_sparse-v0", 0, True), ("Pendulum-v1", 1, True),
                            ("Pendulum-v1", 2, False)):
        d = src / "exploration" / env / "meta" / f"seed-{seed}"
        (d / "checkpoints").mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"env_id": env, "log_path": str(d)}))
        (d / "progress.csv").write_text("a\n1\n")
        (d / "log.txt").write_text("x")
        (d / "checkpoints" / "rank0.pkl").write_text("x")
        if done:
            (d / "DONE").write_text("")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "run", "collect_runs"), str(src), str(dest)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cp = dest / "exploration" / "dm_control__cartpole-swingup_sparse-v0" / "meta" / "seed-0"
    assert sorted(os.listdir(cp)) == ["DONE", "config.json", "progress.csv"]
    assert json.loads((cp / "config.json").read_text())["log_path"] == str(cp)
    assert (dest / "exploration" / "Pendulum-v1" / "meta" / "seed-1" / "DONE").exists()
    assert not (dest / "exploration" / "Pendulum-v1" / "meta" / "seed-2").exists()
    assert not (dest / "exploration" / "dm_control").exists() and len(r.stdout.split()) == 2
