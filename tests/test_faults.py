"""Faults a long run meets (issue 12): a corrupt checkpoint, a full disk, a kill in the middle of a checkpoint, flags
given with --resume, and saved policies that must not run code. Faults are injected with the test hook
BASELINES_META_FAULT (baselines_meta/faults.py) at exact points, never by timing."""
import glob
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from runs import assert_same_run, final_state, own_lines
from test_cli import cli, rows

pytestmark = pytest.mark.slow  # subprocess runs: not in the fast tier (run/test -m 'not slow')

FAULT = "BASELINES_META_FAULT"
ARGS = ["--alg", "ddpg", "--env", "Pendulum-v1", "--nb_epoch_cycles", "2", "--nb_rollout_steps", "200",
        "--nb_train_steps", "10", "--eval_interval", "400", "--eval_episodes", "1", "--log_formats", "csv", "--seed", "3"]
FULL = ARGS + ["--num_timesteps", "1200"]  # 3 epochs of 400 steps: checkpoints at steps 400, 800 and 1200


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A finished, uninterrupted run (with its saved policy): what every interrupted run must end up equal to."""
    d = str(tmp_path_factory.mktemp("faults") / "ref")
    r = cli(*FULL, "--log_path", d, "--save_path", os.path.join(d, "policy.npz"))
    assert r.returncode == 0, r.stderr[-2000:]
    return d


def copy_of(ref, tmp_path):
    d = str(tmp_path / "run")
    shutil.copytree(ref, d)
    return d


def line(r, rc):
    """Our one stderr line, after checking the exit code and that no traceback was printed."""
    assert r.returncode == rc, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    ours = own_lines(r.stderr)
    assert len(ours) == 1, r.stderr[-3000:]
    return ours[0]


def quiet(r):
    assert r.returncode == 0, r.stderr[-3000:]
    assert own_lines(r.stderr) == [] and "Traceback" not in r.stderr, r.stderr[-3000:]


def listing(d):
    """Every file under d with a digest of its content."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def temporaries(d):
    return [p for p in listing(d) if ".tmp" in p]


def ckpt(d, name):
    return os.path.join(d, "checkpoints", name)


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def flip_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))


def same_policy(a, b):
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            if k != "meta_json":  # holds the log path
                np.testing.assert_array_equal(za[k], zb[k])


# ---------------------------------------------------------------------------------------------- 1. integrity
def test_corrupt_checkpoint_or_segment_falls_back_to_prev(reference, tmp_path):
    """A truncated rank0.pkl, or a damaged replay segment the newest checkpoint needs, is set aside as *.corrupt;
    the run resumes from rank0.prev.pkl (step 800) with one line and ends equal to the uninterrupted run."""
    d = copy_of(reference, tmp_path)
    truncate(ckpt(d, "rank0.pkl"))
    msg = line(cli("--resume", "--log_path", d), 0)
    assert f"{ckpt(d, 'rank0.pkl')} is unusable (truncated: " in msg and "set aside as rank0.pkl.corrupt" in msg, msg
    assert msg.endswith(f"resuming from {ckpt(d, 'rank0.prev.pkl')} at step 800"), msg
    assert os.path.exists(ckpt(d, "rank0.pkl.corrupt"))
    assert_same_run(reference, d)

    d = str(tmp_path / "segment")
    shutil.copytree(reference, d)
    seg = ckpt(d, "rank0.replay/seg-800-1200.npz")
    flip_byte(seg)
    msg = line(cli("--resume", "--log_path", d), 0)
    assert f"{seg} is unusable (its payload does not match the checksum in its header)" in msg, msg
    assert msg.endswith("at step 800") and os.path.exists(seg + ".corrupt"), msg
    assert_same_run(reference, d)


def test_nothing_usable_changes_nothing(reference, tmp_path):
    """No usable checkpoint left: one line naming each file, exit 2, every file as it was. Logged rows without any
    checkpoint are refused too: --resume never deletes them."""
    d = copy_of(reference, tmp_path)
    truncate(ckpt(d, "rank0.pkl"))
    flip_byte(ckpt(d, "rank0.prev.pkl"))
    before = listing(d)
    msg = line(cli("--resume", "--log_path", d), 2)
    assert "rank0.pkl is unusable" in msg and "rank0.prev.pkl is unusable" in msg and "nothing was changed" in msg, msg
    assert listing(d) == before

    shutil.rmtree(os.path.join(d, "checkpoints"))
    before = listing(d)
    msg = line(cli("--resume", "--log_path", d), 2)
    assert "holds 3 logged rows but no checkpoint" in msg and "--overwrite" in msg, msg
    assert listing(d) == before


