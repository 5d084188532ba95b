"""When a run checkpoints and when it stops: every --save_interval env steps (else each epoch), at the end, and on
SIGINT / SIGTERM; the stop decision is collective, so all ranks save the same step and leave together. Also the NaN
guard, which stops the run without touching its last good checkpoint."""
from __future__ import annotations

import signal
from typing import Callable, Optional

import numpy as np

from baselines_meta.common import mpi
from baselines_meta.storage.checkpoint import Checkpointer
from baselines_meta.storage.faults import WriteError


class RunInterrupted(Exception):
    """A signal asked the run to stop; a checkpoint was written first."""

    def __init__(self, signum: int, steps: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {steps}; checkpoint saved, continue with --resume")
        self.signum, self.steps = signum, steps


class NonFiniteError(Exception):
    """A loss or an action was NaN/inf; the run stops without overwriting the last good checkpoint."""


class Saver:
    """Checkpoint triggers and signals of one run (every rank)."""

    def __init__(self, checkpointer: Checkpointer, save_interval: Optional[int], saved_steps: Optional[int] = None,
                 next_save: Optional[int] = None):
        """saved_steps: the step of the last good checkpoint (resuming); next_save: its save_interval trigger."""
        self.checkpointer, self.save_interval = checkpointer, save_interval
        self.saved_steps = saved_steps
        self.next_save = next_save if next_save is not None else (save_interval or 0)
        self.stop_signal: Optional[int] = None
        self._old_handlers: dict = {}

    def kept(self, e: WriteError) -> WriteError:
        """e, told which checkpoint survives the failed write (for its message)."""
        e.checkpoint = (self.checkpointer.dir, self.saved_steps)
        return e

    def install_signal_handlers(self) -> None:
        """SIGINT / SIGTERM ask for a checkpoint at the end of the current cycle, then a clean stop."""
        def handler(signum, frame):
            self.stop_signal = signum

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (in-process use): no handlers
                pass

    def restore_signal_handlers(self) -> None:
        """Put back the SIGINT / SIGTERM handlers that `install_signal_handlers` replaced."""
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        self._old_handlers = {}

    def after_cycle(self, steps: int, epoch: int, epoch_end: bool, done: bool, make_state: Callable[[], dict]) -> None:
        """Write a checkpoint when due (every save_interval steps, else each epoch; at the end; on a signal), then stop
        on a signal (RunInterrupted)."""
        size = mpi.size()
        stop_sig = int(mpi.COMM.allreduce(self.stop_signal or 0, op=mpi.MPI.MAX)) if size > 1 else (self.stop_signal or 0)
        si = self.save_interval
        due = done or stop_sig or (epoch_end if not si else steps >= self.next_save)
        if si:
            while self.next_save <= steps:
                self.next_save += si
        if due:
            state = make_state()
            err = None
            try:
                self.checkpointer.save(steps, epoch, state)
            except WriteError as e:
                err = e
            if size > 1:  # the disk is usually shared: all ranks stop together, none is killed mid-write
                failed = [f for f in mpi.gather(None if err is None else (err.path, err.reason)) if f is not None]
                if failed:
                    err = err or WriteError(*failed[0])
                    err.all_ranks = True
            if err is not None:
                raise self.kept(err)
            self.saved_steps = steps
        if stop_sig and not done:
            raise RunInterrupted(stop_sig, steps)


def check_finite(steps: int, checkpoint_dir: str, **values) -> None:
    """Stop (collectively) when any loss or action is NaN/inf, naming the step and the quantity."""
    bad = [k for k, v in values.items() if not np.all(np.isfinite(np.asarray(v, np.float64)))]
    anybad = mpi.COMM.allreduce(len(bad), op=mpi.MPI.MAX) if mpi.size() > 1 else len(bad)
    if anybad:
        what = ", ".join(bad) if bad else "a value on another rank"
        raise NonFiniteError(f"non-finite {what} at step {steps}; run stopped, the last good checkpoint in "
                             f"{checkpoint_dir} is kept")
