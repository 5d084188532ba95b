"""Atomic per-rank checkpoints of a whole run (Dopamine `checkpointer.py` habit: write, fsync, rename).

<log_dir>/checkpoints/rank<r>.pkl holds a small pickled header {steps, epoch, time, sha256, size} and then the
pickled state, whose length and SHA-256 the header carries: a truncated or damaged file is recognised as such on
--resume, set aside as rank<r>.pkl.corrupt, and the run falls back to the previous generation, rank<r>.prev.pkl.
That generation also covers a job that died between two ranks' renames: resume takes the newest step that every rank
can restore. A half-written file is only ever a *.tmp, which resume removes.

The replay buffer is not in the pickle: rewriting up to 10^6 transitions (100-170 MB) at every epoch cost 0.3-0.5 s
per checkpoint (a third of a Hopper epoch) and a second copy of the buffer in memory. Instead ReplayLog appends the
transitions added since the previous checkpoint to rank<r>.replay/ as one segment file (the same header and checksum,
then an .npz), and the pickle records how many transitions the buffer had seen; segments no checkpoint can need any
more are deleted.

Checkpoints are pickles: loading one runs whatever code it names. Resume only runs you made yourself.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import sys
import time
from typing import NamedTuple, Optional

import numpy as np

from baselines_meta.common import mpi
from baselines_meta.common.replay import ReplayBuffer
from baselines_meta.storage import faults


class CheckpointError(RuntimeError):
    """The run's checkpoints cannot be resumed (exit code 2)."""

    def __init__(self, message: str, all_ranks: bool = False):
        super().__init__(message)
        self.all_ranks = all_ranks  # every MPI rank raised it together: rank 0 alone reports it


class CorruptFile(CheckpointError):
    """A checkpoint or replay segment that cannot be used: truncated, damaged, unreadable or missing rows."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _framed(header: dict, payload) -> list:
    """A file's parts: the pickled header, carrying the payload's length and SHA-256, then the payload."""
    header = {**header, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    return [pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL), payload]


def _read_framed(path: str) -> tuple[dict, bytes]:
    """(header, payload) of a file written from _framed, checked against its header; CorruptFile otherwise."""
    try:
        with open(path, "rb") as f:
            header = pickle.load(f)
            payload = f.read()
    except OSError as e:
        raise CorruptFile(path, f"cannot be read ({faults.describe(e)})") from None
    except Exception as e:  # garbage makes the unpickler fail in many ways
        raise CorruptFile(path, f"its header does not unpickle ({type(e).__name__})") from None
    if not isinstance(header, dict) or "sha256" not in header:
        raise CorruptFile(path, "its header has no checksum (written by an older baselines_meta)")
    if len(payload) < header["size"]:
        raise CorruptFile(path, f"truncated: {len(payload)} of {header['size']} payload bytes")
    if len(payload) > header["size"]:
        raise CorruptFile(path, f"{len(payload) - header['size']} bytes longer than its header says")
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise CorruptFile(path, "its payload does not match the checksum in its header")
    return header, payload


def _write_synced(path: str, parts: list) -> None:
    """parts into path, flushed to disk before returning."""
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)
        f.flush()
        os.fsync(f.fileno())


# Modules the redesign moved (old path -> new): a checkpoint written before it names classes by their old paths.
MOVED = {f"baselines_meta.{old}": f"baselines_meta.{new}" for old, new in (
    ("loop", "runtime.loop"), ("stats", "runtime.stats"), ("evaluation", "runtime.evaluation"), ("envs", "runtime.envs"),
    ("training", "runtime.context"), ("policy_io", "runtime.policy_io"), ("replay", "common.replay"),
    ("normalizer", "common.normalizer"), ("networks", "common.networks"), ("fastpolicy", "common.fastpolicy"),
    ("mpi", "common.mpi"), ("exchange", "common.exchange"), ("noise", "ddpg.noise"), ("param_noise", "ddpg.param_noise"),
    ("checkpoint", "storage.checkpoint"), ("logger", "storage.logger"), ("faults", "storage.faults"),
    ("rundir", "storage.rundir"))}


class _Unpickler(pickle.Unpickler):
    """Reads checkpoints of every version: classes under a moved module's old path are looked up at the new one."""

    def find_class(self, module: str, name: str):
        return super().find_class(MOVED.get(module, module), name)