def rows_logged(d):
    p = os.path.join(d, "progress.csv")
    return os.path.exists(p) and rows(p)


def test_killed_before_first_checkpoint_restarts_in_place(reference, tmp_path):
    """A run killed before its first checkpoint and before any epoch row restarts in place on --resume, its
    config.json kept, and ends equal to the uninterrupted run."""
    d = str(tmp_path / "run")
    r = cli(*FULL, "--log_path", d, "--save_interval", "200", env={FAULT: "segment:1"})  # first checkpoint: step 200
    assert r.returncode == -9 and not os.path.exists(ckpt(d, "rank0.pkl")) and not rows_logged(d)
    config = open(os.path.join(d, "config.json")).read()
    quiet(cli("--resume", "--log_path", d))
    assert open(os.path.join(d, "config.json")).read() == config
    assert_same_run(reference, d)


# ---------------------------------------------------------------------------------------------- 2. write failures
@pytest.mark.parametrize("fault,name,kept,resume", [
    ("tmp:2", "checkpoints/rank0.pkl", 400, True),  # the second checkpoint (step 800)
    pytest.param("progress:2", "progress.csv", 400, False, marks=pytest.mark.long),  # the row of epoch 2 (step 800)
    pytest.param("evaluations:2", "evaluations.csv", 400, False, marks=pytest.mark.long),  # the evaluation at step 800
    ("monitor:5", "0.monitor.csv", 800, True),  # the fifth episode (step 1000)
    pytest.param("policy:1", "policy.npz", 1200, True, marks=pytest.mark.long),  # the policy saved at the end: --resume of the finished run saves it
])
def test_disk_full_stops_with_one_line_and_resume_continues(reference, tmp_path, fault, name, kept, resume):
    d = str(tmp_path / "run")
    policy = os.path.join(d, "policy.npz")
    msg = line(cli(*FULL, "--log_path", d, "--save_path", policy, env={FAULT: fault + ":enospc"}), 4)
    assert msg.startswith(f"baselines_meta.run: error: cannot write {os.path.join(d, name)}: [Errno 28] No space left on device;"), msg
    assert f"the last good checkpoint (step {kept}, in {os.path.join(d, 'checkpoints')}) is kept" in msg and "--resume" in msg, msg
    assert temporaries(d) == [] and final_state(d)[0]["steps"] == kept
    if not resume:  # as after a kill (test_resume): the run's logs are cut back to the checkpoint
        return
    quiet(cli("--resume", "--log_path", d, "--save_path", policy))
    assert temporaries(d) == []
    assert_same_run(reference, d)
    same_policy(os.path.join(reference, "policy.npz"), policy)


# ---------------------------------------------------------------------------------------------- 3. kill mid-checkpoint
@pytest.mark.parametrize("stage,left", [
    ("segment", {"rank0.pkl", "rank0.replay"}),  # segment 400-800 written, checkpoint 800 not begun
    pytest.param("tmp", {"rank0.pkl", "rank0.tmp.pkl", "rank0.replay"}, marks=pytest.mark.long),  # 800 complete in its .tmp
    ("between", {"rank0.prev.pkl", "rank0.tmp.pkl", "rank0.replay"}),  # step 400 moved to .prev, 800 still .tmp
    pytest.param("saved", {"rank0.pkl", "rank0.prev.pkl", "rank0.replay"}, marks=pytest.mark.long),  # both renames done
])
def test_sigkill_during_checkpoint_then_resume_equals_uninterrupted(reference, tmp_path, stage, left):
    d = str(tmp_path / "run")
    r = cli(*FULL, "--log_path", d, env={FAULT: f"{stage}:2"})  # during the second checkpoint (step 800)
    assert r.returncode == -9, r.stderr[-2000:]
    assert set(os.listdir(os.path.join(d, "checkpoints"))) == left
    assert os.path.exists(ckpt(d, "rank0.replay/seg-400-800.npz"))
    quiet(cli("--resume", "--log_path", d))
    assert temporaries(d) == []
    assert_same_run(reference, d)


