"""The hard-exploration suite's own envs (their definitions: paper.EXPLORATION), registered with gymnasium by
`register_envs()`: no import-time side effects; make_env calls it, and any script may, after which
`gymnasium.make("SparseHalfCheetah-v5")` works."""
from __future__ import annotations

from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

GOAL_X = 5.0  # SparseHalfCheetah: the torso's x beyond which a step scores 1 (VIME's SparseHalfCheetah)


class SparseMountainCarEnv(Continuous_MountainCarEnv):
    """MountainCarContinuous-v0's dynamics, start and 999-step limit; reward 1 on the step that reaches the goal
    (which terminates), 0 otherwise, no action cost (VIME's SparseMountainCar)."""

    def step(self, action):
        """MountainCarContinuous's step with the sparse reward."""
        obs, _, terminated, truncated, info = super().step(action)
        return obs, 1.0 if terminated else 0.0, terminated, truncated, info


class SparseHalfCheetahEnv(HalfCheetahEnv):
    """HalfCheetah-v5 with the torso's x in the observation (18 values), reward 1.0 on each step whose torso x is
    beyond 5 m, else 0, no control cost; never terminates (truncated at 500 steps by its registration)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("exclude_current_positions_from_observation", False)
        super().__init__(**kwargs)

    def step(self, action):
        """HalfCheetah-v5's step with the sparse reward."""
        obs, _, terminated, truncated, info = super().step(action)
        return obs, 1.0 if float(self.data.qpos[0]) > GOAL_X else 0.0, terminated, truncated, info


REGISTERED = {"SparseMountainCar-v0": (SparseMountainCarEnv, 999), "SparseHalfCheetah-v5": (SparseHalfCheetahEnv, 500)}


def register_envs() -> None:
    """Register SparseMountainCar-v0 and SparseHalfCheetah-v5 with gymnasium (once; calling it again does nothing)."""
    import gymnasium as gym

    for env_id, (cls, limit) in REGISTERED.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=f"{cls.__module__}:{cls.__name__}", max_episode_steps=limit)
