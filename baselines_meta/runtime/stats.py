"""Epoch statistics: per-epoch accumulators of the rollouts and losses, the epoch's log row, and the progress bar."""
from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from baselines_meta.common import mpi
from baselines_meta.runtime.envs import Rollout
from baselines_meta.runtime.evaluation import EvalResult, _mean


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
        """Add a rollout's finished episodes, actions [T, A] and Q(s, mu(s)) [T] to the epoch."""
        self.episode_returns += ro.episode_returns
        self.episode_lengths += ro.episode_lengths
        self.actions.append(ro.actions)
        self.qs.append(np.asarray(qs))

    def add_losses(self, critic: float, actor: float, distance: Optional[float]) -> None:
        """Add one training result's losses, and the param-noise distance when it adapted."""
        self.critic_losses.append(critic)
        self.actor_losses.append(actor)
        if distance is not None:
            self.distances.append(distance)


@dataclass
class RunTotals:
    """Across epochs: this rank's last 100 training-episode returns (rollout/return_history) and episode count."""

    episode_history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    episodes: int = 0


def epoch_row(stats: EpochStats, totals: RunTotals, epoch: int, steps: int, duration: float, epoch_steps: int,
              epoch_seconds: float, extra: dict) -> dict:
    """The epoch's log row: this rank's statistics (and the algorithm's `extra` keys) averaged over ranks, the run's
    totals and speeds. Collective under MPI: every rank calls it; updates `totals`."""
    totals.episode_history.extend(stats.episode_returns)
    acts = np.concatenate(stats.actions) if stats.actions else np.zeros((0,))
    qs = np.concatenate(stats.qs) if stats.qs else np.zeros((0,))
    d = {
        "rollout/return": _mean(stats.episode_returns),
        "rollout/return_history": _mean(list(totals.episode_history)),
        "rollout/episode_steps": _mean(stats.episode_lengths),
        "rollout/episodes": float(len(stats.episode_returns)),
        "rollout/actions_mean": _mean(acts),
        "rollout/actions_std": _std(acts),
        "rollout/Q_mean": _mean(qs),
        "train/loss_actor": _mean(stats.actor_losses),
        "train/loss_critic": _mean(stats.critic_losses),
        "train/param_noise_distance": _mean(stats.distances),
    }
    d.update(extra)
    d = mpi.mean_dict(d)
    size = mpi.size()
    # baselines' total/* keys are per-worker figures averaged over ranks; the all-worker totals get env_ names
    d["total/duration"] = duration
    d["total/steps"] = steps
    d["total/env_steps"] = steps * size
    d["total/steps_per_second"] = steps / max(duration, 1e-9)
    d["total/env_steps_per_second"] = steps * size / max(duration, 1e-9)
    d["total/epochs"] = epoch + 1
    totals.episodes += len(stats.episode_returns)
    all_episodes = int(mpi.allreduce_sum(np.array([totals.episodes]))[0])
    d["total/episodes"] = all_episodes / size
    d["total/env_episodes"] = all_episodes
    d["time/fps"] = epoch_steps * size / max(epoch_seconds, 1e-9)
    if stats.eval is not None:
        d["eval/return"] = _mean(stats.eval.returns)
        d["eval/return_std"] = _std(stats.eval.returns)
        d["eval/episodes"] = len(stats.eval.returns)
        d["eval/Q"] = stats.eval.q
        d["eval/return_history"] = stats.eval.return_history
    return d


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
        """Redraw the bar at `steps` env steps with the elapsed time, an ETA and `note` (no-op when disabled)."""
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
