"""Exploration noise of baselines DDPG.

Additive action noise is applied by the numpy rollout policy, outside compiled code; parameter noise has its own
module (param_noise), which takes its spec from here.

Noise strings (baselines `main.py`): 'none', 'normal_X', 'ou_X', 'adaptive-param_X', comma-combined, e.g.
'adaptive-param_0.2,normal_0.1'. Parsed without eval into typed specs; bad strings raise NoiseSpecError.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


class NoiseSpecError(ValueError):
    """A noise string that does not parse (unknown kind, bad number, a kind given twice)."""
    pass


@dataclass(frozen=True)
class ActionNoiseSpec:
    """Additive action noise: 'normal' N(0, sigma^2) or Ornstein-Uhlenbeck 'ou' with baselines' theta and dt."""
    kind: str  # 'normal' | 'ou'
    sigma: float
    theta: float = 0.15  # OU mean reversion (baselines)
    dt: float = 1e-2  # OU time step (baselines)


@dataclass(frozen=True)
class ParamNoiseSpec:
    """Adaptive parameter noise: starting stddev, target action distance, and the factor of each adaptation."""
    initial_stddev: float  # starting weight-perturbation stddev
    desired_action_stddev: float  # target distance between perturbed and clean actions
    adoption_coefficient: float = 1.01  # stddev is multiplied / divided by this at each adaptation


@dataclass(frozen=True)
class NoiseSpecs:
    """The parsed noise string: at most one action noise and one parameter noise (None where absent)."""
    action: Optional[ActionNoiseSpec] = None
    param: Optional[ParamNoiseSpec] = None


def parse_noise_type(noise_type: str) -> NoiseSpecs:
    """Parse a baselines noise string ('none', 'normal_X', 'ou_X', 'adaptive-param_X', comma-combined) into specs."""
    action, param = None, None
    parts = [p.strip() for p in str(noise_type).split(",")]
    for part in parts:
        if part == "none":
            continue
        name, sep, value = part.rpartition("_")
        if not sep or name not in ("normal", "ou", "adaptive-param"):
            raise NoiseSpecError(
                f"unknown noise type {part!r}: use none, normal_X, ou_X or adaptive-param_X (comma-combined)"
            )
        try:
            x = float(value)
        except ValueError:
            raise NoiseSpecError(f"noise type {part!r}: {value!r} is not a number") from None
        if not np.isfinite(x) or x <= 0:
            raise NoiseSpecError(f"noise type {part!r}: the stddev must be a positive number")
        if name == "adaptive-param":
            if param is not None:
                raise NoiseSpecError("noise type: adaptive-param given twice")
            param = ParamNoiseSpec(initial_stddev=x, desired_action_stddev=x)
        else:
            if action is not None:
                raise NoiseSpecError("noise type: only one of normal_X / ou_X may be given")
            action = ActionNoiseSpec(kind=name, sigma=x)
    return NoiseSpecs(action=action, param=param)


class ActionNoise:
    """Additive action noise for the (numpy) rollout policy, drawn from the rank's own seeded Generator.

    It runs outside compiled code, so every call draws fresh noise (the baselines TF2 branch called numpy noise
    inside a tf.function, which froze it into a constant at trace time).
    """

    def __init__(self, spec: ActionNoiseSpec, act_dim: int, rng: np.random.Generator):
        self.spec = spec
        self.sigma = np.full(act_dim, spec.sigma, np.float64)
        self.rng = rng
        self.state = np.zeros(act_dim, np.float64)

    def __call__(self) -> np.ndarray:  # [A]
        """One draw of noise [A] (float32); OU advances its state."""
        eps = self.rng.standard_normal(self.sigma.shape)
        if self.spec.kind == "normal":
            return (self.sigma * eps).astype(np.float32)
        s = self.spec  # Ornstein-Uhlenbeck around 0 (baselines OrnsteinUhlenbeckActionNoise)
        self.state = self.state + s.theta * (0.0 - self.state) * s.dt + self.sigma * np.sqrt(s.dt) * eps
        return self.state.astype(np.float32)

    def reset(self) -> None:
        """Set the OU state back to 0 (at each episode end)."""
        self.state = np.zeros_like(self.state)