# ---------------------------------------------------------------------------------------------- 4. flags with --resume
def test_flags_with_resume(reference, tmp_path):
    d = str(tmp_path / "run")
    quiet(cli(*ARGS, "--num_timesteps", "800", "--log_path", d))
    before = listing(d)
    msg = line(cli("--resume", "--log_path", d, "--gamma", "0.9", "--no-layer_norm", "--seed", "3"), 2)
    assert "--gamma 0.9 (the run has 0.99), --no-layer_norm (the run has True)" in msg and "config.json" in msg, msg
    msg = line(cli("--resume", "--log_path", d, "--num_timesteps", "600"), 2)
    assert "--num_timesteps 600 is below the run's budget of 800" in msg, msg
    msg = line(cli("--resume", "--log_path", d), 0)
    assert "already reached its budget of 800 steps" in msg and "--num_timesteps" in msg, msg
    assert listing(d) == before

    # a larger budget extends the finished run; arithmetic flags equal to the run's and output flags are accepted
    policy = os.path.join(d, "policy.npz")
    quiet(cli("--resume", "--log_path", d, "--num_timesteps", "1200", "--seed", "3", "--save_interval", "400",
              "--no-progress_bar", "--save_path", policy))
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["schedule"]["num_timesteps"] == 1200
    assert [(b["num_timesteps"], b["from_step"]) for b in cfg["budgets"]] == [(800, 0), (1200, 800)]
    assert [r["total/epochs"] for r in rows(os.path.join(d, "progress.csv"))] == ["1", "2", "3"]
    assert_same_run(reference, d)
    same_policy(os.path.join(reference, "policy.npz"), policy)

    # an extension after a short last epoch (1300: one cycle of 100 steps) goes on from where the run stopped
    for budget in ("1300", "1700"):
        quiet(cli("--resume", "--log_path", d, "--num_timesteps", budget))
    assert [r["total/steps"] for r in rows(os.path.join(d, "progress.csv"))] == ["400", "800", "1200", "1300", "1700"]
    assert final_state(d)[0]["steps"] == 1700


# ---------------------------------------------------------------------------------------------- 5. trust boundary
class _Marker:
    """Unpickling this creates a file: proof that a loader ran code from the file it read."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_policy_files_hold_no_pickles(reference, tmp_path):
    with np.load(os.path.join(reference, "policy.npz"), allow_pickle=False) as z:
        assert all(not z[k].dtype.hasobject for k in z.files)
    evil, marker = str(tmp_path / "evil.npz"), str(tmp_path / "ran")
    np.savez(evil, meta_json=np.zeros(2, np.uint8), payload=np.array([_Marker(marker)], dtype=object))
    msg = line(cli("--play", "--load_path", evil), 2)
    assert "is not a policy file written by --save_path" in msg and "pickled Python objects" in msg and "not loaded" in msg, msg
    assert not os.path.exists(marker)


# ---------------------------------------------------------------------------------------------- under MPI
def test_two_ranks_agree_on_fallback_and_stop_together(tmp_path):
    """Rank 1's newest checkpoint is corrupt: both ranks resume from step 400 (rank 0 drops its own newer one) and
    end where they ended before. A write only rank 0 does fails: the job is aborted, exit 4. Both ranks' checkpoint
    writes fail: they stop together, exit 4, one line. Each time the checkpoint at step 800 is kept."""
    d = str(tmp_path / "run")
    quiet(cli(*ARGS, "--num_timesteps", "800", "--log_path", d, mpi_np=2))
    want = [final_state(d, r)[1]["learner"]["vars"] for r in (0, 1)]
    truncate(ckpt(d, "rank1.pkl"))
    msg = line(cli("--resume", "--log_path", d, mpi_np=2), 0)
    assert "rank1.pkl is unusable (truncated" in msg and f"all 2 ranks resume from step 400 (rank 0 from {ckpt(d, 'rank0.prev.pkl')})" in msg, msg
    assert os.path.exists(ckpt(d, "rank1.pkl.corrupt")) and not glob.glob(ckpt(d, "rank0*.corrupt"))
    for r in (0, 1):
        header, st = final_state(d, r)
        assert header["steps"] == 800
        for x, y in zip(want[r], st["learner"]["vars"], strict=True):
            np.testing.assert_array_equal(x, y)

    for fault, name in (("progress:1", "progress.csv"), ("tmp:1", "rank0.pkl")):  # rank 0 alone; every rank
        r = cli("--resume", "--log_path", d, "--num_timesteps", "1200", mpi_np=2, env={FAULT: fault + ":enospc"})
        assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr[-3000:]
        ours = own_lines(r.stderr)
        assert len(ours) == 1 and f"{name}: [Errno 28]" in ours[0] and "(step 800," in ours[0], r.stderr[-3000:]
        assert final_state(d, 0)[0]["steps"] == final_state(d, 1)[0]["steps"] == 800 and temporaries(d) == []
