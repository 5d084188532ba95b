"""`--teacher_start reset` (Algorithm 1): the teacher's D0 episodes start from the env's own resets."""
from __future__ import annotations

from typing import Optional


class ResetStart:
    """D0 from the teacher's env as it goes, resetting at each episode's end; records nothing."""

    absent_from_old_checkpoints = True  # (runs checkpointed before --teacher_start existed)

    def __init__(self, cfg):
        pass

    def tape_for_pi(self) -> Optional[object]:
        return None

    def tape_for_d1(self) -> Optional[object]:
        return None

    def keep(self, tape) -> None:
        pass

    def collect(self, runner, n: int, act, rng) -> tuple:
        """n steps of the teacher on its env: (the rollout, no branch depths)."""
        return runner.run(n, act), []

    def get_state(self) -> dict:
        return {"tape": None}

    def set_state(self, st: dict) -> None:
        pass
