"""How several MPI ranks combine their updates, and which of the two ways is faster for N ranks.

Baselines averages the ranks' gradients of their mean losses over equal-size minibatches. Two paths compute that:

  batches  At the start of each group of K gradient steps every rank samples its K minibatches from its own replay
           buffer (with its own RNG, as a single worker does), one Allgather gives every rank the minibatches of all
           ranks, and every rank runs the same fused XLA loop over their union (common.trainer.Trainer.fused_union,
           with each learner's union_losses_and_grads; the teacher's batch is its D0 with its meta reward). The ranks compute identical updates,
           so their weights stay identical with no communication per step.
  grads    One compiled call and one Allreduce of the flat gradients per step (Trainer's per-step path); also
           the path of --popart, whose return statistics change between steps.

Both give the same parameters to float rounding (tests/test_exchange.py). The union costs every rank N times the
rows of one minibatch, so for large N communicating gradients is cheaper. The cost per rank of one group, in
seconds, fitted to measurements on this machine (`python -m baselines_meta.bench --scaling`, written to
results/bench/mpi_scaling.{md,json}):

  batches  K * step(N * B) + allgather(N, 4 * K * B * F)      F = 2 * obs_dim + act_dim + 2 floats per transition
           (with --clip_norm each rank's slice gets its own clipped gradient: K * N * step(B))
  grads    K * (call + allreduce(N, 4 * P))                   P = actor and critic parameters
  step(b)         = step0 + step_per_row * b                  one fused XLA gradient step on b rows, one thread
  allgather(N, m) = log2(N) * gather_alpha + (N - 1) * m * gather_beta        (recursive doubling, m bytes a rank)
  allreduce(N, m) = log2(N) * reduce_alpha + 2 (N - 1) / N * m * reduce_beta  (Rabenseifner)

with the latency (alpha) and inverse bandwidth (beta) of each collective fitted at N = 2 (the N = 2 forms are
alpha + m * beta). 'auto' takes the path the model predicts cheaper.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from baselines_meta.common import mpi


class CostModel(NamedTuple):
    """Seconds, fitted to measurements (see the module docstring)."""

    step0: float  # fused XLA gradient step: intercept
    step_per_row: float  # and cost of one more batch row
    call: float  # grads path: one step's compiled call and numpy round trip, batch 64, without the Allreduce
    gather_alpha: float  # Allgather latency at 2 ranks
    gather_beta: float  # its seconds per byte a rank contributes
    reduce_alpha: float  # Allreduce latency at 2 ranks
    reduce_beta: float  # its seconds per byte

    def step(self, rows: float) -> float:
        """Seconds of one fused XLA gradient step on `rows` batch rows: step0 + step_per_row * rows."""
        return self.step0 + self.step_per_row * rows

    def allgather(self, n: int, nbytes: float) -> float:
        """Seconds of one Allgather of `nbytes` a rank at n ranks (recursive doubling; 0 for one rank)."""
        return 0.0 if n <= 1 else math.log2(n) * self.gather_alpha + (n - 1) * nbytes * self.gather_beta

    def allreduce(self, n: int, nbytes: float) -> float:
        """Seconds of one Allreduce of `nbytes` at n ranks (Rabenseifner; 0 for one rank)."""
        return 0.0 if n <= 1 else math.log2(n) * self.reduce_alpha + 2 * (n - 1) / n * nbytes * self.reduce_beta

    def batches(self, n: int, k: int, batch: int, row_floats: int, clip: bool = False) -> float:
        """Seconds a rank spends on one group of k steps exchanging batches."""
        compute = k * n * self.step(batch) if clip else k * self.step(n * batch)
        return compute + self.allgather(n, 4 * k * batch * row_floats)

    def grads(self, n: int, k: int, n_params: int) -> float:
        """Seconds a rank spends on one group of k steps exchanging gradients."""
        return k * (self.call + self.allreduce(n, 4 * n_params))

    def crossover(self, k: int, batch: int, row_floats: int, n_params: int, clip: bool = False, n_max: int = 4096) -> int:
        """The smallest N >= 2 at which exchanging gradients is cheaper (n_max + 1 if none up to n_max)."""
        for n in range(2, n_max + 1):
            if self.grads(n, k, n_params) < self.batches(n, k, batch, row_floats, clip):
                return n
        return n_max + 1


# Fitted on this machine (2 CPU cores, shared memory, MPICH 5), Hopper-v4 sizes (64-64 networks, batch 64), by
# `python -m baselines_meta.bench --scaling` on 2026-11-25: results/bench/mpi_scaling.json holds the measurements and
# this fit (tests/test_exchange.py checks they agree). A fused step costs 0.043 ms + 1.95 us a row (0.17 ms at 64
# rows), a step of the Allreduce path's call 1.84 ms: the union of N batches is cheaper up to N = 15 (ddpg, Hopper).
MEASURED = CostModel(step0=4.2534e-05, step_per_row=1.9480e-06, call=1.8355e-03, gather_alpha=1.1574e-05,
                     gather_beta=2.2065e-10, reduce_alpha=2.3903e-05, reduce_beta=4.2368e-10)


class Choice(NamedTuple):
    """The exchange path a run takes ('batches' or 'grads') and why, for the log line."""
    path: str  # 'batches' or 'grads'
    why: str  # for the log line


def row_floats(obs_dim: int, act_dim: int) -> int:
    """Floats of one transition in a gathered batch: obs0, actions, reward, obs1, terminal."""
    return 2 * obs_dim + act_dim + 2


def choose(flag: str, n_ranks: int, per_step: str, k: int, batch: int, obs_dim: int, act_dim: int, n_params: int,
           clip: bool, model: CostModel = MEASURED) -> Choice:
    """The path N ranks use. per_step: why the run must take one step at a time ('' if it need not): --popart
    (statistics between steps); then only 'grads' exists."""
    if per_step:
        return Choice("grads", f"{per_step}: one step at a time")
    if flag != "auto":
        return Choice(flag, f"--mpi_exchange {flag}")
    tb = model.batches(n_ranks, k, batch, row_floats(obs_dim, act_dim), clip)
    tg = model.grads(n_ranks, k, n_params)
    path = "batches" if tb <= tg else "grads"
    return Choice(path, f"auto: the cost model predicts {tb * 1e3:.1f} ms (batches) vs {tg * 1e3:.1f} ms (grads) a rank "
                        f"per group of {k} steps at {n_ranks} ranks")


def choose_for(cfg, learner) -> Choice:
    """choose() for a run's config (RunConfig) and its DDPG student (its obs_dim, act_dim and trained variables), at
    this job's number of ranks."""
    dc = cfg.ddpg
    per_step = "--popart" if dc.popart else ""
    k = max(1, min(dc.param_noise_adaption_interval, cfg.schedule.nb_train_steps))
    n_params = sum(int(np.prod(v.shape)) for v in learner.trained_variables())
    return choose(cfg.mpi_exchange, mpi.size(), per_step, k, dc.batch_size, learner.obs_dim, learner.act_dim, n_params,
                  dc.clip_norm is not None)


def describe(choice: Choice) -> str:
    """The log line that says which path this job's ranks exchange and why."""
    return f"MPI: {mpi.size()} ranks exchange {choice.path} ({choice.why}; --mpi_exchange forces either)"


def gather(many):
    """This rank's batches, a NamedTuple of arrays [K, B, ...], -> every rank's, [K, N, B, ...] in rank order, with one
    Allgather (every rank passes the same shapes)."""
    k, b = np.shape(many[0])[:2]
    flat = [np.asarray(x, np.float32).reshape(k, b, -1) for x in many]
    widths = [f.shape[-1] for f in flat]
    every = mpi.allgather(np.concatenate(flat, axis=-1)).transpose(1, 0, 2, 3)  # [N, K, B, F] -> [K, N, B, F]
    parts = np.split(every, np.cumsum(widths)[:-1], axis=-1)
    return type(many)(*[p.reshape(p.shape[:3] + np.shape(x)[2:]) for p, x in zip(parts, many, strict=True)])
