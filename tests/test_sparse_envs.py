"""The hard-exploration suite's own envs: gymnasium's env checker, and by hand: a state past the goal scores 1,
random actions score 0 (the definitions: paper.EXPLORATION, runtime/tasks.py)."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from baselines_meta import register_envs
from baselines_meta.paper import EXPLORATION, exploration_task
from baselines_meta.runtime.envs import make_env


def _make(env_id):
    register_envs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id)


@pytest.mark.parametrize("env_id", ["SparseMountainCar-v0", "SparseHalfCheetah-v5"])
def test_env_checker_and_registration(env_id):
    env = _make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    make_env(env_id).close()  # --env accepts it like any other id
    register_envs()  # twice: nothing happens


def test_sparse_mountain_car_by_hand():
    env = _make("SparseMountainCar-v0")
    assert env.spec.max_episode_steps == 999
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.44, 0.05], np.float32)  # one step from the goal (position 0.45)
    _, r, te, tr, _ = env.step(np.array([1.0], np.float32))
    assert (r, te) == (1.0, True)  # the goal: 1, no action cost, terminates
    env.reset(seed=0)
    _, r, te, _, _ = env.step(np.array([1.0], np.float32))
    assert (r, te) == (0.0, False)  # elsewhere 0 (MountainCarContinuous would give -0.1)
    rng = np.random.default_rng(0)
    for seed in range(3):  # random actions never reach the goal
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            _, r, te, tr, _ = env.step(rng.uniform(-1, 1, 1).astype(np.float32))
            total, done = total + r, te or tr
        assert total == 0.0


def test_sparse_half_cheetah_by_hand():
    env = _make("SparseHalfCheetah-v5")
    assert env.spec.max_episode_steps == 500 and env.observation_space.shape == (18,)
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    qpos, qvel = u.data.qpos.copy(), u.data.qvel.copy()
    qpos[0] = 6.0  # the torso beyond 5 m
    u.set_state(qpos, qvel)
    obs, r, te, _, _ = env.step(np.zeros(6, np.float32))
    assert r == 1.0 and not te and obs[0] > 5.0  # x is visible
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    total, done, best_x = 0.0, False, -np.inf
    while not done:
        obs, r, te, tr, _ = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
        total, done, best_x = total + r, te or tr, max(best_x, float(u.data.qpos[0]))
    assert total == 0.0 and best_x < 5.0 and tr and not te  # random actions: 0, truncated at 500, never terminated


def test_exploration_definitions():
    assert [t.env_id for t in EXPLORATION] == ["MountainCarContinuous-v0", "SparseMountainCar-v0",
                                               "dm_control/cartpole-swingup_sparse-v0", "SparseHalfCheetah-v5"]
    assert exploration_task("SparseHalfCheetah-v5").bar == 100.0 and exploration_task("Hopper-v4") is None


def test_dm_control_cartpole_swingup_sparse():
    """Through shimmy (the dm_control extra, which the test set-up installs): gymnasium's env checker passes,
    observations flattened (5), 1000 steps, a pole upright over a centred cart scores 1, random actions score 0 in 10
    of 10 episodes, and its physics state restores exactly (--teacher_start student)."""
    from baselines_meta.runtime.branching import check_restorable

    raw = make_env("dm_control/cartpole-swingup_sparse-v0").unwrapped  # shimmy's env, before FlattenObservation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(raw, skip_render_check=True)
    raw.reset(seed=0)
    physics = raw._env.physics
    with physics.reset_context():
        physics.named.data.qpos["slider"], physics.named.data.qpos["hinge_1"] = 0.0, 0.0  # centred, upright
    _, r, te, _, _ = raw.step(np.zeros(1, np.float32))
    assert r == 1.0 and not te
    env = make_env("dm_control/cartpole-swingup_sparse-v0")
    assert env.observation_space.shape == (5,) and env.action_space.shape == (1,)
    rng = np.random.default_rng(0)
    for seed in range(10):
        env.reset(seed=seed)
        total, n, done = 0.0, 0, False
        while not done:
            _, r, te, tr, _ = env.step(rng.uniform(-1, 1, 1))
            total, n, done = total + r, n + 1, te or tr
        assert total == 0.0 and n == 1000
    check_restorable("dm_control/cartpole-swingup_sparse-v0", steps=120)
