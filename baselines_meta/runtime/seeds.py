"""A rank's seeds: independent streams per purpose from one seed (numpy SeedSequence children), and the four numpy
Generators a run draws from, checkpointed with it."""
from __future__ import annotations

import numpy as np

# SeedSequence children are keyed by their index: a purpose added at the end leaves the others' streams as they were
PURPOSES = ("train", "eval", "d1", "replay", "noise", "teacher", "meta", "pi", "branch")
RNG_NAMES = ("replay", "noise", "teacher", "meta", "branch")  # the numpy Generators of a run, checkpointed


class Seeds:
    """The seed streams of one rank (seed: the rank's seed, `seed + 1000000 * rank`).

    replay: minibatch sampling; noise: action noise; teacher: the teacher's Gaussian samples; meta: reset seeds of the
    rollouts behind R_pi and R_pi', placebo signs; branch: the steps --teacher_start student branches from.
    env_seed(purpose) seeds an env (train, eval, d1, pi) or a learner's own generator (noise)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._seq = dict(zip(PURPOSES, np.random.SeedSequence(seed).spawn(len(PURPOSES))))
        self.replay = np.random.default_rng(self._seq["replay"])
        self.noise = np.random.default_rng(self._seq["noise"])
        self.teacher = np.random.default_rng(self._seq["teacher"])
        self.meta = np.random.default_rng(self._seq["meta"])
        self.branch = np.random.default_rng(self._seq["branch"])

    def env_seed(self, purpose: str) -> int:
        """The seed of `purpose`'s own stream (an env's reset seed, or a learner's generator)."""
        return int(self._seq[purpose].generate_state(1)[0])

    def get_state(self) -> dict:
        """The four numpy Generators' states, for the checkpoint."""
        return {n: getattr(self, n).bit_generator.state for n in RNG_NAMES}

    def set_state(self, st: dict) -> None:
        """Restore the Generators' states `get_state` gave."""
        for n in RNG_NAMES:
            if n in st:  # (a checkpoint from before a stream existed leaves it fresh)
                getattr(self, n).bit_generator.state = st[n]
