"""One episode on a gymnasium env: the one episode loop behind evaluation, `--play` and the random-policy return of the
aggregate (the training rollouts, which continue across calls, are runtime.envs.EnvRunner's)."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np


def episode(env, action: Callable[[np.ndarray], np.ndarray], seed: Optional[int] = None,
            on_obs: Optional[Callable[[np.ndarray], None]] = None, on_step: Optional[Callable[[], None]] = None) -> float:
    """The return of one episode from env.reset(seed=seed) (seed None: the env's own stream goes on).

    action(obs [O] float32) -> the env's action; on_obs(obs) sees each observation acted on; on_step() runs after
    each step (a video frame)."""
    obs, _ = env.reset() if seed is None else env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs = np.asarray(obs, np.float32)
        if on_obs is not None:
            on_obs(obs)
        obs, r, te, tr, _ = env.step(action(obs))
        total += float(r)
        done = te or tr
        if on_step is not None:
            on_step()
    return total
