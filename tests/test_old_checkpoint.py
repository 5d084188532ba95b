"""A checkpoint written before the redesign (commit 2fe5021: modules at the package's top, RunContext's state) still
resumes, to exactly the run that commit made without the interruption (tests/data/ckpt-2fe5021: a meta Pendulum-v1
run stopped by SIGTERM at step 1500 of 3000, with the uninterrupted run's progress.csv and evaluations.csv)."""
import os
import shutil

import pytest
from runs import strip
from test_cli import cli, rows

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ckpt-2fe5021")


@pytest.mark.slow
def test_checkpoint_of_the_commit_before_the_redesign_resumes_identically(tmp_path):
    d = str(tmp_path / "ckpt")
    shutil.copytree(DATA, d)
    r = cli("--resume", "--log_path", d, "--no-progress_bar")
    assert r.returncode == 0, r.stderr[-2000:]
    got, want = strip(rows(os.path.join(d, "progress.csv"))), strip(rows(os.path.join(DATA, "expected-progress.csv")))
    assert [{k: r[k] for k in w} for r, w in zip(got, want, strict=True)] == want  # every number as that commit made it
    assert set(got[0]) - set(want[0]) == {"teacher/start_depth"}  # a column added since (0 under reset starts)
    assert [r["teacher/start_depth"] for r in got[1:]] == ["0.0", "0.0"]
    assert open(os.path.join(d, "evaluations.csv")).read() == open(os.path.join(DATA, "expected-evaluations.csv")).read()


def test_old_class_paths_are_mapped():
    from baselines_meta.storage.checkpoint import read_checkpoint

    _, state = read_checkpoint(os.path.join(DATA, "checkpoints", "rank0.pkl"))
    assert type(state["loop"]).__module__ == "baselines_meta.runtime.loop" and state["loop"].steps == 1500
