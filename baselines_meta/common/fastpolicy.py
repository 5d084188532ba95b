"""Numpy forward passes of the policies for the env loop.

A compiled TF call costs ~0.5 ms per env step on this CPU, about ten times the step of a small MuJoCo env; a numpy
forward pass of a 64-64 MLP costs ~20 us. The learner's weights are snapshotted once after each training call
(and after each perturbation / normaliser update), and acting reads the snapshot. Tests check that the numpy path
gives the same actions as the Keras networks on the same weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # no TF import here: `--play` runs on these classes alone
    from baselines_meta.common.networks import Actor, MLPTrunk


class NumpyTrunk:
    """Dense -> LayerNorm -> ReLU stack of an MLPTrunk, with the optional second-layer input."""

    def __init__(self, trunk: Optional["MLPTrunk"]):
        self.trunk = trunk
        if trunk is not None:
            self.refresh()

    def arrays(self, prefix: str) -> dict:
        """The trunk's kernels, biases and LayerNorm parameters as named arrays, for a saved policy's .npz."""
        out = {}
        for i, (k, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            out[f"{prefix}kernel_{i}"], out[f"{prefix}bias_{i}"] = k, b
        for i, (g, be, eps) in enumerate(self.norms):
            out[f"{prefix}gamma_{i}"], out[f"{prefix}beta_{i}"], out[f"{prefix}eps_{i}"] = g, be, np.float64(eps)
        return out

    @classmethod
    def from_arrays(cls, z, prefix: str) -> "NumpyTrunk":
        """A trunk with no Keras layer behind it, from the arrays `arrays(prefix)` wrote (a saved policy)."""
        t = cls(None)
        n = len([k for k in z if k.startswith(f"{prefix}kernel_")])
        t.kernels = [np.asarray(z[f"{prefix}kernel_{i}"], np.float64) for i in range(n)]
        t.biases = [np.asarray(z[f"{prefix}bias_{i}"], np.float64) for i in range(n)]
        t.norms = [(np.asarray(z[f"{prefix}gamma_{i}"], np.float64), np.asarray(z[f"{prefix}beta_{i}"], np.float64),
                    float(z[f"{prefix}eps_{i}"])) for i in range(n) if f"{prefix}gamma_{i}" in z]
        return t

    def refresh(self) -> None:
        """Snapshot the Keras trunk's current weights as float64 arrays."""
        t = self.trunk
        self.kernels = [d.kernel.numpy().astype(np.float64) for d in t.denses]
        self.biases = [d.bias.numpy().astype(np.float64) for d in t.denses]
        self.norms = [(n.gamma.numpy().astype(np.float64), n.beta.numpy().astype(np.float64), n.epsilon) for n in t.norms]

    def __call__(self, x: np.ndarray) -> np.ndarray:  # [..., O] -> [..., H]
        """The forward pass: x [..., O] -> features [..., H]."""
        # ufunc reductions instead of x.mean(): np.mean's Python wrapper costs more than the math at this size
        for i, (k, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            x = x @ k + b
            if self.norms:
                g, be, eps = self.norms[i]
                inv_n = 1.0 / x.shape[-1]
                d = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_n
                v = np.add.reduce(d * d, axis=-1, keepdims=True) * inv_n
                x = d / np.sqrt(v + eps) * g + be
            x = np.maximum(x, 0.0)
        return x


class NumpyHead:
    """Output Dense layer followed by tanh (actor, teacher mean) or identity."""

    def __init__(self, dense, tanh: bool):
        self.dense, self.tanh = dense, tanh
        if dense is not None:
            self.refresh()

    def arrays(self, prefix: str) -> dict:
        """The output layer's kernel and bias as named arrays, for a saved policy's .npz."""
        return {f"{prefix}out_kernel": self.k, f"{prefix}out_bias": self.b}

    @classmethod
    def from_arrays(cls, z, prefix: str, tanh: bool) -> "NumpyHead":
        """A head with no Keras layer behind it, from the arrays `arrays(prefix)` wrote (a saved policy)."""
        h = cls(None, tanh)
        h.k, h.b = np.asarray(z[f"{prefix}out_kernel"], np.float64), np.asarray(z[f"{prefix}out_bias"], np.float64)
        return h

    def refresh(self) -> None:
        """Snapshot the Keras Dense layer's current kernel and bias as float64 arrays."""
        self.k = self.dense.kernel.numpy().astype(np.float64)
        self.b = self.dense.bias.numpy().astype(np.float64)

    def __call__(self, h: np.ndarray) -> np.ndarray:
        """h [..., H] -> y [..., A], tanh-squashed if `tanh`."""
        y = h @ self.k + self.b
        return np.tanh(y) if self.tanh else y


class NumpyActor:
    """mu(s) of an Actor in numpy: unit-box actions from already normalised observations."""

    def __init__(self, actor: Optional["Actor"]):
        if actor is not None:
            self.trunk = NumpyTrunk(actor.trunk)
            self.head = NumpyHead(actor.out, tanh=True)

    def arrays(self, prefix: str) -> dict:
        """The trunk's and head's weights as named arrays, for a saved policy's .npz."""
        return {**self.trunk.arrays(prefix), **self.head.arrays(prefix)}

    @classmethod
    def from_arrays(cls, z, prefix: str) -> "NumpyActor":
        """An actor with no Keras model behind it, from the arrays `arrays(prefix)` wrote (a saved policy)."""
        a = cls(None)
        a.trunk, a.head = NumpyTrunk.from_arrays(z, prefix), NumpyHead.from_arrays(z, prefix, tanh=True)
        return a

    def refresh(self) -> None:
        """Snapshot the Keras actor's current weights (after a training call or a perturbation)."""
        self.trunk.refresh()
        self.head.refresh()

    def __call__(self, nobs: np.ndarray) -> np.ndarray:
        """Normalised obs [N, O] -> unit-box actions [N, A]."""
        return self.head(self.trunk(nobs))


class NumpyNormalizer:
    """clip((obs - mean) / std, -c, c) with a snapshot of the RunningMeanStd; clip(obs, -c, c) when it is None
    (normalisation off: baselines still clips raw observations to its observation range)."""

    def __init__(self, rms, clip: float, mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None):
        """rms: a RunningMeanStd to snapshot; or rms=None with fixed mean / std arrays (a saved policy)."""
        self.rms, self.clip = rms, clip
        self.fixed = mean is not None
        if self.fixed:
            self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self.refresh()

    def refresh(self) -> None:
        """Snapshot the RunningMeanStd's current mean and std (no-op for fixed arrays or no normaliser)."""
        if self.rms is not None:
            self.mean = self.rms.mean.numpy().astype(np.float64)
            self.std = self.rms.std.numpy().astype(np.float64)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Raw obs [..., O] -> normalised and clipped obs [..., O] (float64)."""
        if self.rms is None and not self.fixed:
            return np.minimum(np.maximum(np.asarray(obs, np.float64), -self.clip), self.clip)
        return np.minimum(np.maximum((obs - self.mean) / self.std, -self.clip), self.clip)
