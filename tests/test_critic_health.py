"""What tells a collapsed critic from a correctly flat one (the hard-exploration suite's rerun logs it in every run):
each kernel's norm and the fraction of the last hidden layer's units active on the reference batch; and the
observation normaliser written at the run's end."""
import json
import os

import numpy as np
import pytest
from test_cli import cli, rows
from test_ddpg_math import make, set_const

from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.config import DDPGConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.policy import DDPGPolicy
from baselines_meta.ddpg.student import ReferenceStats


def _stats(L, n=64):
    q = np.random.default_rng(0)
    buf = ReplayBuffer(n, L.obs_dim, L.act_dim)
    buf.add_many(q.normal(size=(n, L.obs_dim)), q.uniform(-1, 1, (n, L.act_dim)), np.zeros(n), q.normal(size=(n, L.obs_dim)),
                 np.zeros(n, bool), np.zeros(n, bool))
    return ReferenceStats(L, DDPGPolicy(L, q), np.random.default_rng(1))(buf)


def test_a_live_critic_and_a_collapsed_one():
    live = _stats(DDPGLearner(3, 1, DDPGConfig(noise_type="none")))
    assert live["critic/active_frac"] > 0.5 and min(live[f"critic/kernel_norm_{i}"] for i in (0, 1)) > 0.1
    # kernels 0.1 (2-2 hidden, no LayerNorm), biases 0: every unit is relu(0.1 * sum of inputs), which varies over
    # the batch; then kernels 0 (what the L2 drove the first suite's critics to): every unit is 0 on every row
    L = make(critic_l2_reg=0.0)
    set_const(L.critic, 0.1, 0.0)
    d = _stats(L)
    assert d["critic/active_frac"] > 0 and d["critic/kernel_norm_0"] == pytest.approx(0.1 * 2, rel=1e-5)  # 2x2 of 0.1
    set_const(L.critic, 0.0, 0.0)
    d = _stats(L)
    assert d["critic/active_frac"] == 0.0 and d["critic/kernel_norm_0"] == 0.0 and d["critic/kernel_norm_out"] == 0.0
    assert d["reference_Q_std"] == 0.0  # what reference_Q_std alone also says of a correctly flat critic


@pytest.mark.slow
def test_a_run_logs_them_and_writes_its_normaliser(tmp_path):
    d = str(tmp_path / "run")
    r = cli("--alg", "ddpg", "--env", "MountainCarContinuous-v0", "--num_timesteps", "800", "--nb_epoch_cycles", "2",
            "--eval_episodes", "0", "--log_path", d, "--log_formats", "csv")
    assert r.returncode == 0, r.stderr[-2000:]
    for row in rows(os.path.join(d, "progress.csv")):
        assert 0.0 <= float(row["critic/active_frac"]) <= 1.0 and float(row["critic/kernel_norm_1"]) > 0
    with open(os.path.join(d, "normaliser.json")) as f:
        norm = json.load(f)
    assert len(norm["mean"]) == len(norm["std"]) == 2 and min(norm["std"]) >= 0.1 and norm["clip"] == 5.0
    assert norm["count"] == pytest.approx(800, abs=1)
