"""The benchmark command runs and writes its table (figures are checked by reading them, never timed here)."""
import json
import os
import subprocess

import pytest
from conftest import PY, ROOT

pytestmark = pytest.mark.slow  # subprocess runs: not in the fast tier (run/test -m 'not slow')


def test_bench_smoke(tmp_path):
    out = str(tmp_path / "bench")
    r = subprocess.run([PY, "-m", "baselines_meta.bench", "--env", "Pendulum-v1", "--reps", "1", "--seconds", "0.2",
                        "--epochs", "1", "--sb3_steps", "4000", "--out", out], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.load(open(os.path.join(out, "Pendulum-v1.json")))
    whats = [row["what"] for row in res["rows"]]
    for w in ("raw env (random actions)", "acting: deterministic actor", "acting: teacher sampling",
              "training: ddpg (paper schedule)", "training: meta (paper schedule)",
              "training: ddpg (paper schedule), whole run", "training: meta (paper schedule), whole run",
              "training: ddpg (baselines schedule)", "training: ddpg (baselines schedule), whole run of 4,000 steps"):
        assert w in whats
    for row in res["rows"]:
        assert row["steps_per_s"] > 0 and row["fraction_of_raw"] > 0 and row["hours_per_1M"] > 0
    assert [r["fraction_of_raw"] for r in res["rows"] if r["what"] == "raw env (random actions)"] == [1.0]
    assert res["memory"]["replay_transitions"] == 1_000_000 and res["memory"]["peak_rss_mb"] > res["memory"]["replay_mb"]
    assert "| training: ddpg (paper schedule) |" in open(os.path.join(out, "Pendulum-v1.md")).read()
    r = subprocess.run([PY, "-m", "baselines_meta.bench", "--env", "Nope-v1"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown environment id" in r.stderr


def test_figures_by_hand():
    """500 steps/s against a raw env of 2,000: a quarter of its speed; 1M steps take 2,000 s = 0.5556 h."""
    from baselines_meta.experiments.bench import figures

    row = figures("x", 500.0, 2000.0, 3)
    assert row["fraction_of_raw"] == 0.25 and abs(row["hours_per_1M"] - 0.555556) < 1e-6 and row["reps"] == 3
