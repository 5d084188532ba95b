"""--log_formats tensorboard (issue 15): the event files hold progress.csv row by row and one point per evaluation,
a resumed run holds no step twice, and a missing tensorboard package stops the run before training (exit 2)."""
import glob
import importlib.util
import math
import os
import signal

import numpy as np
import pytest
from test_cli import cli, rows
from test_resume import fault, final_state, start

pytestmark = pytest.mark.slow  # subprocess runs: not in the fast tier (run/test -m 'not slow')

# Epochs of 2 cycles x 100 steps, an evaluation every 100 steps: two evaluations per epoch, one in its row.
ARGS = ["--alg", "ddpg", "--env", "Pendulum-v1", "--nb_epoch_cycles", "2", "--nb_rollout_steps", "100",
        "--eval_interval", "100", "--eval_episodes", "2", "--log_formats", "csv,tensorboard", "--seed", "3"]
EVAL_TAG = "eval/return_each"


def read_tb(d):
    """{tag: [(step, value)]} read with TensorBoard's own reader. TF2's tf.summary.scalar writes scalar tensors
    tagged with the scalars plugin (what the Scalars dashboard shows), so they are read as tensors, all of them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    ea = EventAccumulator(os.path.join(d, "tb"), size_guidance={"tensors": 0, "scalars": 0})
    ea.Reload()
    out = {}
    for tag in ea.Tags()["tensors"]:
        assert ea.SummaryMetadata(tag).plugin_data.plugin_name == "scalars", tag
        out[tag] = [(e.step, np.float32(tensor_util.make_ndarray(e.tensor_proto))) for e in ea.Tensors(tag)]
    return out


def check_matches_csv(d):
    """Every finite cell of progress.csv is a scalar at its row's total/steps (float32 precision), every
    evaluations.csv row one eval/return_each point with its mean return, and no tag has a step twice."""
    tb = read_tb(d)
    for tag, points in tb.items():
        steps = [s for s, _ in points]
        assert steps == sorted(set(steps)), (tag, steps)
    want = {}
    for r in rows(os.path.join(d, "progress.csv")):
        step = int(float(r["total/steps"]))
        for k, v in r.items():
            if v != "" and math.isfinite(float(v)):
                want.setdefault(k, []).append((step, np.float32(float(v))))
    assert set(tb) == set(want) | {EVAL_TAG}, set(tb) ^ (set(want) | {EVAL_TAG})
    for k, points in want.items():
        assert tb[k] == points, k
    ev = rows(os.path.join(d, "evaluations.csv"))
    means = [np.float32(np.mean([float(v) for c, v in e.items() if c.startswith("return_")])) for e in ev]
    assert tb[EVAL_TAG] == [(int(e["steps"]), m) for e, m in zip(ev, means, strict=True)]
    return tb


def test_event_files_match_progress_and_evaluations(tmp_path):
    d = str(tmp_path / "run")
    r = cli(*ARGS, "--num_timesteps", "1000", "--log_path", d)
    assert r.returncode == 0, r.stderr[-2000:]
    tb = check_matches_csv(d)
    assert [s for s, _ in tb["total/steps"]] == [200, 400, 600, 800, 1000]
    assert [s for s, _ in tb[EVAL_TAG]] == list(range(100, 1001, 100))  # both evaluations of each epoch
    assert {"rollout/return", "train/loss_critic", "eval/return", "total/env_steps"} <= set(tb)
    assert len(glob.glob(os.path.join(d, "tb", "events.out.tfevents.*"))) == 1


def test_resume_after_sigkill_has_no_duplicated_steps(tmp_path):
    d = str(tmp_path / "run")
    # Checkpoints at 1000, 2000, 3000 only: killed as it is about to write its 7th row, the process has written rows
    # (up to 1200) and evaluations past its checkpoint (at 1000), which the resumed run writes again.
    p = start(*ARGS, "--num_timesteps", "3000", "--save_interval", "1000", "--log_path", d, env=fault("progress:7"))
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert final_state(d)[0]["steps"] == 1000
    before = read_tb(d)
    assert before["total/steps"][-1][0] > 1000 and before[EVAL_TAG][-1][0] > 1000
    r = cli("--resume", "--log_path", d)
    assert r.returncode == 0, r.stderr[-2000:]
    tb = check_matches_csv(d)
    assert [s for s, _ in tb["total/steps"]] == list(range(200, 3001, 200))
    assert [s for s, _ in tb[EVAL_TAG]] == list(range(100, 3001, 100))
    assert len(glob.glob(os.path.join(d, "tb", "events.out.tfevents.*"))) == 1


@pytest.mark.parametrize("via_env", [False, True], ids=["flag", "OPENAI_LOG_FORMAT"])
def test_missing_tensorboard_exits_2_before_training(tmp_path, monkeypatch, capsys, via_env):
    from baselines_meta.run import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "tensorboard" else real(name, *a, **k))
    d = str(tmp_path / "run")
    args = ["--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "200", "--eval_episodes", "0", "--log_path", d]
    if via_env:
        monkeypatch.setenv("OPENAI_LOG_FORMAT", "csv,tensorboard")
    else:
        args += ["--log_formats", "csv,tensorboard"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pip install tensorboard" in lines[0] and "Traceback" not in err, err
    assert not os.path.exists(d)  # nothing written, nothing trained
