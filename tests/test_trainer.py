"""common.trainer.Trainer through its protocol alone: a toy learner (least squares, plain gradient descent) checked by
hand in numpy, so the trainer cannot be asking which learner it holds."""
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from baselines_meta.common.trainer import Trainer

LR = 0.1


class Rows(NamedTuple):
    x: tf.Tensor  # [B, D]
    y: tf.Tensor  # [B]


class Loss(NamedTuple):
    mse: tf.Tensor


class Toy(tf.Module):
    """Least squares: loss mean (x w - y)^2, w <- w - LR g."""

    Losses = Loss

    def __init__(self, d: int, before_step=None):
        super().__init__()
        self.w = tf.Variable(np.zeros(d, np.float32))
        self.step_spec = Rows(tf.TensorSpec([None, d]), tf.TensorSpec([None]))
        self.before_step = before_step

    def trained_variables(self):
        return [self.w]

    def losses_and_grads(self, b: Rows):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.linalg.matvec(b.x, self.w) - b.y))
        return Loss(loss), tape.gradient(loss, [self.w])

    def union_losses_and_grads(self, b: Rows):  # a mean over rows: the union's rows at once
        return self.losses_and_grads(Rows(tf.reshape(b.x, [-1, b.x.shape[-1]]), tf.reshape(b.y, [-1])))

    def apply_gradients(self, grads):
        self.w.assign_sub(LR * grads[0])


def by_hand(w, batches, n_steps):
    """(w after n_steps, the losses) of gradient descent, step i on batch i % K'."""
    losses = []
    for i in range(n_steps):
        x, y = (b[i % len(batches[0])].astype(np.float64) for b in batches)
        r = x @ w - y
        losses.append(np.mean(r ** 2))
        w = w - LR * 2 * x.T @ r / len(y)
    return w, losses


def data(k, b, d=3, seed=0):
    q = np.random.default_rng(seed)
    return Rows(q.normal(size=(k, b, d)).astype(np.float32), q.normal(size=(k, b)).astype(np.float32))


def test_fused_steps_match_gradient_descent_by_hand():
    toy = Toy(3)
    t = Trainer(toy)
    assert t.path == "fused" and t.n_params == 3
    batches = data(4, 8)
    ran = t.run(batches, 4)
    w, losses = by_hand(np.zeros(3), batches, 4)
    np.testing.assert_allclose(toy.w.numpy(), w, rtol=1e-5)
    assert len(ran) == 1 and ran[0].mse == pytest.approx(np.mean(losses), rel=1e-5)  # each its batch: the mean
    # one batch given, six steps: the same batch every step (the teacher's D0), and the loss before them
    toy2 = Toy(3)
    one = data(1, 8, seed=1)
    ran = Trainer(toy2).run(one, 6)
    w, losses = by_hand(np.zeros(3), one, 6)
    np.testing.assert_allclose(toy2.w.numpy(), w, rtol=1e-5)
    assert len(ran) == 1 and ran[0].mse == pytest.approx(losses[0], rel=1e-5)
    assert t.run(batches, 0) == []


def test_union_is_the_mean_of_the_ranks_gradients():
    """Every rank's batches [K, N, B, ...]: each step applies the mean over ranks (here the union of the rows)."""
    toy = Toy(3)
    t = Trainer(toy)
    union = Rows(data(2, 6, seed=2).x.reshape(2, 3, 2, 3), data(2, 6, seed=2).y.reshape(2, 3, 2))
    t.fused_union(union)
    w = np.zeros(3)
    for i in range(2):
        g = []
        for r in range(3):
            x, y = union.x[i, r].astype(np.float64), union.y[i, r].astype(np.float64)
            g.append(2 * x.T @ (x @ w - y) / len(y))
        w = w - LR * np.mean(g, axis=0)
    np.testing.assert_allclose(toy.w.numpy(), w, rtol=1e-5)


def test_per_step_paths_and_the_hook_that_forces_them():
    seen = []
    toy = Toy(3, before_step=lambda b: seen.append(float(b.y[0])))
    t = Trainer(toy)
    assert t.path == "grads" and t.one_at_a_time
    batches = data(3, 5, seed=3)
    ran = t.run(batches, 3)
    assert seen == [float(batches.y[i][0]) for i in range(3)]  # before every step, on its batch
    w, losses = by_hand(np.zeros(3), batches, 3)
    np.testing.assert_allclose(toy.w.numpy(), w, rtol=1e-5)
    assert [m.mse for m in ran] == pytest.approx(losses, rel=1e-5)  # one a step
    # the pipelined per-step path (apply step k, then take step k + 1's gradient in one call) is the same arithmetic
    toy2 = Toy(3)
    t2 = Trainer(toy2, exchange="grads")
    out = t2.pipelined([Rows(batches.x[i], batches.y[i]) for i in range(3)])
    np.testing.assert_allclose(toy2.w.numpy(), w, rtol=1e-5)
    assert [m.mse for m in out] == pytest.approx(losses, rel=1e-5)


def test_each_compiled_step_is_traced_once():
    t = Trainer(Toy(3))
    t.run(data(4, 8), 4)
    t.run(data(7, 5), 7)  # other K, B: the same trace
    assert t.fused.experimental_get_tracing_count() == 1
    t.run(data(1, 8), 3)
    t.run(data(1, 5), 9)  # one batch repeated, other B and n_steps: the same trace
    assert t.fused_repeat.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="2 batches for 7 steps"):
        t.run(data(2, 5), 7)
    t.fused_union(Rows(np.zeros((1, 2, 4, 3), np.float32), np.zeros((1, 2, 4), np.float32)))
    t.fused_union(Rows(np.zeros((2, 3, 5, 3), np.float32), np.zeros((2, 3, 5), np.float32)))
    assert t.fused_union.experimental_get_tracing_count() == 1
