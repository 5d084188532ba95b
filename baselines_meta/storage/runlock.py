"""One writer per run directory: an exclusive OS advisory lock (flock) on `<run dir>/.lock`.

Every process that writes a run directory holds it for its whole life: a run (new, `--resume`, `--overwrite`, with its
policy save; under MPI rank 0 holds it for all ranks before any rank writes), and `compare` (hence `run/campaign`) for
each run it launches. The kernel drops the lock when its holder exits, however it exits, so a SIGKILLed or crashed run
leaves no stale lock: the next `--resume` takes it at once. The file holds the holder's host and PID, for the message
a second writer gets. Reading a run (table, plot, `--play`) takes no lock.

A launcher that holds the lock for a run it starts as a child (compare) tells the child so in BASELINES_META_LOCK_HELD
(`<real path of the run dir>:<launcher PID>`); the child then runs under its parent's lock, after checking that the
lock file names that PID on this host. Nothing else sets that variable.
"""
from __future__ import annotations

import fcntl
import os
import socket
from typing import Optional

LOCK_NAME = ".lock"
HELD_ENV = "BASELINES_META_LOCK_HELD"


class RunLockedError(ValueError):
    """Another process holds the run directory's lock."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 256).decode(errors="replace").strip()


def held_for_child(directory: str) -> dict:
    """The environment entry that lets a child process write `directory` under this process's lock."""
    return {HELD_ENV: f"{os.path.realpath(directory)}:{os.getpid()}"}


class RunLock:
    """The lock of one run directory: `acquire` (RunLockedError naming the holder when another process has it)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_NAME)
        self.fd: Optional[int] = None
        self.inherited = False  # running under the launcher's lock (see the module docstring)

    def acquire(self) -> "RunLock":
        """Take the lock (or run under the launcher's, when it holds it for us) and write our host and PID in the file."""
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if self._launcher_holds(holder):
                self.inherited = True
                return self
            host, _, pid = holder.partition(" ")
            who = f"host {host}, PID {pid}" if pid else "another process"
            raise RunLockedError(f"{self.directory} is in use by another writer ({who}): wait for it to finish or stop "
                                 f"it; reading the run (table, plot, --play) needs no lock") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        self.fd = fd
        return self

    def _launcher_holds(self, holder: str) -> bool:
        spec = os.environ.get(HELD_ENV, "")
        directory, _, pid = spec.rpartition(":")
        return bool(pid) and directory == os.path.realpath(self.directory) and holder == f"{socket.gethostname()} {pid}"

    def release(self) -> None:
        """Drop the lock if held: clear the holder line and close the file descriptor."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.ftruncate(fd, 0)  # no holder named any more
            finally:
                os.close(fd)  # closing the descriptor drops the flock
