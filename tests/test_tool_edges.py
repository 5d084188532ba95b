"""The analysis and launch tools at their edges: they write under logs/ unless a path is named, refuse bad and
abbreviated flags in one line (exit 2), leave a run with a damaged file out with one line instead of failing, and
never touch what they were not asked to write."""
import os
import subprocess

import pytest
from conftest import PY, ROOT
from test_results import write_run


def rc_of(main, argv):
    """A CLI main's exit code, whether it returns it or exits with it."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def own_lines(err: str) -> list[str]:
    return [l for l in err.splitlines() if l.strip()]


def compare_main():
    from baselines_meta.experiments.compare import main

    return main


def table_main():
    from baselines_meta.analysis.table import main

    return main


def plot_main():
    from baselines_meta.analysis.plot import main

    return main


# --- 1. default outputs under logs/ ------------------------------------------------------------------------------

def test_compare_plans_its_runs_under_logs_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main = compare_main()
    assert main(["--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "--dry_run"]) == 0
    plan = capsys.readouterr().out
    assert f"new      {os.path.join('logs', 'runs', 'Pendulum-v1', 'ddpg', 'seed-0')}" in plan, plan
    assert not os.listdir(tmp_path)  # a dry run writes nothing


def test_plot_writes_under_logs_by_default_and_reads_the_root_it_is_given(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "in" / "runs")
    for seed in range(2):
        write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0 + seed, 2.0, 3.0], 30)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert plot_main()([root]) == 0
    assert sorted(os.listdir(work)) == ["logs"] and sorted(os.listdir(work / "logs" / "plots")) == ["curves.png", "curves.svg"]


def test_no_tool_writes_into_results_by_default():
    """Every tool's default output is under logs/ (or none: the markdown reports print unless --out is given)."""
    from baselines_meta.analysis import plot
    from baselines_meta.analysis.results import markdown_parser
    from baselines_meta.experiments import bench, compare, estimator_quality

    for mod in (compare, plot, bench, estimator_quality):
        out = mod.parser().get_default("out")
        assert out.startswith("logs" + os.sep) or out.startswith("logs/"), (mod.__name__, out)
    assert markdown_parser("p", "doc", "results/runs").get_default("out") is None


# --- 4. abbreviated flags ------------------------------------------------------------------------------------------

def _mains():
    from baselines_meta.analysis import exploration, stack_check, teacher_report
    from baselines_meta.experiments import bench, estimator_quality

    return {
        # each: an abbreviation of one of the tool's flags, with a value today's parsers refuse, so that no tool runs
        "compare": (compare_main(), ["--see", "x", "--dry_run"], "--see"),
        "plot": (plot_main(), ["--smoo", "x"], "--smoo"),
        "table": (table_main(), ["/nonexistent-root", "--ou"], "--ou"),
        "exploration": (exploration.main, ["/nonexistent-root", "--ou"], "--ou"),
        "teacher_report": (teacher_report.main, ["/nonexistent-root", "--ou"], "--ou"),
        "stack_check": (stack_check.main, ["/nonexistent-root", "--ou"], "--ou"),
        "bench": (bench.main, ["--rep", "x"], "--rep"),
        "estimator_quality": (estimator_quality.main, ["--tri", "x"], "--tri"),
    }


@pytest.mark.parametrize("tool", ["compare", "plot", "table", "exploration", "teacher_report", "stack_check", "bench",
                                  "estimator_quality"])
def test_every_tool_refuses_an_abbreviated_flag_in_one_line(tool, capsys):
    main, argv, flag = _mains()[tool]
    assert rc_of(main, argv) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and flag in lines[0] and ("unknown flag" in lines[0] or "unrecognized" in lines[0]), lines


