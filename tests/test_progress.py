"""--teacher_reward progress: the drop of D0's squared TD error in the look-ahead, by hand; larger for a D0 holding a
reward; a closed loop whose teacher moves toward the actions that teach the critic most (and a placebo's does not);
and on a real sparse task, a signal in every cycle where Delta is exactly 0."""
import os

import numpy as np
import pytest
import tf_keras
from test_cli import cli, rows
from test_ddpg_math import make, set_const

from baselines_meta.common.replay import Batch, ReplayBuffer
from baselines_meta.config import DDPGConfig, RunConfig, ScheduleConfig, TeacherConfig
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.ddpg.student import StudentTrainer
from baselines_meta.meta.learn import StudentSnapshot
from baselines_meta.meta.rewards import REWARDS, SIGNALS
from baselines_meta.meta.rewards.progress import ProgressSignal
from baselines_meta.meta.teacher import TeacherLearner, TeacherPolicy
from baselines_meta.resolve import resolve


def test_progress_by_hand_on_constant_networks():
    """Critic kernels 0.1, biases 0 (2-2 hidden, no LayerNorm), obs 0, actor 0: Q(0, a) = 0.02 a for a > 0 (see
    test_exchange's union loss). One transition, a = 1, r = 1, terminal: y = 1, Q_before = 0.02, so the squared error
    before is 0.98^2. The 'update' sets the critic's kernels to 0.5: Q_after = 0.5 * 2 * 0.5 * 1 = 0.5, error 0.5^2.
    progress = 0.9604 - 0.25 = 0.7104."""
    L = make(gamma=0.9, critic_l2_reg=0.0)
    set_const(L.actor, 0.0, 0.0)
    set_const(L.critic, 0.1, 0.0)
    set_const(L.target_critic, 0.1, 0.0)
    z = np.zeros((1, 2), np.float32)
    d0 = Batch(z, np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), z, np.ones((1, 1), np.float32))
    sig = ProgressSignal(None)
    memo = sig.before(L, d0)
    assert float(memo[0][0, 0]) == pytest.approx(1.0) and float(memo[1][0, 0]) == pytest.approx(0.02, rel=1e-5)
    set_const(L.critic, 0.5, 0.0)
    assert sig.after(L, d0, memo) == pytest.approx(0.98 ** 2 - 0.5 ** 2, rel=1e-5)
    set_const(L.critic, 0.1, 0.0)  # nothing learned: no progress
    assert sig.after(L, d0, memo) == pytest.approx(0.0, abs=1e-7)


def _d0(n, rewarded, seed=0):
    q = np.random.default_rng(seed)
    obs0, obs1 = q.normal(size=(n, 3)).astype(np.float32), q.normal(size=(n, 3)).astype(np.float32)
    acts = q.uniform(-1, 1, (n, 1)).astype(np.float32)
    r = np.zeros(n, np.float32)
    r[:rewarded] = 1.0
    return obs0, acts, r, obs1


def test_a_rewarded_transition_makes_more_progress():
    """From the same initial critic, the same D0 with one transition rewarded (a sparse task's discovery) gives a
    larger progress than without it: the critic has something to learn."""
    tf_keras.utils.set_random_seed(0)
    L = DDPGLearner(3, 1, DDPGConfig(noise_type="none"))
    start = StudentSnapshot(L)
    got = []
    for rewarded in (0, 1):
        start.restore()
        obs0, acts, r, obs1 = _d0(100, rewarded)
        buf = ReplayBuffer(100, 3, 1)
        buf.add_many(obs0, acts, r, obs1, np.zeros(100, bool), np.zeros(100, bool))
        d0 = buf.get(np.arange(100))
        sig = ProgressSignal(None)
        memo = sig.before(L, d0)
        StudentTrainer(L, np.random.default_rng(1)).train(buf, 50)
        got.append(sig.after(L, d0, memo))
    assert got[1] > got[0] + 1e-3, got


def _closed_loop(placebo: bool, seed: int, cycles: int = 100):
    """The teacher (1-D actions on 32 fixed states) rewarded by progress, through the real plug-in, the real look-ahead
    (20 DDPG steps from the same critic every cycle) and the real REINFORCE step: a transition is rewarded (terminal,
    y = r) when its action is above 0, so D0s with more such actions teach the critic more. Returns the teacher's
    mean action before and after."""
    tf_keras.utils.set_random_seed(seed)
    L = DDPGLearner(3, 1, DDPGConfig(noise_type="none"))
    start = StudentSnapshot(L)
    T = TeacherLearner(3, 1, TeacherConfig(lr=1e-3), None, 5.0)
    pol = TeacherPolicy(T, np.random.default_rng(seed))
    cfg = resolve(RunConfig(schedule=ScheduleConfig(teacher_reward="progress", meta_reward_placebo=placebo,
                                                    nb_epoch_cycles=20)))
    reward = REWARDS["progress"](cfg, np.random.default_rng(100 + seed))
    obs = np.random.default_rng(1).normal(size=(32, 3)).astype(np.float32)
    before = float(pol.mean_and_log_std(obs)[0].mean())
    sig, trainer, buf = ProgressSignal(None), StudentTrainer(L, np.random.default_rng(seed)), ReplayBuffer(32, 3, 1)
    for _ in range(cycles):
        start.restore()
        raw = pol.sample(obs)
        acts = np.clip(raw, -1, 1)
        buf.clear()
        buf.add_many(obs, acts, (acts[:, 0] > 0.0).astype(np.float32), obs, np.ones(32, bool), np.zeros(32, bool))
        d0 = buf.get(np.arange(32))
        memo = sig.before(L, d0)
        trainer.train(buf, 20)
        progress = sig.after(L, d0, memo)
        T.train(obs, raw, reward(0.0, {"progress": progress}), 1, pol.density(obs, raw))
        pol.refresh()
    return before, float(pol.mean_and_log_std(obs)[0].mean())


