"""One writer per run: a run directory's lock (baselines_meta/runlock.py). No test races a run with sleeps: a live run
pauses itself with the fault hook's `stop` (SIGSTOP after its first checkpoint), or the test holds the lock itself."""
import json
import os
import re
import signal
import subprocess

import pytest
from conftest import PY, ROOT
from runs import assert_same_run, own_lines, start
from test_cli import cli

from baselines_meta.storage.runlock import RunLock, RunLockedError

ARGS = ["--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "6000", "--nb_epoch_cycles", "5",
        "--eval_interval", "2000", "--eval_episodes", "1", "--log_formats", "csv,log", "--no-progress_bar"]


def test_lock_is_exclusive_names_its_holder_and_dies_with_it(tmp_path):
    d = str(tmp_path / "run")
    held = RunLock(d).acquire()
    with pytest.raises(RunLockedError, match=rf"in use by another writer \(host \S+, PID {os.getpid()}\)"):
        RunLock(d).acquire()
    held.release()
    RunLock(d).acquire().release()  # released: free again
    # a holder that is SIGKILLed leaves no stale lock
    code = f"import os, signal; from baselines_meta.storage.runlock import RunLock; RunLock({d!r}).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    assert subprocess.run([PY, "-c", code], cwd=ROOT).returncode == -signal.SIGKILL
    RunLock(d).acquire().release()


@pytest.mark.slow
def test_live_run_refuses_a_second_writer_then_finishes_as_if_undisturbed(tmp_path):
    a, d = str(tmp_path / "a"), str(tmp_path / "d")
    assert cli(*ARGS, "--log_path", a).returncode == 0  # undisturbed
    p = start(*ARGS, "--log_path", d, env={"BASELINES_META_FAULT": "saved:1:stop"})
    _, status = os.waitpid(p.pid, os.WUNTRACED)  # returns once the run has stopped itself, lock held
    assert os.WIFSTOPPED(status)
    try:
        for second in (["--resume", "--log_path", d, "--num_timesteps", "9000"], [*ARGS, "--log_path", d, "--overwrite"],
                       [*ARGS, "--log_path", d]):
            r = cli(*second)
            assert r.returncode == 2, r.stderr[-2000:]
            lines = own_lines(r.stderr)
            assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
            assert re.search(rf"{re.escape(d)} is in use by another writer \(host \S+, PID {p.pid}\)", lines[0]), lines
    finally:
        os.kill(p.pid, signal.SIGCONT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    assert_same_run(a, d)  # the refused writers touched nothing
    assert json.load(open(os.path.join(d, "config.json")))["schedule"]["num_timesteps"] == 6000


@pytest.mark.slow
def test_sigkilled_run_resumes_at_once(tmp_path):
    d = str(tmp_path / "d")
    p = start(*ARGS, "--log_path", d, env={"BASELINES_META_FAULT": "saved:1:kill"})
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    r = cli("--resume", "--log_path", d)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
def test_two_ranks_resume_of_a_held_run_is_refused(tmp_path):
    d = str(tmp_path / "d")
    assert cli(*ARGS, "--num_timesteps", "2000", "--log_path", d, mpi_np=2).returncode == 0
    held = RunLock(d).acquire()  # as a live run holds it
    try:
        r = cli("--resume", "--log_path", d, "--num_timesteps", "4000", mpi_np=2)
        assert r.returncode == 2, r.stderr[-2000:]
        lines = own_lines(r.stderr)
        assert len(lines) == 1 and f"PID {os.getpid()}" in lines[0] and "Traceback" not in r.stderr, r.stderr
    finally:
        held.release()
    assert json.load(open(os.path.join(d, "config.json")))["schedule"]["num_timesteps"] == 2000  # untouched
    r = cli("--resume", "--log_path", d, "--num_timesteps", "4000", mpi_np=2)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
def test_two_compares_over_one_grid_run_each_run_once_and_finish_it(tmp_path):
    out = str(tmp_path / "grid")
    cmd = [PY, "-m", "baselines_meta.compare", "--algs", "ddpg", "--envs", "Pendulum-v1", "--seeds", "0", "1", "2",
           "--jobs", "1", "--out", out, "--eval_interval", "1000", "--eval_episodes", "1", "--", "--num_timesteps",
           "1000", "--nb_epoch_cycles", "5"]
    ps = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in ps]
    assert [p.returncode for p in ps] == [0, 0], outs
    starts = [l for o in outs for l in o.splitlines() if l.startswith("[compare] start")]
    assert sorted(starts) == sorted(f"[compare] start  Pendulum-v1 ddpg seed {s} (new)" for s in range(3)), outs
    for s in range(3):
        d = os.path.join(out, "Pendulum-v1", "ddpg", f"seed-{s}")
        assert os.path.exists(os.path.join(d, "DONE"))
        assert open(os.path.join(d, "progress.csv")).read().count("\n") == 2  # one epoch row, written once
    # a run held by another process is skipped, counted neither done nor failed
    d0 = os.path.join(out, "Pendulum-v1", "ddpg", "seed-0")
    os.remove(os.path.join(d0, "DONE"))
    held = RunLock(d0).acquire()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        held.release()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[compare] skip   Pendulum-v1 ddpg seed 0: " in r.stdout and "[compare] start" not in r.stdout
    assert "0 finished, 0 failed or stopped (rerun the same command to resume), 1 skipped" in r.stdout


ABSOLUTE = re.compile(r'(?:^|[\s"\'(=,\[])(/(?:[A-Za-z0-9_.+-]+/)+[A-Za-z0-9_.+-]*)')


def test_no_absolute_path_in_results():
    """Results must not name the machine they were made on (config.json's log_path, once absolute)."""
    found = []
    for root, _, files in os.walk(os.path.join(ROOT, "results")):
        for f in files:
            p = os.path.join(root, f)
            try:
                text = open(p, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue  # binary (plots, states.npz)
            found += [(os.path.relpath(p, ROOT), m.group(1)) for m in ABSOLUTE.finditer(text)]
    assert not found, found[:5]
    assert ABSOLUTE.search('"log_path": "/work/main/results/x"') and not ABSOLUTE.search('"log_path": "results/x"')


def test_config_json_log_path_is_relative(tmp_path):
    from baselines_meta.storage.rundir import portable_log_path

    assert portable_log_path(str(tmp_path / "a" / "b"), str(tmp_path)) == os.path.join("a", "b")
    assert portable_log_path("results/runs/x", os.getcwd()) == os.path.join("results", "runs", "x")
    assert portable_log_path(str(tmp_path / "run"), str(tmp_path / "elsewhere")) == "run"  # outside: its name alone
