"""What one run of the hard-exploration suite says beyond its evaluations, read from its files (the suite's table,
analysis.exploration, puts them together): the discovery of the reward, the student critic's collapse (two rules), the
meta arms' Delta = 0 and progress, the final observation normaliser on MountainCar, and whether the exploring policy's
own training episodes ever scored (meta: the teacher's D0)."""
from __future__ import annotations

import json
import math
import os
from typing import Optional

import numpy as np

from baselines_meta.analysis.results import monitor_returns, progress_column, progress_rows, skip

PROG = "baselines_meta.analysis.exploration"
COLLAPSE_STD = 1e-6  # the suite's runs end with reference_Q_std either below 1e-7 (collapsed) or above 1e-5
GOAL_X = 0.45  # MountainCar's goal position (gymnasium's Continuous_MountainCarEnv.goal_position)


def discovered_at(run_dir: str) -> Optional[int]:
    """The first logged `explore/discovered_at` of a run (None when it never discovered the reward)."""
    x = progress_column(run_dir, "explore/discovered_at")
    return int(x[0]) if x else None


# The rerun's collapse rule on one epoch (pre-registered): no unit of the critic's last hidden layer varies over the
# reference batch (a dead ReLU and a unit whose input kernels shrank away alike); the first suite's is the default.
ACTIVE_RULE = ("critic/active_frac", lambda active_frac: active_frac == 0.0)


def collapse(run_dir: str, key: str = "reference_Q_std", dead=lambda q_std: q_std < COLLAPSE_STD) -> tuple[Optional[int], int]:
    """(collapsed at, alive until): the env steps (total/steps) of the first logged epoch from which the student's
    critic stayed dead to the end (dead(the key's value) in that row and every later one; None if the last logged
    epoch's critic is alive), and those of the row before it (0 before the first row; the last step at which the
    critic is known alive). Rows without a finite value are skipped. The first suite's rule: reference_Q_std below
    COLLAPSE_STD (the default); the rerun's: collapse(run_dir, *ACTIVE_RULE)."""
    at, alive, prev = None, 0, 0
    for row in progress_rows(run_dir):
        q = float(row.get(key) or "nan")
        if not math.isfinite(q):
            continue
        steps = int(float(row["total/steps"]))
        if dead(q):
            if at is None:
                at, alive = steps, prev
        else:
            at = None
        prev = steps
    return at, (alive if at is not None else prev)


def collapsed_at(run_dir: str) -> Optional[int]:
    """The env steps of the first epoch of the critic's collapse to the end of the run (collapse(); None: alive)."""
    return collapse(run_dir)[0]


def zero_fraction(run_dir: str) -> Optional[float]:
    """A meta run's fraction of cycles whose meta reward was exactly 0: the mean over epochs of meta/reward_zero_frac
    (each epoch's fraction of its cycles; None for a run that logs none, i.e. ddpg)."""
    x = progress_column(run_dir, "meta/reward_zero_frac")
    return float(np.mean(x)) if x else None


def progress_stats(run_dir: str) -> tuple[Optional[float], Optional[float]]:
    """A meta run's progress (meta.rewards.progress: how much the look-ahead update lowered D0's mean squared TD error
    against fixed targets; measured in every look-ahead, whatever the teacher's reward): (the mean, the median of |.|)
    over epochs of meta/progress (or meta/progress_mean), each epoch's mean over its cycles; (None, None) for ddpg."""
    x = progress_column(run_dir, "meta/progress") or progress_column(run_dir, "meta/progress_mean")
    return (float(np.mean(x)), float(np.median(np.abs(x)))) if x else (None, None)


def normaliser_check(run_dir: str, x: float = GOAL_X) -> tuple[Optional[float], Optional[bool], Optional[float]]:
    """What a MountainCar run's final observation normaliser (normaliser.json, at the run's end) makes of the position
    (observation dimension 0): (z, clipped, clip_from): z = (x - mean) / max(std, floor) the position x normalised (the
    std is floored at sqrt(1e-2) = 0.1 by common.normalizer, and written floored), clipped: z >= clip (x is seen as
    +clip, as is every position beyond it), clip_from = mean + clip * max(std, floor). None x 3 without the file."""
    try:
        with open(os.path.join(run_dir, "normaliser.json")) as f:
            n = json.load(f)
        mean, std, clip = float(n["mean"][0]), max(float(n["std"][0]), float(n.get("std_floor", 0.1))), float(n["clip"])
    except FileNotFoundError:
        return None, None, None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        skip(PROG, run_dir, f"normaliser.json: {type(e).__name__}: {e}")
        return None, None, None
    z = (x - mean) / std
    return z, bool(z >= clip), mean + clip * std


def episodes_scored(run_dir: str, name: str = "0.monitor.csv") -> tuple[int, int]:
    """(finished episodes, those with a return above 0) of a monitor file: the training env's (ddpg: the noisy actor;
    meta: the teacher's D0 alone, docs/outputs.md). On the suite's four tasks a return above 0 means the episode found
    the reward: the sparse tasks score only there, and on MountainCarContinuous-v0 the action cost of a whole episode
    (at most 0.1 x 999) is below the goal's 100. (0, 0) without the file."""
    r = monitor_returns(run_dir, name)
    return int(r.size), int(np.sum(r > 0))