def test_every_parser_in_the_package_refuses_abbreviations():
    """No argparse parser outside flags.py (the run's own, checked there) is built with abbreviations allowed: the
    tools build theirs with analysis.cli.ToolParser, which forces allow_abbrev=False."""
    import ast

    from baselines_meta.analysis.cli import ToolParser

    assert ToolParser(prog="x", allow_abbrev=True).allow_abbrev is False
    bad = []
    for dp, _, files in os.walk(os.path.join(ROOT, "baselines_meta")):
        for f in files:
            path = os.path.join(dp, f)
            if not f.endswith(".py") or f == "flags.py":
                continue
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "ArgumentParser":
                    kw = {k.arg: k.value for k in node.keywords}
                    if not (isinstance(kw.get("allow_abbrev"), ast.Constant) and kw["allow_abbrev"].value is False):
                        bad.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not bad, bad


# --- 2. compare's bad input -----------------------------------------------------------------------------------------

def test_compare_out_naming_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "runs"
    f.write_text("keep me\n")
    for out in (str(f), str(f / "below")):
        assert rc_of(compare_main(), ["--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "--out", out]) == 2
        lines = own_lines(capsys.readouterr().err)
        assert len(lines) == 1 and lines[0].startswith("baselines_meta.compare: error: ") and str(f) in lines[0], lines
    assert f.read_text() == "keep me\n"


@pytest.mark.parametrize("args", [["--seeds", "-1"], ["--seeds", "0", "x"], ["--np", "0"], ["--np", "x"],
                                  ["--jobs", "-1"], ["--eval_interval", "0"], ["--eval_interval", "1.5"],
                                  ["--eval_episodes", "-1"], ["--save_interval", "0"], ["--save_interval", "x"]])
def test_compare_refuses_bad_numbers_at_launch_in_one_line(args, tmp_path, capsys):
    argv = ["--algs", "ddpg", "--envs", "Pendulum-v1", "--out", str(tmp_path / "runs"), "--dry_run"] + args
    if "--seeds" not in args:
        argv += ["--seeds", "0"]
    assert rc_of(compare_main(), argv) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("baselines_meta.compare: error: ") and args[0] in lines[0], lines
    assert not os.path.exists(tmp_path / "runs")


def test_compare_checks_the_run_flags_after_the_double_dash(tmp_path, capsys):
    from baselines_meta.experiments.compare import check_run_flags

    check_run_flags(["--num_timesteps", "2000", "--noise_type", "ou_0.2"])  # fine: returns
    base = ["--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "--out", str(tmp_path / "runs"), "--dry_run", "--"]
    for extra in (["--num_timesteps", "x"], ["--no_such_flag", "1"], ["--num_timesteps", "0"]):
        assert rc_of(compare_main(), base + extra) == 2, extra
        lines = own_lines(capsys.readouterr().err)
        assert len(lines) == 1 and lines[0].startswith("baselines_meta.compare: error: ") and extra[0] in lines[0], lines
    assert not os.path.exists(tmp_path / "runs")


def test_compare_refuses_an_abbreviated_run_flag(tmp_path, capsys):
    """Depends on the run parser refusing prefixes (flags.py): `--num_timestep` is not `--num_timesteps`."""
    argv = ["--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "--out", str(tmp_path / "runs"), "--dry_run",
            "--", "--num_timestep", "10"]
    assert rc_of(compare_main(), argv) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "--num_timestep" in lines[0], lines


# --- 3. the evaluation interval against the budget ------------------------------------------------------------------

@pytest.mark.parametrize("env,interval,extra,warn", [
    ("Pendulum-v1", "5000", ["--num_timesteps", "2000"], True),
    ("Pendulum-v1", "2000", ["--num_timesteps", "2000"], True),  # equal: one evaluation, at the end
    ("Pendulum-v1", "1000", ["--num_timesteps", "2000"], False),
    ("Pendulum-v1", "900000", [], True),  # the paper's budget for Pendulum: 900k
    ("Pendulum-v1", "899999", [], False),
    ("MountainCarContinuous-v0", "1000000", [], True),  # no paper task: the run's default budget, 1e6
    ("MountainCarContinuous-v0", "999999", [], False),
    ("Pendulum-v1", "1000000", ["--preset", "none", "--num_timesteps", "2e6"], False),
])
def test_compare_warns_when_the_evaluation_interval_is_not_below_the_budget(env, interval, extra, warn, tmp_path, capsys):
    argv = ["--algs", "ddpg", "--envs", env, "--seeds", "0", "--out", str(tmp_path / "runs"), "--dry_run",
            "--eval_interval", interval, "--"] + extra
    assert compare_main()(argv) == 0
    lines = own_lines(capsys.readouterr().err)
    if warn:
        assert len(lines) == 1 and lines[0].startswith("baselines_meta.compare: warning: ") and env in lines[0], lines
        assert "--eval_interval" in lines[0]
    else:
        assert not lines, lines


# --- 5. damaged files: the run is named and left out ----------------------------------------------------------------

BAD_EVALUATIONS = {
    "garbage": b"\x00\xff\xfe\x8a garbage \xc3\x28\n\x01\x02",
    "half-written last line": b"steps,total_steps,return_0,return_1\n10,10,1.0,2.0\n20,20,1.5",
    "header only": b"steps,total_steps,return_0,return_1\n",
    "empty": b"",
    "non-numeric": b"steps,total_steps,return_0,return_1\n10,10,1.0,2.0\n20,20,abc,2.0\n",
    "no steps column": b"total_steps,return_0\n10,1.0\n20,2.0\n",
    "steps going back": b"steps,total_steps,return_0\n20,20,1.0\n10,10,2.0\n",
}
BAD_PROGRESS = {
    "garbage": b"\xff\xfe\x00\x8a",
    "half-written last line": b"total/steps,eval/return\n100,1.0\n200",
    "header only": b"total/steps,eval/return\n",
    "non-numeric": b"total/steps,eval/return\n100,1.0\n200,x1\n",
}


def damaged_root(root):
    """Two good ddpg runs on Pendulum-v1 (seeds 0, 1) and one run with each kind of damaged file (seeds 2...):
    {damaged run's directory: what is wrong}."""
    for seed in range(2):
        write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0 + seed, 2.0, 3.0], 30)
    bad, seed = {}, 2
    for what, content in BAD_EVALUATIONS.items():
        d = write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0, 2.0, 3.0], 30)
        with open(os.path.join(d, "evaluations.csv"), "wb") as f:
            f.write(content)
        bad[d], seed = f"evaluations.csv: {what}", seed + 1
    for what, content in BAD_PROGRESS.items():
        d = write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0, 2.0, 3.0], 30)
        with open(os.path.join(d, "progress.csv"), "wb") as f:
            f.write(content)
        bad[d], seed = f"progress.csv: {what}", seed + 1
    d = write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0, 2.0, 3.0], 30, episodes=[1.0, 2.0])
    with open(os.path.join(d, "0.monitor.csv"), "a") as f:
        f.write("3.0,1")  # a half-written training episode
    bad[d] = "0.monitor.csv: half-written last line"
    return bad


