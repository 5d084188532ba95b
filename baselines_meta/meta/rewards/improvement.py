"""`--teacher_reward improvement` (Algorithm 1, the default): the teacher gets Delta = R_pi' - R_pi, with the
estimators of R of --meta_reward, standardised by --meta_reward_norm (meta.reward.MetaRewardShaper), times a random
sign under --meta_reward_placebo."""
from __future__ import annotations

from baselines_meta.meta.reward import MetaRewardShaper


class Improvement:
    """Delta through the shaper."""

    def __init__(self, cfg, rng):
        s = cfg.schedule
        self.shaper = MetaRewardShaper(s.meta_reward_norm, s.nb_epoch_cycles, s.meta_reward_placebo, rng)

    def __call__(self, delta: float, signals: dict) -> float:
        """What the teacher's step gets for this cycle's D0."""
        return self.shaper(delta)

    def get_state(self) -> dict:
        return self.shaper.get_state()

    def set_state(self, st: dict) -> None:
        self.shaper.set_state(st)
