"""Numpy ring-buffer replay memory. Raw observations are stored; normalisation happens at use (baselines)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Batch(NamedTuple):
    obs0: np.ndarray  # [B, O] float32, raw
    actions: np.ndarray  # [B, A] float32, unit box
    rewards: np.ndarray  # [B, 1] float32, scaled
    obs1: np.ndarray  # [B, O] float32, raw
    terminals: np.ndarray  # [B, 1] float32: 1 where the target must not bootstrap


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions; `terminated` and `truncated` are kept apart.

    A time-limit truncation is not a terminal state, so the critic target bootstraps through it, unless
    truncation_as_terminal restores baselines' old behaviour (issue #436) for comparison.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, truncation_as_terminal: bool = False):
        if capacity <= 0:
            raise ValueError("replay capacity must be positive")
        self.capacity = int(capacity)
        self.truncation_as_terminal = truncation_as_terminal
        self.obs0 = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, act_dim), np.float32)
        self.rewards = np.zeros((capacity, 1), np.float32)
        self.obs1 = np.zeros((capacity, obs_dim), np.float32)
        self.terminated = np.zeros((capacity, 1), np.bool_)
        self.truncated = np.zeros((capacity, 1), np.bool_)
        self.next_idx = 0  # where the next transition goes
        self.size = 0  # number of stored transitions

    def __len__(self) -> int:
        return self.size

    def add(self, obs0, action, reward, obs1, terminated, truncated) -> None:
        i = self.next_idx
        self.obs0[i] = obs0
        self.actions[i] = action
        self.rewards[i] = reward
        self.obs1[i] = obs1
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.next_idx = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_many(self, obs0, actions, rewards, obs1, terminated, truncated) -> None:
        """Add N transitions (arrays with leading dim N), wrapping around the end."""
        n = len(obs0)
        for start in range(0, n, self.capacity):  # only loops when n > capacity
            sl = slice(start, min(start + self.capacity, n))
            k = sl.stop - sl.start
            idx = (self.next_idx + np.arange(k)) % self.capacity
            self.obs0[idx] = obs0[sl]
            self.actions[idx] = actions[sl]
            self.rewards[idx, 0] = np.asarray(rewards[sl]).reshape(-1)
            self.obs1[idx] = obs1[sl]
            self.terminated[idx, 0] = np.asarray(terminated[sl]).reshape(-1)
            self.truncated[idx, 0] = np.asarray(truncated[sl]).reshape(-1)
            self.next_idx = int((self.next_idx + k) % self.capacity)
            self.size = min(self.size + k, self.capacity)

    def clear(self) -> None:
        self.next_idx = 0
        self.size = 0

    def get(self, idx: np.ndarray) -> Batch:
        done = self.terminated[idx]
        if self.truncation_as_terminal:
            done = done | self.truncated[idx]
        return Batch(self.obs0[idx], self.actions[idx], self.rewards[idx], self.obs1[idx], done.astype(np.float32))

    def sample(self, rng: np.random.Generator, batch_size: int, n_batches: int | None = None) -> Batch:
        """Uniform minibatch with replacement: [B, ...], or [K, B, ...] when n_batches=K."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        return self.get(rng.integers(0, self.size, size=shape))

    _FIELDS = ("obs0", "actions", "rewards", "obs1", "terminated", "truncated")

    def get_state(self) -> dict:
        """The stored rows only (a partly filled buffer saves only what it holds)."""
        return {"size": self.size, "next_idx": self.next_idx, **{k: getattr(self, k)[: self.size].copy() for k in self._FIELDS}}

    def set_state(self, st: dict) -> None:
        if st["size"] > self.capacity:
            raise ValueError(f"checkpoint replay holds {st['size']} transitions, more than the capacity {self.capacity}")
        for k in self._FIELDS:
            getattr(self, k)[: st["size"]] = st[k]
        self.size, self.next_idx = int(st["size"]), int(st["next_idx"])
