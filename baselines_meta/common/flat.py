"""Flattening a list of arrays into one vector and back: the one home of it for gradients (MPI exchange), weight
broadcasts and the compiled apply steps. Works on numpy arrays and, inside compiled code, on TF tensors."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _is_tf(x) -> bool:
    return type(x).__module__.startswith("tensorflow")


def flatten(xs: Sequence):
    """[a_1 (shape s_1), ...] -> one vector of sum(prod(s_i)) values (float32 for numpy inputs)."""
    if xs and _is_tf(xs[0]):
        import tensorflow as tf

        return tf.concat([tf.reshape(x, [-1]) for x in xs], 0)
    return np.concatenate([np.asarray(x, dtype=np.float32).ravel() for x in xs]) if xs else np.zeros(0, np.float32)


def unflatten(vec, shapes: Sequence[tuple]) -> list:
    """The inverse of flatten: vec [sum(prod(s_i))] -> [shape s_1, ...]."""
    if _is_tf(vec):
        import tensorflow as tf

        reshape = tf.reshape
    else:
        reshape = np.reshape
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(reshape(vec[i : i + n], s))
        i += n
    return out


def size(shapes: Sequence[tuple]) -> int:
    """Length of the flat vector of arrays of these shapes."""
    return sum(int(np.prod(s)) for s in shapes)
