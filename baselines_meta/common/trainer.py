"""The one trainer of every learner: K fused XLA gradient steps for one worker, the batch-union exchange and the
per-step gradient exchange under MPI (baselines_meta.common.exchange says which), and the step-at-a-time path of a
learner whose statistics change between steps (PopArt).

It knows nothing of the learner but this small protocol (the DDPG student and the teacher both follow it; a test
drives it with a toy learner):

    step_spec                      a NamedTuple of tf.TensorSpecs: one rank's batch for one gradient step
    Losses                         the NamedTuple class of its scalar losses
    trained_variables()            the variables the gradients are for, in the order of the gradient list
    losses_and_grads(batch)        graph code: (a NamedTuple of scalar losses, [gradient per trained variable])
    union_losses_and_grads(batch)  graph code, on every rank's batch stacked [N, ...]: the losses and gradients of the
                                   mean over ranks (what baselines' averaged gradients are); each learner writes the
                                   union its loss allows (a mean over rows: one pass over the N*B rows)
    apply_gradients(grads)         graph code: the optimiser step and whatever follows it (targets, counters)
    before_step(batch)             eager, or None: runs before each step and forces one step at a time (PopArt)

Batches given to `run` carry a leading step axis: [K, ...] gives each of the K steps its own minibatch (the student),
[1, ...] repeats one batch for every step (the teacher's D0). The two are compiled apart: XLA rounds a loop whose trip
count is the batches' own length differently from one counted by an argument (the logged mean losses, in their last
bit), and each learner keeps the rounding its runs have always had.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from baselines_meta.common import mpi
from baselines_meta.common.exchange import gather
from baselines_meta.common.flat import flatten, unflatten
from baselines_meta.common.flat import size as flat_size


class Trainer:
    """Gradient steps of one learner (the module's protocol), by `path`: 'fused' (one worker), 'batches' (MPI: every
    rank's batches gathered once per call, the same fused steps on their union) or 'grads' (MPI: an Allreduce of the
    flat gradients at every step). A learner with before_step always takes the per-step path."""

    def __init__(self, learner, exchange: str = "batches"):
        self.learner = L = learner
        self.shapes = [tuple(v.shape) for v in L.trained_variables()]
        self.n_params = flat_size(self.shapes)
        spec = L.step_spec
        many = type(spec)(*[tf.TensorSpec([None] + list(s.shape), s.dtype) for s in spec])
        union = type(spec)(*[tf.TensorSpec([None, None] + list(s.shape), s.dtype) for s in spec])
        n = tf.TensorSpec([], tf.int32)
        flat = tf.TensorSpec([self.n_params])
        # XLA: 2.5x faster than plain graph execution on CPU for 64-64 nets
        self.fused = tf.function(self._fused, autograph=False, input_signature=[many], jit_compile=True)
        self.fused_union = tf.function(self._fused_union, autograph=False, input_signature=[union], jit_compile=True)
        self.fused_repeat = tf.function(self._fused_repeat, autograph=False, input_signature=[many, n], jit_compile=True)
        self.fused_union_repeat = tf.function(self._fused_union_repeat, autograph=False, input_signature=[union, n],
                                              jit_compile=True)
        self.compute_grads = tf.function(self._compute_grads, autograph=False, input_signature=[spec])
        self.apply_grads = tf.function(self._apply_grads, autograph=False, input_signature=[flat])
        self.apply_then_grads = tf.function(self._apply_then_grads, autograph=False, input_signature=[flat, spec])
        self.one_at_a_time = getattr(L, "before_step", None) is not None
        if self.one_at_a_time or mpi.size() > 1:
            self.path = "grads" if self.one_at_a_time or exchange == "grads" else "batches"
        else:
            self.path = "fused"

    # ------------------------------------------------------------------ compiled (graph code)
    def _loop(self, batches, n_steps, losses_and_grads):
        """Steps on batches [K', ...], step i on batch i % K'. n_steps None: K' steps, each on its own batch, returning
        their mean losses; else n_steps steps on one batch repeated, returning the first step's (those before the
        batch was learned from)."""
        L = self.learner
        k = tf.shape(batches[0])[0]
        zero = L.Losses(*[tf.constant(0.0) for _ in L.Losses._fields])

        def step(i, acc):
            losses, grads = losses_and_grads(type(batches)(*[x[i % k] for x in batches]))
            L.apply_gradients(grads)
            if n_steps is None:
                return i + 1, tf.nest.map_structure(tf.add, acc, losses)
            return i + 1, tf.nest.map_structure(lambda f, x: tf.where(tf.equal(i, 0), x, f), acc, losses)

        # (an explicit loop, without autograph's seconds of conversion)
        _, acc = tf.while_loop(lambda i, _: i < (k if n_steps is None else n_steps), step, (tf.constant(0), zero))
        if n_steps is not None:
            return acc
        kf = tf.cast(k, tf.float32)
        return tf.nest.map_structure(lambda t: t / kf, acc)

    def _fused(self, batches):
        return self._loop(batches, None, self.learner.losses_and_grads)

    def _fused_union(self, batches):
        return self._loop(batches, None, self.learner.union_losses_and_grads)

    def _fused_repeat(self, batches, n_steps):
        return self._loop(batches, n_steps, self.learner.losses_and_grads)

    def _fused_union_repeat(self, batches, n_steps):
        return self._loop(batches, n_steps, self.learner.union_losses_and_grads)

    def _compute_grads(self, batch):
        losses, grads = self.learner.losses_and_grads(batch)
        return losses, flatten(grads)

    def _apply_grads(self, flat):
        self.learner.apply_gradients(unflatten(flat, self.shapes))
        return tf.constant(0)

    def _apply_then_grads(self, flat, batch):
        """Apply step k's averaged gradients, then take step k+1's gradients: one call per step under MPI (a TF call
        costs ~0.4 ms here, more than a whole gradient step), the same arithmetic as two calls."""
        self._apply_grads(flat)
        return self._compute_grads(batch)

    # ------------------------------------------------------------------ eager
    def run(self, batches, n_steps: int) -> list:
        """n_steps gradient steps on `batches` (numpy arrays of the learner's step_spec with a leading axis of n_steps,
        one a step, or of 1, repeated), by this trainer's path. Returns the learner's losses as Python floats: each
        step on its own batch, their mean per compiled call (one for the fused paths, one a step for the per-step
        path); one batch repeated, the first step's alone. [] when n_steps is 0."""
        if n_steps <= 0:
            return []
        k = len(batches[0])
        if k not in (1, n_steps):
            raise ValueError(f"{k} batches for {n_steps} steps: give one a step, or one for all")
        if self.path in ("fused", "batches"):
            union = self.path == "batches"
            if union:
                batches = gather(batches)
            if k == n_steps:
                return [_floats((self.fused_union if union else self.fused)(batches))]
            return [_floats((self.fused_union_repeat if union else self.fused_repeat)(batches, np.int32(n_steps)))]
        steps = [type(batches)(*[x[i % k] for x in batches]) for i in range(n_steps)]
        out = [self.step_one(b) for b in steps] if self.one_at_a_time else self.pipelined(steps)
        return out if k == n_steps else out[:1]

    def step_one(self, batch):
        """One step with the gradients averaged over ranks, after the learner's before_step (also right for one rank)."""
        if self.one_at_a_time:
            self.learner.before_step(batch)
        losses, g = self.compute_grads(batch)
        self.apply_grads(mpi.allreduce_mean(g.numpy()))
        return _floats(losses)

    def pipelined(self, steps: list) -> list:
        """len(steps) steps with the gradients averaged over ranks, in len(steps) + 1 compiled calls."""
        losses, g = self.compute_grads(steps[0])
        out = [_floats(losses)]
        for b in steps[1:]:
            losses, g = self.apply_then_grads(mpi.allreduce_mean(g.numpy()), b)
            out.append(_floats(losses))
        self.apply_grads(mpi.allreduce_mean(g.numpy()))
        return out


def _floats(losses):
    """A NamedTuple of scalar tensors -> the same NamedTuple of Python floats."""
    return type(losses)(*[float(x) for x in losses])