def _skipped(err: str, prog: str, bad: dict) -> None:
    lines = own_lines(err)
    for d, what in bad.items():
        mine = [l for l in lines if l.startswith(f"{prog}: skipping {d}: ")]
        assert len(mine) == 1, (what, lines)
    assert len(lines) == len(bad), lines


def test_load_runs_names_and_leaves_out_runs_with_damaged_files(tmp_path, capsys):
    from baselines_meta.analysis.results import load_runs

    root = str(tmp_path / "runs")
    bad = damaged_root(root)
    runs = load_runs(root, prog="baselines_meta.x")
    assert sorted(r.seed for r in runs) == [0, 1]
    _skipped(capsys.readouterr().err, "baselines_meta.x", bad)


def test_table_and_plot_leave_a_damaged_run_out_and_write_the_rest(tmp_path, capsys):
    root = str(tmp_path / "runs")
    bad = damaged_root(root)
    md = str(tmp_path / "out" / "table.md")  # its folder does not exist yet
    assert table_main()([root, "--out", md, "--controls", "none"]) == 0
    out = capsys.readouterr()
    _skipped(out.err, "baselines_meta.table", bad)
    assert "| Pendulum-v1 | ddpg | 2 | 30 |" in open(md).read() and "| Pendulum-v1 | ddpg | 2 | 30 |" in out.out
    plots = str(tmp_path / "plots")
    assert plot_main()([root, "--out", plots]) == 0
    _skipped(capsys.readouterr().err, "baselines_meta.plot", bad)
    assert os.path.getsize(os.path.join(plots, "curves.png")) > 1000


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "all damaged"])
def test_table_and_plot_give_the_same_exit_code_without_runs(kind, tmp_path, capsys):
    root = tmp_path / "runs"
    if kind == "file":
        root.write_text("x")
    elif kind == "empty":
        root.mkdir()
    elif kind == "all damaged":
        d = write_run(str(root), "Pendulum-v1", "ddpg", 0, [10, 20], [1.0, 2.0], 20)
        with open(os.path.join(d, "evaluations.csv"), "wb") as f:
            f.write(b"\xff\x00")
    n_skip = 1 if kind == "all damaged" else 0
    rcs = []
    for main in (table_main(), plot_main()):
        rcs.append(rc_of(main, [str(root), "--out", str(tmp_path / "out")]))
        lines = own_lines(capsys.readouterr().err)
        assert len(lines) == 1 + n_skip and "error: " in lines[-1] and str(root) in lines[-1], lines
    assert rcs == [2, 2]
    assert not os.path.exists(tmp_path / "out")


