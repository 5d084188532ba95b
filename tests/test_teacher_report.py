"""The teacher report (analysis/teacher_report.py) on hand-made run directories: each cell checked by hand."""
import os

import pytest
from test_results import write_run


def write_progress(d, rows):
    keys = list(rows[0])
    with open(os.path.join(d, "progress.csv"), "w") as f:
        f.write(",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in rows))


def meta_row(i, depth):
    return {"teacher/drift": 0.1 * i, "teacher/kl_init": 0.01 * i, "teacher/log_std_mean": -2.0 + 0.5 * i,
            "meta/reward_pos_frac": 0.25 * i, "meta/reward_zero_frac": 1.0 - 0.25 * i, "teacher/start_depth": depth,
            "explore/return": 10.0 * i}


def test_report_cells_by_hand(tmp_path):
    from baselines_meta.analysis.teacher_report import build_report, main, teacher_episode_steps

    root = str(tmp_path)
    # arm "student-start": two seeds of meta on E; epochs i = 0..3
    for seed, depth in ((0, 10.0), (1, 30.0)):
        d = write_run(os.path.join(root, "student-start"), "E", "meta", seed, [10, 20, 30, 40], [1, 2, 3, 4 + seed], 40,
                      episodes=[0.0] * 10)
        write_progress(d, [meta_row(i, depth) for i in range(4)])
        with open(os.path.join(d, "0.monitor.csv"), "w") as f:  # ten episodes of lengths 1..10: the last 30% are 8, 9, 10
            f.write('#{"t_start": 0}\nr,l,t\n' + "".join(f"0,{n},0\n" for n in range(1, 11)))
    d = write_run(os.path.join(root, "other"), "E", "meta", 0, [10, 20], [1, 2], 20)
    write_progress(d, [meta_row(i, 0.0) for i in range(2)])
    assert teacher_episode_steps(d) != teacher_episode_steps(d)  # no monitor file: nan
    assert teacher_episode_steps(os.path.join(root, "student-start", "E", "meta", "seed-0")) == pytest.approx(9.0)

    class A:
        arms = ["student-start"]

    md = build_report(root, A())
    rows = [line for line in md.splitlines() if line.startswith("| E ")]
    assert len(rows) == 1  # "other" left out by --arms
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:4] == ["E", "student-start", "meta", "2"]
    # eval over the last 30% (steps >= 28: 30 and 40): seed 0 (3 + 4) / 2 = 3.5, seed 1 (3 + 5) / 2 = 4 -> 3.75 ± 0.25
    assert cells[4] == "4 ± 0"  # rounded to integers
    assert cells[6] == "0.30 ± 0.00" and cells[7] == "0.030 ± 0.000"  # drift and KL at the last epoch
    assert cells[8] == "-2.00 ± 0.00 / -1.50 ± 0.00 / -0.50 ± 0.00"  # log-std at epochs 0, int(0.5 * 3) = 1, 3
    assert cells[9] == "0.38 ± 0.00"  # P(Δ > 0): mean of 0, .25, .5, .75
    assert cells[10] == "0.62 ± 0.00"  # P(Δ = 0): mean of 1, .75, .5, .25
    assert cells[11] == "20.0 ± 10.0"  # start depth: seeds 10 and 30
    assert cells[12] == "25 ± 0"  # explore/return over the last 30% of epochs (int(0.7 * 4) = 2: epochs 2, 3: 20, 30)
    assert cells[13] == "9.0 ± 0.0"  # the teacher's episode lengths 8, 9, 10
    assert main([root, "--arms", "student-start"]) == 0
    with pytest.raises(SystemExit, match="no runs"):
        build_report(root, type("B", (), {"arms": ["missing"]})())
