"""Epoch statistics: per-epoch accumulators of the rollouts and losses, and the progress bar."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

from baselines_meta import mpi
from baselines_meta.envs import Rollout

if TYPE_CHECKING:
    from baselines_meta.evaluation import EvalResult


@dataclass
class EpochStats:
    """Per-epoch accumulators (baselines kept these cumulative since the start; we reset them every epoch)."""

    episode_returns: list = field(default_factory=list)
    episode_lengths: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    qs: list = field(default_factory=list)
    critic_losses: list = field(default_factory=list)
    actor_losses: list = field(default_factory=list)
    distances: list = field(default_factory=list)
    eval: Optional["EvalResult"] = None  # the epoch's last evaluation

    def add_rollout(self, ro: Rollout, qs: np.ndarray) -> None:
        self.episode_returns += ro.episode_returns
        self.episode_lengths += ro.episode_lengths
        self.actions.append(ro.actions)
        self.qs.append(np.asarray(qs))

    def add_losses(self, critic: float, actor: float, distance: Optional[float]) -> None:
        self.critic_losses.append(critic)
        self.actor_losses.append(actor)
        if distance is not None:
            self.distances.append(distance)


def _mean(x) -> float:
    x = np.asarray(x, np.float64)
    return float(x.mean()) if x.size else float("nan")


def _std(x) -> float:
    x = np.asarray(x, np.float64)
    return float(x.std()) if x.size else float("nan")


class ProgressBar:
    """A one-line progress bar on stderr, rank 0 only, only when stdout is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled and mpi.rank() == 0 and sys.stdout.isatty()
        self.t0 = time.time()

    def update(self, steps: int, note: str = "") -> None:
        if not self.enabled:
            return
        frac = min(1.0, steps / max(self.total, 1))
        w = 30
        el = time.time() - self.t0
        eta = el / frac - el if frac > 0 else float("nan")
        sys.stderr.write(f"\r[{'#' * int(w * frac):<{w}}] {steps}/{self.total} steps  {el:5.0f}s  eta {eta:5.0f}s  {note}   ")
        sys.stderr.flush()
        if steps >= self.total:
            sys.stderr.write("\n")
