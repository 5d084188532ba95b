"""Table 2 statistics against hand computation, the plot files, and the compare launcher's skip / resume plan."""
import json
import os

import numpy as np
import pytest

from baselines_meta.results import bootstrap_ci, common_curve, final_score, load_runs, prob_better, Run


def write_run(root, env, alg, seed, steps, returns, budget):
    d = os.path.join(root, env, alg, f"seed-{seed}")
    os.makedirs(d)
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


def test_load_and_table(tmp_path):
    from baselines_meta.table import build_table

    root = str(tmp_path)
    steps = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    for seed, off in enumerate((0.0, 2.0, 4.0)):
        write_run(root, "Pendulum-v1", "meta", seed, steps, [-500 + 40 * i + off for i in range(10)], 1000)
        write_run(root, "Pendulum-v1", "ddpg", seed, steps, [-600 + 40 * i + off for i in range(10)], 1000)
    write_run(root, "Hopper-v4", "ddpg", 0, [100, 200], [5.0, 6.0], 1000)  # unfinished
    runs = load_runs(root)
    assert len(runs) == 7 and {r.done for r in runs} == {True, False}
    grid, curves = common_curve([r for r in runs if r.env == "Pendulum-v1" and r.alg == "meta"])
    assert curves.shape == (3, 10) and list(grid) == steps
    md = build_table(root)
    # meta last 10%: evaluations at 900, 1000 -> mean of (-180+off, -140+off) = -160 + off; off 0,2,4 -> -158 +- 1.63
    # max of the seed-mean curve: at 1000, -140 + 2 = -138, std over seeds 1.63
    assert "| Pendulum-v1 | meta | 3 | 1,000 | -158 ± 2 | -138 ± 2 | -123 ± 10 |" in md
    assert "| Pendulum-v1 | ddpg | 3 | 1,000 | -258 ± 2 | -238 ± 2 | -206 ± 31 | 1.00 |" in md
    assert "| Hopper-v4 | ddpg | 1 | 200 (20%, running) |" in md


def test_plot_files(tmp_path):
    from baselines_meta.plot import main

    root = str(tmp_path / "runs")
    for seed in range(2):
        write_run(root, "Pendulum-v1", "meta", seed, [10, 20, 30], [1.0 + seed, 2.0, 3.0], 30)
        write_run(root, "InvertedDoublePendulum-v4", "meta-variance", seed, [10, 20], [1.0, 2.0], 20)
    out = str(tmp_path / "plots")
    assert main([root, "--out", out]) == 0
    assert main([root, "--out", out, "--figure1"]) == 0
    for f in ("curves.png", "curves.svg", "figure1.png", "figure1.svg"):
        assert os.path.getsize(os.path.join(out, f)) > 1000
    assert main([str(tmp_path / "empty"), "--out", out]) == 2


def test_compare_plan_skips_done_and_resumes_partial(tmp_path, capsys):
    from baselines_meta.compare import Job, command, main, run_dir

    out = str(tmp_path)
    done, partial = run_dir(out, "Pendulum-v1", "meta", 0), run_dir(out, "Pendulum-v1", "ddpg", 0)
    os.makedirs(done)
    open(os.path.join(done, "DONE"), "w").close()
    os.makedirs(partial)
    open(os.path.join(partial, "config.json"), "w").close()
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
