"""The meta reward of Algorithm 1: R(D0) = R_pi' - R_pi, each R the return of a rollout of the policy, and its
standardisation before the teacher's REINFORCE step.

R of a policy (paper eq. 3, "the actual cumulative reward of rollouts"): the rollout starts from a fresh reset and
runs nb_eval_steps steps, resetting at each termination or time limit. R is the mean undiscounted return of its
episodes, where an episode cut by the rollout's end counts, with its partial return, only when it is the first one.
So when the policy does not fall, R is the return over the first min(nb_eval_steps, time limit) steps, and falling
early lowers it. (The mean reward per step, 'step', ignores falls: it is a constant 1 on InvertedPendulum.)
'sum' is the paper's literal reading: the sum of the rollout's nb_eval_steps rewards, resets included.
"""
from __future__ import annotations

import collections
from typing import Optional

import numpy as np

from baselines_meta.runtime.envs import Rollout


def policy_return(ro: Rollout, mode: str) -> float:
    """R of a rollout: mode 'return' (the default; the rollout started from a fresh reset), 'step' (mean reward) or
    'sum' (the sum of all its rewards, resets included)."""
    if mode == "step":
        return float(np.mean(ro.rewards))
    if mode == "sum":
        return float(np.sum(ro.rewards, dtype=np.float64))
    if mode != "return":
        raise ValueError(f"unknown meta reward estimator {mode!r}")
    if ro.episode_returns:  # a finished episode exists, so the cut one (if any) is not the first: leave it out
        return float(np.mean(ro.episode_returns))
    return float(np.sum(ro.rewards))  # no episode finished: the first one, cut, with its partial return


class MetaRewardShaper:
    """What the teacher's update receives: Delta standardised by the mean and std of the last `window` Deltas (this
    one included), or Delta itself (norm 'none', the paper's raw form); times a random sign under the placebo.

    The first Delta of a run has a window of one, whose std is 0 and whose mean is itself: standardising it gives 0,
    so the run's first teacher step did nothing. With one Delta in the window there is no spread to scale by, and
    it is scaled by its own size instead: it gives its sign, +1, -1 (0 when Delta is 0). From the second on, the
    window's mean and std (floored at 1e-8: all-equal Deltas give 0, no signal)."""

    def __init__(self, norm: str, window: int, placebo: bool, rng: np.random.Generator):
        self.norm, self.placebo, self.rng = norm, placebo, rng
        self.recent: collections.deque = collections.deque(maxlen=max(1, window))

    def __call__(self, delta: float) -> float:
        """Add Delta to the window and return what the teacher's update gets (standardised, raw, or sign-flipped under the placebo)."""
        self.recent.append(float(delta))
        if self.norm == "window":
            x = np.asarray(self.recent, np.float64)
            if len(x) == 1:
                out = float(np.sign(delta))
            else:
                out = (delta - x.mean()) / max(float(x.std()), 1e-8)
        else:
            out = float(delta)
        if self.placebo:
            out *= 1.0 if self.rng.random() < 0.5 else -1.0
        return float(out)

    def get_state(self) -> dict:
        """The window of recent Deltas, for the checkpoint."""
        return {"recent": list(self.recent)}

    def set_state(self, st: dict) -> None:
        """Restore the window `get_state` gave."""
        self.recent.clear()
        self.recent.extend(st["recent"])


def start_seed(rng: np.random.Generator) -> int:
    """A reset seed for a rollout that measures R (drawn fresh each cycle from the run's meta stream)."""
    return int(rng.integers(0, 2**31 - 2**20))


def summary(deltas: list, prefix: str = "meta/reward") -> dict:
    """Per-epoch statistics of the raw meta rewards."""
    """Per-epoch statistics of the raw meta rewards: mean, std, the fraction above 0 and the fraction exactly 0
    (a cycle whose Delta is exactly 0 gives the teacher no signal: e.g. an alive-bonus task's 200-step reward sum)."""
    x = np.asarray([d for d in deltas if d is not None and np.isfinite(d)], np.float64)
    if not x.size:
        return {f"{prefix}_{k}": float("nan") for k in ("mean", "std", "pos_frac", "zero_frac")}
    return {f"{prefix}_mean": float(x.mean()), f"{prefix}_std": float(x.std()), f"{prefix}_pos_frac": float(np.mean(x > 0)),
            f"{prefix}_zero_frac": float(np.mean(x == 0))}


def all_equal(deltas: list) -> Optional[float]:
    """The common value when an epoch's (two or more) meta rewards are all equal, else None."""
    x = [d for d in deltas if d is not None and np.isfinite(d)]
    return x[0] if len(x) >= 2 and all(d == x[0] for d in x) else None
