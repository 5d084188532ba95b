"""Evaluation: deterministic-policy episodes on a separate env, evaluations.csv, eval/Q and eval/return_history."""
from __future__ import annotations

import collections
import csv
import os
from typing import Callable, NamedTuple, Optional

import numpy as np

from baselines_meta.common import mpi
from baselines_meta.runtime.envs import ActionScaler, evaluate, get_env_state, make_env, set_env_state
from baselines_meta.storage import faults


def _mean(x) -> float:
    x = np.asarray(x, np.float64)
    return float(x.mean()) if x.size else float("nan")


class EvalWriter:
    """evaluations.csv: steps (per worker), total_steps (all workers), then one column per episode return."""

    def __init__(self, path: str, n_episodes: int, truncate_to: Optional[int] = None):
        self.path = path
        with faults.writing(path):
            if truncate_to is not None:  # resume: drop rows written after the checkpoint
                with open(path, "r+b") as f:
                    f.truncate(truncate_to)
                return
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(["steps", "total_steps"] + [f"return_{i}" for i in range(n_episodes)])

    def write(self, steps: int, total_steps: int, returns: list[float]) -> list[float]:
        """Append one row; returns the returns as stored (6 significant digits), as read() gives them back."""
        cells = [f"{r:.6g}" for r in returns]
        with faults.writing(self.path):
            faults.point("evaluations")
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([steps, total_steps] + cells)
        return [float(c) for c in cells]

    def read(self) -> list[tuple[int, list[float]]]:
        """(steps, returns) of every row."""
        with open(self.path, newline="") as f:
            return [(int(r[0]), [float(x) for x in r[2:]]) for r in list(csv.reader(f))[1:]]


class EvalResult(NamedTuple):
    """One evaluation: every episode's return (all ranks), eval/Q and eval/return_history."""
    returns: list  # every evaluation episode's return, all ranks
    q: float  # eval/Q: mean Q(s, mu(s)) over the states the evaluation visited (baselines' eval_qs)
    return_history: float  # eval/return_history: mean of the last 100 evaluation returns (baselines)


class Evaluator:
    """Deterministic-policy episodes on a separate env every `interval` env steps; the episodes are split over
    ranks and gathered, so evaluations.csv holds exactly `n_episodes` returns per row whatever the rank count.

    Each evaluation is also one TensorBoard point, TB_TAG at its step: an epoch's row holds only its last
    evaluation. The point is the mean of the returns as evaluations.csv stores them, so that a resumed run, which
    writes the points of the rows kept at its checkpoint again (the logger rewrote tb/), gets the same values.
    """

    TB_TAG = "eval/return_each"

    def __init__(self, env_id: str, interval: int, n_episodes: int, seed: int, log_dir: str, logger,
                 resume_size: Optional[int] = None):
        """seed: of the evaluation env; resume_size: evaluations.csv's length at the checkpoint resumed from."""
        self.logger, self.size = logger, mpi.size()
        self.interval = interval
        self.n_total = n_episodes
        r, s = mpi.rank(), self.size
        self.n_mine = self.n_total // s + (1 if r < self.n_total % s else 0)
        self.env = make_env(env_id)
        self.env.reset(seed=seed)
        self.env.action_space.seed(seed)
        self.scaler = ActionScaler(self.env.action_space.low, self.env.action_space.high)
        self.next_at = self.interval
        self.history: collections.deque = collections.deque(maxlen=100)
        path = os.path.join(log_dir, "evaluations.csv")
        self.writer = EvalWriter(path, self.n_total, resume_size) if r == 0 else None
        if self.writer is not None and resume_size is not None:
            for steps, returns in self.writer.read():
                logger.point(self.TB_TAG, _mean(returns), steps)

    def due(self, steps: int) -> bool:
        """Whether an evaluation is due at `steps` env steps (never when there are no evaluation episodes)."""
        return self.n_total > 0 and steps >= self.next_at

    def run(self, steps: int, act: Callable[[np.ndarray], np.ndarray],
            q_of: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> "EvalResult":
        """Evaluate on every rank; q_of(obs [N, O]) -> Q(s, mu(s)) [N] gives eval/Q over the visited states."""
        visited: list = []
        mine = evaluate(self.env, self.scaler, act, self.n_mine, visited if q_of is not None else None)
        q_sum = float(np.sum(q_of(np.stack(visited)))) if q_of is not None and visited else 0.0
        parts = mpi.gather((mine, q_sum, len(visited)))
        allr = [x for p in parts for x in p[0]]
        n_q = sum(p[2] for p in parts)
        self.history.extend(allr)
        if self.writer is not None:
            stored = self.writer.write(steps, steps * self.size, allr)
            self.logger.point(self.TB_TAG, _mean(stored), steps)
        while self.next_at <= steps:
            self.next_at += self.interval
        q = sum(p[1] for p in parts) / n_q if n_q else float("nan")
        return EvalResult(allr, q, float(np.mean(self.history)) if self.history else float("nan"))

    def get_state(self) -> dict:
        """The evaluation env's state, the next trigger and the return history, for the checkpoint."""
        return {"env": get_env_state(self.env), "next_at": self.next_at, "history": list(self.history)}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave."""
        set_env_state(self.env, st["env"])
        self.next_at = st["next_at"]
        self.history.extend(st.get("history", []))
