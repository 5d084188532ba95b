"""Atomic per-rank checkpoints of a whole run (Dopamine `checkpointer.py` habit: write, fsync, rename).

<log_dir>/checkpoints/rank<r>.pkl holds one pickle stream: a small header {steps, epoch, time} and then the state.
The previous generation is kept as rank<r>.prev.pkl, so that when a job dies between two ranks' renames, resume
still finds a step that every rank has (the newest common one). A half-written file is only ever a *.tmp.

The replay buffer is not in the pickle: rewriting up to 10^6 transitions (100-170 MB) at every epoch cost 0.3-0.5 s
per checkpoint (a third of a Hopper epoch) and a second copy of the buffer in memory. Instead ReplayLog appends the
transitions added since the previous checkpoint to rank<r>.replay/ as one segment file, and the pickle records how
many transitions the buffer had seen; segments no checkpoint can need any more are deleted.
"""
from __future__ import annotations

import os
import pickle
import re
import time
from typing import Optional

import numpy as np

from baselines_meta import mpi
from baselines_meta.replay import ReplayBuffer


class CheckpointError(RuntimeError):
    pass


def _write_synced(path: str, write) -> None:
    """write(f) into path, flushed to disk before returning."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _write_atomic(path: str, write) -> None:
    _write_synced(path + ".tmp", write)
    os.replace(path + ".tmp", path)


class ReplayLog:
    """The replay buffer on disk as append-only segments seg-<start>-<stop>.npz of global rows [start, stop).

    save() writes the rows added since the last save and returns {"total": rows ever added}; restore(meta) reads back
    the last min(total, capacity) rows into an empty buffer. Segments are written (atomically) before the checkpoint
    that refers to them is renamed into place; a segment of a checkpoint that never landed starts at or after the
    restored total and is deleted on restore.
    """

    _NAME = re.compile(r"^seg-(\d+)-(\d+)\.npz$")

    def __init__(self, directory: str, buffer: ReplayBuffer):
        self.dir, self.buffer = directory, buffer
        os.makedirs(directory, exist_ok=True)
        self.saved = 0  # rows [0, saved) are on disk (or no longer needed)

    def segments(self) -> list[tuple[int, int, str]]:
        out = []
        for name in os.listdir(self.dir):
            m = self._NAME.match(name)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), os.path.join(self.dir, name)))
        return sorted(out)

    def save(self) -> dict:
        b = self.buffer
        start = max(self.saved, b.total - b.size)  # rows overwritten in the ring since the last save are not needed
        if b.total > start:
            rows = b.rows(start, b.total)
            _write_atomic(os.path.join(self.dir, f"seg-{start}-{b.total}.npz"), lambda f: np.savez(f, **rows))
        self.saved = b.total
        return {"total": b.total}

    def first_needed(self, meta: Optional[dict]) -> int:
        """The oldest row a checkpoint with this meta needs."""
        return 0 if meta is None else max(0, meta["total"] - self.buffer.capacity)

    def prune(self, keep_from: int) -> None:
        """Delete segments whose rows all lie before keep_from."""
        for _, stop, path in self.segments():
            if stop <= keep_from:
                os.remove(path)

    def restore(self, meta: dict) -> None:
        b = self.buffer
        total = int(meta["total"])
        need = self.first_needed(meta)
        at = need
        for start, stop, path in self.segments():
            if start >= total:  # written for a checkpoint that was never renamed into place
                os.remove(path)
                continue
            if stop <= need:
                continue
            if start > at:
                raise CheckpointError(f"replay segments in {self.dir} miss rows [{at}, {start}); cannot resume")
            with np.load(path) as z:
                lo, hi = max(start, need), min(stop, total)
                b.put_rows(lo, {k: z[k][lo - start : hi - start] for k in b.FIELDS})
            at = max(at, hi)
        if at < total:
            raise CheckpointError(f"replay segments in {self.dir} miss rows [{at}, {total}); cannot resume")
        b.set_counters(total)
        self.saved = total


class Checkpointer:
    def __init__(self, log_dir: str, rank: int):
        self.dir = os.path.join(log_dir, "checkpoints")
        self.rank = rank
        os.makedirs(self.dir, exist_ok=True)
        self.replay: Optional[ReplayLog] = None
        self._metas: list[Optional[dict]] = [None, None]  # replay meta of the previous and the current checkpoint

    def track_replay(self, buffer: ReplayBuffer, meta: Optional[dict] = None) -> None:
        """Keep `buffer` in rank<r>.replay/ with every checkpoint; with meta (resuming), restore it from there first."""
        self.replay = ReplayLog(os.path.join(self.dir, f"rank{self.rank}.replay"), buffer)
        if meta is not None:
            self.replay.restore(meta)
            self._metas = [meta, meta]

    def _path(self, gen: str) -> str:
        return os.path.join(self.dir, f"rank{self.rank}{gen}.pkl")

    def save(self, steps: int, epoch: int, state: dict) -> str:
        cur, prev, tmp = self._path(""), self._path(".prev"), self._path(".tmp")
        if self.replay is not None:
            state = {**state, "replay": self.replay.save()}

        def write(f):
            pickle.dump({"steps": steps, "epoch": epoch, "time": time.time()}, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)

        _write_synced(tmp, write)
        if os.path.exists(cur):
            os.replace(cur, prev)
        os.replace(tmp, cur)
        if self.replay is not None:  # the new checkpoint and the one now in .prev must stay restorable
            self._metas = [self._metas[1], state["replay"]]
            self.replay.prune(min(self.replay.first_needed(m) for m in self._metas))
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
        if mine[steps] == ".prev":  # this rank got one step further than another: that checkpoint is void
            os.replace(self._path(".prev"), self._path(""))
        return {"header": header, "state": state}

    def exists(self) -> bool:
        return any(os.path.exists(self._path(g)) for g in ("", ".prev"))
