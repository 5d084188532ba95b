"""The stack-change check's report (analysis/stack_check.py) on hand-made runs, each cell by hand."""
import os

from test_results import write_run


def monitor(d, episodes):
    with open(os.path.join(d, "0.monitor.csv"), "w") as f:
        f.write('#{"t_start": 1}\nr,l,t\n' + "".join(f"{r},{n},0.5\n" for r, n in episodes))


def test_stack_check_by_hand(tmp_path):
    from baselines_meta.analysis.stack_check import build_report, identity_rows, main, spread_rows

    root, camp = str(tmp_path / "check"), str(tmp_path / "runs")
    ident = os.path.join(root, "identity")
    for v in ("mujoco-3.17.0", "mujoco-4.0.0"):
        # A: identical everywhere but the monitor's time stamps; B: episode 2 differs in its last digit
        d = write_run(os.path.join(ident, v), "A", "ddpg", 0, [5, 10], [1.0, 2.0], 10)
        monitor(d, [(1.5, 10), (2.5, 10)])
        d = write_run(os.path.join(ident, v), "B", "ddpg", 0, [5, 10], [1.0, 2.0 if v == "mujoco-4.0.0" else 2.5], 10)
        monitor(d, [(1.5, 10), (2.5, 10), (3.25 if v == "mujoco-4.0.0" else 3.26, 10)])
    rows = identity_rows(root)
    assert rows == [("A", "mujoco-3.17.0", "mujoco-4.0.0", True, True, None, 2),
                    ("B", "mujoco-3.17.0", "mujoco-4.0.0", False, False, 2, 3)]
    # spread: seeds scored over the last 10% of the new runs' 100 steps (90-100); the old stack and the campaign there
    new, old = (os.path.join(root, "spread", v) for v in ("mujoco-3.17.0", "mujoco-4.0.0"))
    write_run(new, "B", "ddpg", 0, [80, 90, 100], [0.0, 4.0, 6.0], 100)  # 5
    write_run(new, "B", "ddpg", 1, [80, 90, 100], [0.0, 6.0, 8.0], 100)  # 7
    write_run(new, "B", "ddpg", 3, [80, 90], [0.0, 100.0], 100)  # unfinished: left out
    open(os.path.join(new, "B", "ddpg", "seed-2.log"), "w").close()  # a running run's log beside it: not a run
    write_run(old, "B", "ddpg", 0, [90, 100], [5.0, 7.0], 100)  # 6
    write_run(old, "B", "ddpg", 1, [90, 100], [6.0, 8.0], 100)  # 7
    for seed, (x, y) in enumerate([(2.0, 4.0), (8.0, 10.0), (5.0, 5.0)]):  # 3, 9, 5; later steps ignored
        write_run(camp, "B", "ddpg", seed, [90, 100, 200], [x, y, 1000.0], 200)
    write_run(camp, "B", "meta", 0, [90, 100], [1000.0, 1000.0], 100)  # not ddpg: left out
    [(env, window, by, b, within, v_old, v_camp)] = spread_rows(root, camp, "mujoco-4.0.0", "mujoco-3.17.0")
    assert (env, window, by, b, within) == ("B", (90, 100), {"mujoco-3.17.0": [5.0, 7.0], "mujoco-4.0.0": [6.0, 7.0]},
                                            [3.0, 9.0, 5.0], True)
    assert v_old == v_camp == "not distinguishable"
    write_run(new, "B", "ddpg", 2, [80, 90, 100], [0.0, 20.0, 20.0], 100)  # 20: above the campaign's best
    [(_, _, by, _, within, v_old, _)] = spread_rows(root, camp, "mujoco-4.0.0", "mujoco-3.17.0")
    assert by["mujoco-3.17.0"] == [5.0, 7.0, 20.0] and within is False
    md = build_report(root, type("A", (), {"campaign": camp, "old": "mujoco-4.0.0", "new": "mujoco-3.17.0"})())
    assert "| B | mujoco-3.17.0 / mujoco-4.0.0 | no | no | 2 of 3 |" in md
    assert "| B | 90–100 | 6, 7 | 5, 7, 20 | 3, 9, 5 | no |" in md
    assert main([root, "--campaign", camp]) == 0
    import pytest

    with pytest.raises(SystemExit, match="no identity"):
        build_report(str(tmp_path / "none"))