def read_checkpoint(path: str) -> tuple[dict, dict]:
    """(header, state) of one checkpoint file, verified; CorruptFile otherwise."""
    header, payload = _read_framed(path)
    try:
        return header, _Unpickler(io.BytesIO(payload)).load()
    except Exception as e:
        raise CorruptFile(path, f"its payload does not unpickle ({type(e).__name__})") from None


_SEGMENT = re.compile(r"^seg-(\d+)-(\d+)\.npz$")


def list_segments(directory: str) -> list[tuple[int, int, str]]:
    """(start, stop, path) of the replay segments in directory, in order."""
    out = []
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        m = _SEGMENT.match(name)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), os.path.join(directory, name)))
    return sorted(out)


def needed_segments(directory: str, meta: dict) -> list[tuple[int, int, str]]:
    """The segments holding rows [meta['first'], meta['total']), the rows a checkpoint's buffer needs; CorruptFile
    naming the directory when some are missing."""
    first, total = int(meta["first"]), int(meta["total"])
    out, at = [], first
    for start, stop, path in list_segments(directory):
        if stop <= first or start >= total:
            continue
        if start > at:
            raise CorruptFile(directory, f"replay segments miss rows [{at}, {start})")
        out.append((start, stop, path))
        at = max(at, stop)
    if at < total:
        raise CorruptFile(directory, f"replay segments miss rows [{at}, {total})")
    return out


def read_segment(path: str) -> dict[str, np.ndarray]:
    """The arrays of one replay segment, verified; CorruptFile otherwise."""
    _, payload = _read_framed(path)
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:
        raise CorruptFile(path, f"its payload is no readable .npz ({type(e).__name__})") from None


class ReplayLog:
    """The replay buffer on disk as append-only segments seg-<start>-<stop>.npz of global rows [start, stop).

    save() writes the rows added since the last save and returns {"total": rows ever added, "first": the oldest row
    still stored}; restore(meta) reads back rows [first, total) into an empty buffer. Segments are written
    (atomically) before the checkpoint that refers to them is renamed into place; a segment of a checkpoint that
    never landed starts at or after the restored total and is deleted on restore.
    """

    def __init__(self, directory: str, buffer: ReplayBuffer):
        self.dir, self.buffer = directory, buffer
        with faults.writing(directory):
            os.makedirs(directory, exist_ok=True)
        self.saved = 0  # rows [0, saved) are on disk (or no longer needed)

    def segments(self) -> list[tuple[int, int, str]]:
        """(start, stop, path) of every segment in the log's directory, by start."""
        return list_segments(self.dir)

    def save(self) -> dict:
        """Write the rows added since the last save as one segment; returns the meta {'total', 'first'} for the checkpoint."""
        b = self.buffer
        start = max(self.saved, b.total - b.size)  # rows overwritten in the ring since the last save are not needed
        if b.total > start:
            path = os.path.join(self.dir, f"seg-{start}-{b.total}.npz")
            buf = io.BytesIO()
            np.savez(buf, **b.rows(start, b.total))
            with faults.writing(path, path + ".tmp"):
                _write_synced(path + ".tmp", _framed({}, buf.getbuffer()))
                os.replace(path + ".tmp", path)
                faults.point("segment")
        self.saved = b.total
        return {"total": b.total, "first": max(0, b.total - b.capacity)}

    @staticmethod
    def first_needed(meta: Optional[dict]) -> int:
        """The oldest row a checkpoint with this meta needs."""
        return 0 if meta is None else int(meta["first"])

    def prune(self, keep_from: int) -> None:
        """Delete segments whose rows all lie before keep_from."""
        for _, stop, path in self.segments():
            if stop <= keep_from:
                with faults.writing(path):
                    os.remove(path)

    def restore(self, meta: dict) -> None:
        """Read rows [first, total) of `meta` back into the (empty) buffer, deleting segments and .tmp files of writes that never landed."""
        b = self.buffer
        total = int(meta["total"])
        for start, _, path in self.segments():
            if start >= total:  # written for a checkpoint that was never renamed into place
                os.remove(path)
        for name in os.listdir(self.dir):
            if name.endswith(".tmp"):  # a segment write that was cut short
                os.remove(os.path.join(self.dir, name))
        need = self.first_needed(meta)
        for start, stop, path in needed_segments(self.dir, meta):
            z = read_segment(path)
            lo, hi = max(start, need), min(stop, total)
            b.put_rows(lo, {k: z[k][lo - start : hi - start] for k in b.FIELDS})
        b.set_counters(total)
        self.saved = total


