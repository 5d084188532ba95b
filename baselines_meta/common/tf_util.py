"""TF helpers every learner uses (one copy each): the optimiser, copying and restoring variables."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras


def make_adam(lr: float) -> tf_keras.optimizers.Adam:
    """Adam with baselines' betas and epsilon (0.9, 0.999, 1e-8)."""
    return tf_keras.optimizers.Adam(learning_rate=lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def copy_variables(src: list[tf.Variable], dst: list[tf.Variable]) -> None:
    """dst <- src, pairwise (a target network's start)."""
    for s, d in zip(src, dst, strict=True):
        d.assign(s)


def assign_all(variables: list[tf.Variable], values: list[np.ndarray]) -> None:
    """Restore saved values, refusing any count or shape mismatch (a checkpoint of another configuration)."""
    if len(variables) != len(values):
        raise ValueError(f"checkpoint holds {len(values)} arrays where this configuration has {len(variables)} variables")
    for v, x in zip(variables, values, strict=True):
        if tuple(v.shape) != tuple(np.shape(x)):
            raise ValueError(f"checkpoint shape {np.shape(x)} does not match variable {v.name} {tuple(v.shape)}")
        v.assign(x)
