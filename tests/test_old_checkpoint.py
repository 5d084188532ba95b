"""A checkpoint written before the redesign (commit 2fe5021: modules at the package's top, RunContext's state) still
resumes, to exactly the run that commit made without the interruption (tests/data/ckpt-2fe5021: a meta Pendulum-v1
run stopped by SIGTERM at step 1500 of 3000, with the uninterrupted run's progress.csv and evaluations.csv).

Every number is compared to 1e-5 relative, not bit for bit: the data were made on another CPU, and XLA's CPU kernels
round differently from one CPU model to the next (a fresh run of this config on a second machine differs from the
recorded one by up to 1.1e-6 relative: the first epoch row, computed wholly by that commit before the checkpoint, the
same). A state lost or mis-mapped in loading moves the numbers by far more (an episode's return by whole units). That
a resume is exact on one machine is test_resume's claim."""
import math
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
    assert len(got) == len(want)
    for r, w in zip(got, want):
        off = {k: (r[k], v) for k, v in w.items() if not close(r[k], v)}
        assert not off, off  # every number as that commit made it
    added = set(got[0]) - set(want[0])  # columns added since: the start depth (0 under reset starts), the critic's
    assert added == {"teacher/start_depth", "critic/active_frac", "meta/progress", "meta/progress_mean",  # health
                     "meta/progress_pos_frac", "meta/progress_std", "meta/progress_zero_frac",  # and the progress signal
                     "critic/kernel_norm_0", "critic/kernel_norm_1", "critic/kernel_norm_out"}
    assert all(got[0][k] == "" for k in added)  # the row the old commit wrote has them empty
    assert [r["teacher/start_depth"] for r in got[1:]] == ["0.0", "0.0"]
    ev, ev_want = rows(os.path.join(d, "evaluations.csv")), rows(os.path.join(DATA, "expected-evaluations.csv"))
    assert len(ev) == len(ev_want) == 3 and all(close(a[k], b[k]) for a, b in zip(ev, ev_want) for k in b)


def close(a: str, b: str, rel: float = 1e-5) -> bool:
    """Two logged cells equal to rel (text and integers exactly; nan equals nan)."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    if a.lstrip("-").isdigit() or b.lstrip("-").isdigit():
        return a == b
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=rel, abs_tol=1e-12)


def test_close_tells_rounding_from_a_different_number():
    assert close("-1312.981838653411", "-1312.9818367749338") and close("nan", "nan") and close("3", "3")
    assert not close("-1312.98", "-1313.98") and not close("3", "3.0") and not close("0.1", "nan")


def test_old_class_paths_are_mapped():
    from baselines_meta.storage.checkpoint import read_checkpoint

    _, state = read_checkpoint(os.path.join(DATA, "checkpoints", "rank0.pkl"))
    assert type(state["loop"]).__module__ == "baselines_meta.runtime.loop" and state["loop"].steps == 1500
