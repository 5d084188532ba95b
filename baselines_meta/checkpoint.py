"""Atomic per-rank checkpoints of a whole run (Dopamine `checkpointer.py` habit: write, fsync, rename).

<log_dir>/checkpoints/rank<r>.pkl holds one pickle stream: a small header {steps, epoch, time} and then the state.
The previous generation is kept as rank<r>.prev.pkl, so that when a job dies between two ranks' renames, resume
still finds a step that every rank has (the newest common one). A half-written file is only ever a *.tmp.
"""
from __future__ import annotations

import os
import pickle
import time
from typing import Optional

from baselines_meta import mpi


class CheckpointError(RuntimeError):
    pass


class Checkpointer:
    def __init__(self, log_dir: str, rank: int):
        self.dir = os.path.join(log_dir, "checkpoints")
        self.rank = rank
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, gen: str) -> str:
        return os.path.join(self.dir, f"rank{self.rank}{gen}.pkl")

    def save(self, steps: int, epoch: int, state: dict) -> str:
        cur, prev, tmp = self._path(""), self._path(".prev"), self._path(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"steps": steps, "epoch": epoch, "time": time.time()}, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(cur):
            os.replace(cur, prev)
        os.replace(tmp, cur)
        return cur

    def _header(self, path: str) -> Optional[dict]:
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError):
            return None

    def load_common(self) -> Optional[dict]:
        """The newest checkpoint whose step every rank holds (collective); None if there is none."""
        mine = {}
        for gen in ("", ".prev"):
            h = self._header(self._path(gen))
            if h is not None:
                mine[h["steps"]] = gen
        allsteps = mpi.gather(sorted(mine))
        common = set(allsteps[0]).intersection(*map(set, allsteps[1:])) if allsteps else set()
        if not common:
            if any(allsteps):
                raise CheckpointError("the ranks' checkpoints share no step; cannot resume this run consistently")
            return None
        steps = max(common)
        with open(self._path(mine[steps]), "rb") as f:
            header = pickle.load(f)
            state = pickle.load(f)
        return {"header": header, "state": state}

    def exists(self) -> bool:
        return any(os.path.exists(self._path(g)) for g in ("", ".prev"))