_RANK_FILE = re.compile(r"^rank(\d+)(?:\.prev|\.tmp)?(?:\.pkl(?:\.corrupt)?|\.replay)$")


def ranks_in(directory: str) -> int:
    """How many MPI ranks wrote the checkpoints in `directory` (rank<r>.pkl, .prev, .corrupt, rank<r>.replay/): the
    highest rank seen plus one; 0 when it holds none."""
    seen = [int(m.group(1)) for m in map(_RANK_FILE.match, os.listdir(directory) if os.path.isdir(directory) else []) if m]
    return max(seen) + 1 if seen else 0


def _config_ranks(log_dir: str) -> Optional[int]:
    """The mpi_size config.json recorded when the run started, None when it cannot be read."""
    try:
        with open(os.path.join(log_dir, "config.json")) as f:
            n = json.load(f).get("mpi_size")
        return n if isinstance(n, int) else None
    except (OSError, ValueError, AttributeError):
        return None


def rank_count_error(made: int, size: int, log_dir: str) -> Optional[CheckpointError]:
    """The error for a run whose checkpoints `made` ranks wrote, resumed by `size` ranks; None when they agree, or
    when fewer ranks' files than `size` are left of a run that config.json says `size` ranks made (lost files: the
    usual per-rank messages say which)."""
    if not made or made == size or (made < size and _config_ranks(log_dir) == size):
        return None
    return CheckpointError(f"this run was made with {made} MPI rank{'s' if made > 1 else ''} and is resumed with {size}: "
                           f"resume it with the same number of ranks (mpirun -np {made}); nothing was changed", all_ranks=True)


class Resume(NamedTuple):
    """What a resumed run starts from: the checkpoint's state, its step, and the byte length of each log file then
    (the logs are cut back to it, so no row is duplicated or missing)."""

    state: dict
    steps: int
    sizes: dict  # file name -> bytes

    def size_of(self, path: str) -> Optional[int]:
        """The byte length of `path`'s log file at the checkpoint (by base name), or None if it had none."""
        return self.sizes.get(os.path.basename(path))