def test_table_and_plot_out_errors_are_one_line_and_touch_nothing(tmp_path, capsys):
    root = str(tmp_path / "runs")
    write_run(root, "Pendulum-v1", "ddpg", 0, [10, 20, 30], [1.0, 2.0, 3.0], 30)
    f = tmp_path / "a-file"
    f.write_text("keep me\n")
    assert rc_of(plot_main(), [root, "--out", str(f)]) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("baselines_meta.plot: error: ") and str(f) in lines[0], lines
    assert rc_of(table_main(), [root, "--out", str(tmp_path), "--controls", "none"]) == 2  # a directory
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("baselines_meta.table: error: ") and str(tmp_path) in lines[0], lines
    assert rc_of(table_main(), [root, "--out", str(f / "t.md"), "--controls", "none"]) == 2  # below a file
    assert len(own_lines(capsys.readouterr().err)) == 1
    assert f.read_text() == "keep me\n"


def test_exploration_leaves_a_damaged_run_out(tmp_path, capsys):
    from test_exploration_metrics import write

    from baselines_meta.analysis import exploration as ex

    root, env = str(tmp_path), "SparseMountainCar-v0"
    for s in range(2):
        write(root, env, "ddpg-param", s, [0, 1, 1, 1])
    d = write(root, env, "ddpg-param", 2, [0, 1, 1, 1])
    with open(os.path.join(d, "evaluations.csv"), "ab") as f:
        f.write(b"100,100")  # half-written
    assert len(ex.load(root)[env]["ddpg-param"]) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"baselines_meta.analysis.exploration: skipping {d}: "), lines


# --- 6. curves with fewer than two evaluations ----------------------------------------------------------------------

def test_plot_names_and_leaves_out_curves_with_fewer_than_two_evaluations(tmp_path, capsys):
    from baselines_meta.analysis.plot import parser

    assert "A curve needs two evaluations" in " ".join(parser().format_help().split())  # documented in --help
    root = str(tmp_path / "runs")
    for seed in range(2):
        write_run(root, "Pendulum-v1", "ddpg", seed, [10, 20, 30], [1.0 + seed, 2.0, 3.0], 30)
        write_run(root, "Pendulum-v1", "meta", seed, [30], [1.0], 30)  # evaluated once, at the end
    out = str(tmp_path / "plots")
    assert plot_main()([root, "--out", out]) == 0
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("baselines_meta.plot: ") and "Pendulum-v1" in lines[0], lines
    assert "meta" in lines[0] and "fewer than two evaluations" in lines[0]
    assert os.path.getsize(os.path.join(out, "curves.png")) > 1000
    # nothing left to draw: one line, exit 2, no file
    root2 = str(tmp_path / "runs2")
    write_run(root2, "Pendulum-v1", "meta", 0, [30], [1.0], 30)
    out2 = str(tmp_path / "plots2")
    assert plot_main()([root2, "--out", out2]) == 2
    lines = own_lines(capsys.readouterr().err)
    assert len(lines) == 2 and lines[-1].startswith("baselines_meta.plot: error: "), lines
    assert not os.path.exists(out2)