@pytest.mark.slow
def test_closed_loop_the_teacher_moves_toward_the_actions_that_teach_the_critic():
    moved = [np.subtract(*reversed(_closed_loop(False, s))) for s in range(4)]
    placebo = [np.subtract(*reversed(_closed_loop(True, s))) for s in range(4)]
    # measured: +0.49, +0.42, +0.33 (seeds 0-2) against placebo random walks of -0.30, -0.29, -0.37, +0.05
    assert min(moved) > 0.2, moved
    assert np.mean(placebo) < 0.15 and np.mean(moved) - np.mean(placebo) > 0.3, (moved, placebo)


def test_progress_is_logged_under_every_teacher_reward_and_both_needs_its_weight():
    assert "progress" in SIGNALS and {"improvement", "progress", "both"} <= set(REWARDS)
    from baselines_meta import make_config
    from baselines_meta.config import UsageError

    assert make_config(teacher_reward="both", progress_weight=0.5).schedule.progress_weight == 0.5
    with pytest.raises(UsageError, match="--progress_weight 0.5 is a setting of --teacher_reward both: "
                                         "--teacher_reward improvement does not read it"):
        make_config(progress_weight=0.5)
    with pytest.raises(UsageError, match="--teacher_reward progress is a setting of --alg meta / meta-variance"):
        make_config(alg="ddpg", teacher_reward="progress")


@pytest.mark.slow
def test_on_a_sparse_task_delta_is_zero_where_progress_is_not(tmp_path):
    """SparseMountainCar-v0, a few thousand steps: the reward is never found, so Delta is exactly 0 in every cycle,
    while progress is non-zero in every cycle and the teacher, rewarded with it, moves."""
    d = str(tmp_path / "run")
    r = cli("--alg", "meta", "--env", "SparseMountainCar-v0", "--teacher_reward", "progress", "--num_timesteps", "4000",
            "--nb_epoch_cycles", "4", "--eval_episodes", "0", "--critic_l2_reg", "0", "--log_path", d,
            "--log_formats", "csv")
    assert r.returncode == 0, r.stderr[-2000:]
    prog = rows(os.path.join(d, "progress.csv"))
    assert len(prog) == 2 and all(float(p["explore/discovered_at"] or "nan") != float(p["explore/discovered_at"] or "nan")
                                  for p in prog)  # never discovered (NaN)
    for p in prog:
        assert float(p["meta/reward_zero_frac"]) == 1.0  # Delta exactly 0 in every cycle
        assert float(p["meta/progress_zero_frac"]) == 0.0 and float(p["meta/progress_std"]) > 0
    assert float(prog[-1]["teacher/drift"]) > 0 and float(prog[-1]["teacher/loss"]) != 0


def test_progress_is_read_in_one_set_of_units_under_popart():
    """PopArt moves the return statistics during the look-ahead and rescales the critic's outputs to preserve them:
    a look-ahead that learned nothing but moved the statistics makes no progress."""
    from baselines_meta.ddpg.learner import popart_step

    tf_keras.utils.set_random_seed(0)
    L = DDPGLearner(3, 1, DDPGConfig(noise_type="none", normalize_returns=True, popart=True))
    obs0, acts, r, obs1 = _d0(64, 0)
    d0 = Batch(obs0, acts, (r - 500.0)[:, None], obs1, np.zeros((64, 1), np.float32))  # returns far from mean 0
    sig = ProgressSignal(None)
    memo = sig.before(L, d0)
    for _ in range(3):
        popart_step(L, d0)  # the statistics move (mean ~ -500), the critic's denormalised outputs are preserved
    assert float(L.ret_rms.mean.numpy()[0]) < -100
    assert sig.after(L, d0, memo) == pytest.approx(0.0, abs=1e-6 * float(np.mean(memo[0] ** 2)))


def test_the_registries_import_no_tensorflow():
    """The flags list the plug-ins' names before quiet_tf hides TensorFlow's start-up lines (and --play must not
    import it at all)."""
    import subprocess

    from conftest import PY, ROOT

    code = ("import sys; from baselines_meta.flags import build_parser; build_parser(); "
            "import baselines_meta.meta.rewards, baselines_meta.meta.starts; print('tensorflow' in sys.modules)")
    r = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stdout + r.stderr