class Checkpointer:
    """This rank's checkpoints: save (atomic, with the replay log) and load the newest step every rank can restore."""

    def __init__(self, log_dir: str, rank: int):
        self.dir = os.path.join(log_dir, "checkpoints")
        self.rank = rank
        with faults.writing(self.dir):
            os.makedirs(self.dir, exist_ok=True)
        self.replay_dir = os.path.join(self.dir, f"rank{rank}.replay")
        self.replay: Optional[ReplayLog] = None
        self._metas: list[Optional[dict]] = [None, None]  # replay meta of the previous and the current checkpoint

    def track_replay(self, buffer: ReplayBuffer, meta: Optional[dict] = None) -> None:
        """Keep `buffer` in rank<r>.replay/ with every checkpoint; with meta (resuming), restore it from there first."""
        self.replay = ReplayLog(self.replay_dir, buffer)
        if meta is not None:
            self.replay.restore(meta)
            self._metas = [meta, meta]

    def _path(self, gen: str) -> str:
        return os.path.join(self.dir, f"rank{self.rank}{gen}.pkl")

    def save(self, steps: int, epoch: int, state: dict) -> str:
        """Write a checkpoint (replay segment, .tmp, then rename over the current one, kept as .prev); WriteError
        when the disk refuses, with the .tmp removed and the previous checkpoints intact."""
        cur, prev, tmp = self._path(""), self._path(".prev"), self._path(".tmp")
        if self.replay is not None:
            state = {**state, "replay": self.replay.save()}
        parts = _framed({"steps": steps, "epoch": epoch, "time": time.time()},
                        pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        with faults.writing(cur, tmp):
            _write_synced(tmp, parts)
            faults.point("tmp")
            if os.path.exists(cur):
                os.replace(cur, prev)
            faults.point("between")
            os.replace(tmp, cur)
        faults.point("saved")
        if self.replay is not None:  # the new checkpoint and the one now in .prev must stay restorable
            self._metas = [self._metas[1], state["replay"]]
            self.replay.prune(min(self.replay.first_needed(m) for m in self._metas))
        return cur

    def exists(self) -> bool:
        """Whether this rank ever wrote a checkpoint that is still here, usable or set aside as corrupt."""
        return any(os.path.exists(self._path(g) + s) for g in ("", ".prev") for s in ("", ".corrupt"))

    def _verified(self, gen: str, checked: set) -> tuple[dict, dict]:
        """(header, state) of this rank's checkpoint `gen` with the replay segments it needs; CorruptFile otherwise."""
        header, state = read_checkpoint(self._path(gen))
        if "replay" in state:
            for _, _, seg in needed_segments(self.replay_dir, state["replay"]):
                if seg not in checked:
                    _read_framed(seg)
                    checked.add(seg)
        return header, state

    def load_common(self) -> Optional[dict]:
        """The newest checkpoint whose step every rank can restore (collective); None when no rank has any.

        Every checkpoint and the replay segments it needs are verified first. When a newer one is unusable the run
        falls back to an older one: the unusable files are set aside as *.corrupt, one line on stderr names them and
        the step resumed from, and a rank that got further than the others drops its newer checkpoint. When no step
        is usable on every rank: CheckpointError, and nothing is renamed or deleted; so too when the checkpoints were
        written by another number of ranks than resume them (rank_count_error).
        """
        good: dict[int, tuple[str, dict, dict]] = {}
        bad: list[CorruptFile] = []
        checked: set = set()
        for gen in ("", ".prev"):
            if os.path.exists(self._path(gen)):
                try:
                    header, state = self._verified(gen, checked)
                    good[header["steps"]] = (gen, header, state)
                except CorruptFile as e:
                    bad.append(e)
        ranks = mpi.gather((sorted(good), [(e.path, e.reason, os.path.isfile(e.path)) for e in bad], self.exists(),
                            ranks_in(self.dir)))
        wrong = rank_count_error(max(made for *_, made in ranks), len(ranks), os.path.dirname(self.dir))
        if wrong is not None:  # every rank sees the same counts: all raise together
            raise wrong
        common = set.intersection(*(set(steps) for steps, *_ in ranks))
        problems = list(dict.fromkeys(  # several candidates may share one bad replay segment
            f"{path} is unusable ({why})" + (f", set aside as {os.path.basename(path)}.corrupt" if common and is_file else "")
            for _, theirs, *_ in ranks for path, why, is_file in theirs))
        if not common:
            if not any(existed for _, _, existed, _ in ranks):
                return None
            if not problems and len(ranks) > 1:
                problems = ["the ranks' checkpoints share no step (" +
                            "; ".join(f"rank {r}: {steps}" for r, (steps, *_) in enumerate(ranks)) + ")"]
            elif not problems:
                problems = [f"{self.dir} holds only checkpoints set aside as *.corrupt"]
            raise CheckpointError("; ".join(problems) + "; no checkpoint is usable" + (" on every rank" if len(ranks) > 1 else "")
                                  + ", nothing was changed", all_ranks=True)
        steps = max(common)
        gen, header, state = good[steps]
        for e in bad:
            if os.path.isfile(e.path):
                os.replace(e.path, e.path + ".corrupt")
        if gen == ".prev":  # the newer checkpoint is void: corrupt, or other ranks did not get that far
            os.replace(self._path(".prev"), self._path(""))
        if os.path.exists(self._path(".tmp")):  # a write that was cut short
            os.remove(self._path(".tmp"))
        if problems and self.rank == 0:
            where = (f"resuming from {self._path(gen)} at step {steps}" if len(ranks) == 1 else
                     f"all {len(ranks)} ranks resume from step {steps} (rank 0 from {self._path(gen)})")
            print(f"baselines_meta: {'; '.join(problems)}; {where}", file=sys.stderr, flush=True)
        return {"header": header, "state": state}

    def load_resume(self) -> Optional[Resume]:
        """load_common as a Resume (collective); None when no rank has a checkpoint."""
        loaded = self.load_common()
        if loaded is None:
            return None
        state = loaded["state"]
        return Resume(state, loaded["header"]["steps"], state["ctx"]["sizes"])