# --- end to end: the default paths write under logs/ only -----------------------------------------------------------

def _snapshot(top):
    out = {}
    for dp, _, files in os.walk(top):
        for f in files:
            p = os.path.join(dp, f)
            st = os.stat(p)
            out[os.path.relpath(p, top)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.slow
def test_compare_table_plot_with_their_defaults_write_under_logs_only(tmp_path):
    """compare, table and plot with their default output paths in a checkout-like folder (a .gitignore with logs/):
    every file created or changed lies under logs/, and the committed results/ of the repository are untouched."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".gitignore").write_text("logs/\n")
    (work / "results").mkdir()
    (work / "results" / "README.md").write_text("committed\n")
    before, committed = _snapshot(work), _snapshot(os.path.join(ROOT, "results"))
    env = dict(os.environ, PYTHONPATH=ROOT)

    def tool(*args, timeout=600):
        r = subprocess.run([PY, "-m", *args], cwd=work, capture_output=True, text=True, timeout=timeout, env=env)
        assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr[-3000:])
        return r

    tool("baselines_meta.compare", "--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "--eval_interval", "1000",
         "--eval_episodes", "1", "--", "--num_timesteps", "2000")
    assert os.path.exists(work / "logs" / "runs" / "Pendulum-v1" / "ddpg" / "seed-0" / "DONE")
    r = tool("baselines_meta.table", "logs/runs")
    assert "| Pendulum-v1 | ddpg | 1 | 2,000 |" in r.stdout
    tool("baselines_meta.plot", "logs/runs")
    assert os.path.exists(work / "logs" / "plots" / "curves.png")
    after = _snapshot(work)
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert changed and all(p.split(os.sep)[0] == "logs" for p in changed), changed
    assert all(p in after for p in before)
    assert _snapshot(os.path.join(ROOT, "results")) == committed


def test_compare_counts_a_finished_run_as_done_only_when_it_is_the_run_asked_for(tmp_path, capsys):
    """A finished run in the way is skipped only if its resolved config equals the requested one: otherwise one line
    names the first differing field, the run is neither counted done nor touched (it was once skipped as 'done' by a
    new user's short compare, whatever it held)."""
    import json

    from baselines_meta.experiments.compare import Job, parser, requested, run_dir

    out = str(tmp_path / "runs")
    a = parser().parse_args(["--out", out])
    for seed, budget in ((0, 6000), (1, 9000)):
        d = run_dir(out, "Pendulum-v1", "ddpg", seed)
        os.makedirs(d)
        cfg = requested(Job("Pendulum-v1", "ddpg", seed, d), a, ["--num_timesteps", str(budget)])
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg.to_dict(), f)
        open(os.path.join(d, "DONE"), "w").close()
    before = {p: open(p).read() for p in map(str, tmp_path.rglob("*")) if os.path.isfile(p)}
    rc = rc_of(compare_main(), ["--algs", "ddpg", "--seeds", "0", "1", "--out", out, "--", "--num_timesteps", "6000"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert f"[compare] done     {run_dir(out, 'Pendulum-v1', 'ddpg', 0)}" in printed
    assert (f"[compare] differs  {run_dir(out, 'Pendulum-v1', 'ddpg', 1)}: schedule.num_timesteps is 9000 in the run, "
            f"6000 asked") in printed
    assert {p: open(p).read() for p in map(str, tmp_path.rglob("*")) if os.path.isfile(p)} == before
    # a flag of another algorithm after `--` is refused for that algorithm at launch
    rc = rc_of(compare_main(), ["--algs", "meta", "--seeds", "0", "--out", out, "--", "--noise_type", "ou_0.2"])
    err = own_lines(capsys.readouterr().err)
    assert rc == 2 and len(err) == 1 and "--noise_type ou_0.2 is a setting of --alg ddpg" in err[0]
