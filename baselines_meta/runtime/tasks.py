"""The hard-exploration suite's own envs (their definitions: paper.EXPLORATION), registered with gymnasium by
`register_envs()`: no import-time side effects; make_env calls it, and any script may, after which
`gymnasium.make("SparseHalfCheetah-v5")` works. And what the suite watches in every run of its tasks: the first
discovery of the reward (explore/discovered_at), a Watcher of the shared loop (watchers_for)."""
from __future__ import annotations

from typing import Optional

import numpy as np
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


class Discovery:
    """explore/discovered_at: this worker's env steps at the first transition, over every rollout in order (meta:
    D_pi, D0, D1), that found the task's reward (paper.ExplorationTask.discovered); NaN until then."""

    absent_from_old_checkpoints = True  # (before it was a part, the loop state held it)

    def __init__(self, task):
        self.task = task
        self.at: Optional[int] = None

    def see(self, rollouts: tuple, steps_before: int) -> None:
        """The first discovering transition of this cycle's rollouts, if none was found before."""
        if self.at is not None:
            return
        offset = steps_before
        for ro in rollouts:
            hits = np.flatnonzero(self.task.discovered(ro.rewards, ro.terminated))
            if hits.size:
                self.at = offset + int(hits[0]) + 1
                return
            offset += len(ro.rewards)

    def row(self) -> dict:
        """Its key of the epoch row."""
        return {"explore/discovered_at": float(self.at) if self.at is not None else float("nan")}

    def get_state(self) -> dict:
        return {"at": self.at}

    def set_state(self, st: dict) -> None:
        self.at = st["at"]

    def from_old_loop_state(self, loop) -> None:
        """A checkpoint from before: the loop state held it."""
        self.at = getattr(loop, "discovered_at", None)


def watchers_for(env_id: str) -> dict:
    """What the shared loop watches in a run on env_id: the discovery on the suite's tasks, nothing elsewhere."""
    from baselines_meta import paper

    task = paper.exploration_task(env_id)
    return {"discovery": Discovery(task)} if task is not None else {}
