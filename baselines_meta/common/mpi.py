"""MPI helpers, all outside the TF graph (baselines `MpiAdam`, `mpi_moments`, `sync_from_root`; `allgather` for the
batch exchange of ddpg.student).

Works without mpirun: a plain process is one worker of size 1.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mpi4py import MPI

from baselines_meta.common.flat import flatten, unflatten

COMM = MPI.COMM_WORLD


def rank() -> int:
    """This process's MPI rank (0 without mpirun)."""
    return COMM.Get_rank()


def size() -> int:
    """Number of MPI ranks in the job (1 without mpirun)."""
    return COMM.Get_size()


def rank_seed(seed: int, r: int | None = None) -> int:
    """Per-rank seed of baselines `main.py`: seed + 1000000 * rank."""
    return int(seed) + 1_000_000 * (rank() if r is None else r)


def allreduce_mean(x: np.ndarray) -> np.ndarray:
    """Element-wise mean over ranks of a float array (returns a new array)."""
    x = np.ascontiguousarray(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    if size() == 1:
        return x.copy()
    out = np.empty_like(x)
    COMM.Allreduce(x, out, op=MPI.SUM)
    out /= size()
    return out


def allgather(x: np.ndarray) -> np.ndarray:
    """Every rank's float32 array stacked in rank order, [N, *x.shape], on all ranks: one Allgather.
    Every rank must pass the same shape (the callers exchange equal-size batches)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((size(),) + x.shape, np.float32)
    if size() == 1:
        out[0] = x
        return out
    COMM.Allgather(x, out)
    return out


def allreduce_sum(x: np.ndarray) -> np.ndarray:
    """Element-wise sum over ranks of an array, as float64 (returns a new array)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if size() == 1:
        return x.copy()
    out = np.empty_like(x)
    COMM.Allreduce(x, out, op=MPI.SUM)
    return out


def sync_from_root(variables: Sequence) -> None:
    """Broadcast the values of tf.Variables from rank 0 (initial weights)."""
    if size() == 1:
        return
    vec = flatten([v.numpy() for v in variables])
    COMM.Bcast(vec, root=0)
    for v, val in zip(variables, unflatten(vec, [tuple(v.shape) for v in variables]), strict=True):
        v.assign(val)


def check_synced(variables: Sequence, atol: float = 0.0) -> float:
    """Largest absolute difference between this rank's variables and rank 0's; raises if above atol."""
    if size() == 1:
        return 0.0
    vec = flatten([v.numpy() for v in variables])
    root = vec.copy()
    COMM.Bcast(root, root=0)
    diff = float(np.max(np.abs(vec - root))) if vec.size else 0.0
    worst = COMM.allreduce(diff, op=MPI.MAX)
    if worst > atol:
        raise RuntimeError(f"MPI ranks hold different weights (max abs difference {worst:g})")
    return worst


def gather(obj):
    """List of every rank's obj on all ranks."""
    return COMM.allgather(obj)


def mean_dict(d: dict[str, float]) -> dict[str, float]:
    """Average a dict of scalars over ranks (keys must match; NaN where a rank has no value is skipped)."""
    if size() == 1:
        return dict(d)
    keys = sorted(d)
    vals = np.array([d[k] for k in keys], dtype=np.float64)
    have = np.isfinite(vals).astype(np.float64)
    s = allreduce_sum(np.where(have > 0, vals, 0.0))
    c = allreduce_sum(have)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return dict(zip(keys, m.tolist()))
