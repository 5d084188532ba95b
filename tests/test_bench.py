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
                        "--epochs", "1", "--out", out], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.load(open(os.path.join(out, "Pendulum-v1.json")))
    whats = [row["what"] for row in res["rows"]]
    for w in ("raw env (random actions)", "acting: deterministic actor", "acting: teacher sampling",
              "training: ddpg (paper schedule)", "training: meta (paper schedule)"):
        assert w in whats
    for row in res["rows"]:
        assert row["steps_per_s"] > 0 and abs(row["fraction_of_raw"] - row["steps_per_s"] / res["raw_env"]) < 1e-9
        assert abs(row["hours_per_1M"] - 1e6 / row["steps_per_s"] / 3600) < 1e-9
    assert res["memory"]["replay_transitions"] == 1_000_000 and res["memory"]["peak_rss_mb"] > res["memory"]["replay_mb"]
    assert "| training: ddpg (paper schedule) |" in open(os.path.join(out, "Pendulum-v1.md")).read()
    r = subprocess.run([PY, "-m", "baselines_meta.bench", "--env", "Nope-v1"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown environment id" in r.stderr
