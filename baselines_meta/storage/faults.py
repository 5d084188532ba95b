"""Write failures and the test hook that injects faults, shared by every file a run writes.

Any OSError while writing a checkpoint, a log, a monitor file or a saved policy (disk full, permission lost, I/O
error) becomes one WriteError naming the file; the run stops with exit code 4 and keeps its last good checkpoint.

Test hook, never set outside tests: BASELINES_META_FAULT=<stage>:<n>[:kill|enospc|term|stop] makes the n-th arrival of
this process at `stage` SIGKILL the process (`kill`, the default), raise OSError(ENOSPC) there (`enospc`), send it
SIGTERM and carry on (`term`: the run checkpoints at the end of its cycle and stops) or SIGSTOP it (`stop`: a live
run, paused with its lock held, until the test sends SIGCONT), so that tests
stop a run at an exact point instead of racing it with sleeps. Stages, in the order a checkpoint passes them:
`segment` (its replay segment is in place), `tmp` (rank<r>.tmp.pkl is written), `between` (rank<r>.pkl was moved to
.prev, the .tmp is not renamed yet), `saved` (both renames done); and `progress`, `evaluations`, `monitor`, `policy`
(a row of progress.csv, of evaluations.csv, a monitor line, a saved policy is about to be written).
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
from typing import Iterator, Optional

FAULT_ENV = "BASELINES_META_FAULT"
_arrivals: dict[str, int] = {}


class WriteError(Exception):
    """A file of the run could not be written; `checkpoint` (directory, step or None) names what survives."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason
        self.checkpoint: Optional[tuple[str, Optional[int]]] = None  # set by the run that knows its last checkpoint
        self.all_ranks = False  # every MPI rank raised it together: rank 0 alone reports it, no abort needed

    def __str__(self) -> str:
        msg = f"cannot write {self.path}: {self.reason}; run stopped"
        if self.checkpoint is None:
            return msg
        directory, steps = self.checkpoint
        if steps is None:
            return msg + " before its first checkpoint; start it again once space is freed (or the cause fixed)"
        return (msg + f", the last good checkpoint (step {steps}, in {directory}) is kept; --resume continues once space"
                " is freed (or the cause fixed)")


def describe(e: OSError) -> str:
    """'[Errno 28] No space left on device' (without the file name, which the message gives once)."""
    return f"[Errno {e.errno}] {e.strerror}" if e.errno else str(e)


@contextlib.contextmanager
def writing(path: str, tmp: Optional[str] = None) -> Iterator[None]:
    """Turn an OSError in the block into a WriteError naming `path` (or the other file the OSError names); remove
    the temporary file `tmp` so that a failed write leaves nothing half-written behind."""
    try:
        yield
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        named = e.filename if isinstance(e.filename, str) and e.filename != tmp else path
        raise WriteError(named, describe(e)) from None


def point(stage: str) -> None:
    """Test hook (see the module docstring): a no-op unless BASELINES_META_FAULT names `stage`."""
    spec = os.environ.get(FAULT_ENV)
    if not spec or spec.split(":")[0] != stage:
        return
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit() or (len(parts) == 3 and parts[2] not in ("kill", "enospc", "term", "stop")):
        raise ValueError(f"{FAULT_ENV}={spec!r}: expected <stage>:<n>[:kill|enospc|term|stop]")
    _arrivals[stage] = _arrivals.get(stage, 0) + 1
    if _arrivals[stage] != int(parts[1]):
        return
    if len(parts) == 2 or parts[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if parts[2] in ("term", "stop"):
        os.kill(os.getpid(), signal.SIGTERM if parts[2] == "term" else signal.SIGSTOP)
        return
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
