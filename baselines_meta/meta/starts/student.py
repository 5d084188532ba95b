"""`--teacher_start student`: each D0 episode starts from a state of this cycle's R_pi rollout of the student (under
--meta_baseline previous: the last D1), at a step drawn uniformly, restored exactly (runtime.branching)."""
from __future__ import annotations

from typing import Optional

from baselines_meta.runtime.branching import Tape, run_branched


class StudentStart:
    """The tape of the student's rollout the next D0 branches from. It crosses a cycle boundary only under
    --meta_baseline previous (the last D1's), so only then is it checkpointed."""

    absent_from_old_checkpoints = True  # (runs checkpointed before --teacher_start existed branch from nothing)

    def __init__(self, cfg):
        self.across_cycles = cfg.schedule.meta_baseline == "previous"
        self.tape: Optional[Tape] = None

    def tape_for_pi(self) -> Optional[Tape]:
        """The R_pi rollout is recorded: the next D0 branches from it."""
        return Tape()

    def tape_for_d1(self) -> Optional[Tape]:
        """Under 'previous' the next D0 branches from this D1 (there is no fresh R_pi rollout)."""
        return Tape() if self.across_cycles else None

    def keep(self, tape: Optional[Tape]) -> None:
        if tape is not None:
            self.tape = tape

    def collect(self, runner, n: int, act, rng) -> tuple:
        """n steps of the teacher in episodes branched from the kept tape: (the rollout, each branch's depth)."""
        return run_branched(runner, n, act, self.tape, rng)

    def get_state(self) -> dict:
        """The tape for the checkpoint, when the next cycle needs it."""
        return {"tape": self.tape.get_state() if self.across_cycles and self.tape is not None else None}

    def set_state(self, st: dict) -> None:
        """Restore the tape `get_state` gave."""
        if st.get("tape") is not None:
            self.tape = Tape()
            self.tape.set_state(st["tape"])
