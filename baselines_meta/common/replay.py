"""Numpy ring-buffer replay memory. Raw observations are stored; normalisation happens at use (baselines)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Batch(NamedTuple):
    """One minibatch of transitions, [B, ...] (or [K, B, ...] from `ReplayBuffer.sample(n_batches=K)`)."""
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
        self.next_idx = 0  # where the next transition goes (= total % capacity)
        self.size = 0  # number of stored transitions
        self.total = 0  # transitions ever added (global row g sits at g % capacity while it is stored)

    def __len__(self) -> int:
        return self.size

    def add(self, obs0, action, reward, obs1, terminated, truncated) -> None:
        """Add one transition at the ring position `next_idx`, overwriting the oldest when full."""
        i = self.next_idx
        self.obs0[i] = obs0
        self.actions[i] = action
        self.rewards[i] = reward
        self.obs1[i] = obs1
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.next_idx = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.total += 1

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
            self.total += k

    def clear(self) -> None:
        """Forget every stored transition (the arrays are kept and overwritten later)."""
        self.next_idx = 0
        self.size = 0
        self.total = 0

    def get(self, idx: np.ndarray) -> Batch:
        """The transitions at ring positions idx (any index shape), with `terminals` = terminated (| truncated if set)."""
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

    FIELDS = ("obs0", "actions", "rewards", "obs1", "terminated", "truncated")

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Copies of global rows [start, stop) (each must still be stored: stop - start <= size, stop <= total)."""
        if not (self.total - self.size <= start <= stop <= self.total):
            raise ValueError(f"rows [{start}, {stop}) are not all stored (stored: [{self.total - self.size}, {self.total}))")
        pos = np.arange(start, stop) % self.capacity
        return {k: getattr(self, k)[pos] for k in self.FIELDS}

    def put_rows(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Write saved global rows back at their ring positions (restoring a checkpoint; see checkpoint.ReplayLog)."""
        n = len(arrays["obs0"])
        pos = np.arange(start, start + n) % self.capacity
        for k in self.FIELDS:
            getattr(self, k)[pos] = arrays[k]

    def set_counters(self, total: int) -> None:
        """After put_rows: the buffer holds the last min(total, capacity) of `total` rows ever added."""
        self.total = int(total)
        self.size = min(self.total, self.capacity)
        self.next_idx = self.total % self.capacity
