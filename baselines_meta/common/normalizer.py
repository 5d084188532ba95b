"""Running mean / std aggregated over MPI ranks (baselines `common/mpi_running_mean_std.py`).

Sums are kept in float64 numpy on every rank (identical on all ranks after each Allreduce); the derived mean and
std live in tf.Variables so compiled code reads the current values, never a stale Python float.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from baselines_meta.common import mpi


class RunningMeanStd:
    """mean = sum / count, std = sqrt(max(sumsq / count - mean^2, eps)), with sum = 0, sumsq = count = eps at start.

    eps = 1e-2 as baselines, so the std is floored at 0.1 and starts at 1.
    """

    def __init__(self, shape: tuple[int, ...], eps: float = 1e-2, name: str = "rms"):
        self.shape = tuple(shape)
        self.eps = eps
        self.sum = np.zeros(self.shape, np.float64)
        self.sumsq = np.full(self.shape, eps, np.float64)
        self.count = eps
        self.mean = tf.Variable(np.zeros(self.shape, np.float32), trainable=False, name=f"{name}_mean")
        self.std = tf.Variable(np.ones(self.shape, np.float32), trainable=False, name=f"{name}_std")

    def update(self, x: np.ndarray) -> None:
        """Add a batch [N, *shape] from this rank; all ranks must call together (one Allreduce)."""
        x = np.asarray(x, np.float64).reshape((-1,) + self.shape)
        n = int(np.prod(self.shape))
        vec = np.concatenate([x.sum(0).ravel(), np.square(x).sum(0).ravel(), [len(x)]])
        tot = mpi.allreduce_sum(vec)
        self.sum += tot[:n].reshape(self.shape)
        self.sumsq += tot[n : 2 * n].reshape(self.shape)
        self.count += float(tot[-1])
        self._publish()

    def np_mean(self) -> np.ndarray:
        """The current mean [*shape] in float64, from the summed statistics."""
        return self.sum / self.count

    def np_std(self) -> np.ndarray:
        """The current std [*shape] in float64: sqrt(max(var, eps))."""
        m = self.np_mean()
        return np.sqrt(np.maximum(self.sumsq / self.count - np.square(m), self.eps))

    def _publish(self) -> None:
        self.mean.assign(self.np_mean().astype(np.float32))
        self.std.assign(self.np_std().astype(np.float32))

    def get_state(self) -> dict:
        """The running sums and count, for the checkpoint."""
        return {"sum": self.sum.copy(), "sumsq": self.sumsq.copy(), "count": self.count}

    def set_state(self, state: dict) -> None:
        """Restore the sums and count `get_state` gave and republish mean / std."""
        self.sum = np.array(state["sum"], np.float64)
        self.sumsq = np.array(state["sumsq"], np.float64)
        self.count = float(state["count"])
        self._publish()


def normalize(x: tf.Tensor, rms: RunningMeanStd | None, clip: float) -> tf.Tensor:
    """(x - mean) / std clipped to +-clip; with normalisation off (rms None) the raw x is still clipped to +-clip,
    as baselines clips `normalize(obs, None)` = obs to its observation_range."""
    if rms is None:
        return tf.clip_by_value(x, -clip, clip)
    return tf.clip_by_value((x - rms.mean) / rms.std, -clip, clip)
