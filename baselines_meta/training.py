"""The run context every part needs: config, rank, seeds and RNG streams, log dir, logger, checkpointer, monitors,
signals, the run's clock and the NaN guard. The run directory, evaluation and epoch statistics (and their log row)
have their own modules (rundir, evaluation, stats).

Nothing here owns network variables; the loops ask learners for updates and policies for actions.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Callable, Optional

import numpy as np

from baselines_meta import faults, mpi
from baselines_meta.checkpoint import Checkpointer
from baselines_meta.config import RunConfig
from baselines_meta.envs import EnvRunner, Monitor, StateRecorder, make_env, monitor_path
from baselines_meta.faults import WriteError
from baselines_meta.logger import Logger, NullLogger, parse_formats
from baselines_meta.rundir import (LOG_FILES, RunDirError, clear_run_files, default_log_dir, git_commit, logged_rows,
                                   package_versions, portable_log_path, prepare_log_dir, write_json)


class RunInterrupted(Exception):
    """A signal asked the run to stop; a checkpoint was written first."""

    def __init__(self, signum: int, steps: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {steps}; checkpoint saved, continue with --resume")
        self.signum, self.steps = signum, steps


class NonFiniteError(Exception):
    """A loss or an action was NaN/inf; the run stops without overwriting the last good checkpoint."""


class RunFinished(Exception):
    """--resume of a run that already reached its budget (every rank raises it): nothing to do."""

    all_ranks = True

    def __init__(self, log_dir: str, steps: int, budget: int):
        super().__init__(f"the run in {log_dir} already reached its budget of {budget} steps (checkpoint at step "
                         f"{steps}); nothing to do: pass a larger --num_timesteps to extend it")


RNG_NAMES = ("replay", "noise", "teacher", "meta")  # the numpy Generators of a run, checkpointed



def configure_tf(cfg: RunConfig, seed: int) -> None:
    """Per-rank TF seed; one TF thread per rank under MPI (baselines `U.single_threaded_session`)."""
    import tensorflow as tf

    threads = cfg.tf_threads
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # already initialised (in-process tests); harmless
    import tf_keras

    # tf_keras' unseeded initialisers draw from Python's `random`, which tf.random.set_seed does not reach.
    tf_keras.utils.set_random_seed(seed)
    if cfg.deterministic_ops:
        tf.config.experimental.enable_op_determinism()


class RunContext:
    """Per-run wiring: config, rank, seeds, log dir, logger, envs and monitors."""

    def __init__(self, cfg: RunConfig, overwrite: bool = False, stdout=None, resume: bool = False,
                 finished_ok: bool = False):
        """resume: continue the run in cfg's log dir from its checkpoint, or RunFinished when it already reached its
        budget (unless finished_ok: the caller still wants the trained policy)."""
        self.cfg = cfg
        self.rank, self.size = mpi.rank(), mpi.size()
        self.seed = mpi.rank_seed(cfg.seed)
        formats = parse_formats(cfg.log_formats or os.environ.get("OPENAI_LOG_FORMAT") or "stdout,log,csv")
        log_dir = default_log_dir(cfg) if self.rank == 0 else None
        err = None
        self.lock = None  # rank 0 holds the run directory's lock for every rank (no rank writes before it is held)
        if self.rank == 0:
            try:
                self.lock = prepare_log_dir(log_dir, overwrite, resume)
            except RunDirError as e:
                err = str(e)
        log_dir, err = mpi.COMM.bcast((log_dir, err), root=0)
        if err:
            e = RunDirError(err)
            e.all_ranks = True  # every rank raises it: rank 0 alone reports it
            raise e
        self.log_dir = log_dir
        try:
            self._start(cfg, formats, stdout, resume, finished_ok)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _start(self, cfg: RunConfig, formats, stdout, resume: bool, finished_ok: bool) -> None:
        log_dir = self.log_dir
        self.checkpointer = Checkpointer(log_dir, self.rank)
        loaded = self.checkpointer.load_common() if resume else None
        if resume and loaded is None:
            self._restart_in_place()
        self.resume_state: Optional[dict] = loaded["state"] if loaded else None
        self.saved_steps: Optional[int] = loaded["header"]["steps"] if loaded else None  # the last good checkpoint
        if self.saved_steps is not None and self.saved_steps >= cfg.schedule.num_timesteps and not finished_ok:
            raise RunFinished(log_dir, self.saved_steps, cfg.schedule.num_timesteps)
        self._sizes: dict = self.resume_state["ctx"]["sizes"] if self.resume_state else {}
        logger_state = self.resume_state["ctx"]["logger"] if self.resume_state else None
        with faults.writing(log_dir):
            self.logger = (Logger(log_dir, formats, stdout=stdout or sys.stdout, restore=logger_state, sizes=self._sizes)
                           if self.rank == 0 else NullLogger())
        # Independent streams per purpose, all derived from this rank's seed.
        # (SeedSequence children are keyed by their index: a purpose added at the end leaves the others' streams as they were)
        purposes = ("train", "eval", "d1", "replay", "noise", "teacher", "meta", "pi")
        self._seq = dict(zip(purposes, np.random.SeedSequence(self.seed).spawn(len(purposes))))
        self.replay_rng = np.random.default_rng(self._seq["replay"])
        self.noise_rng = np.random.default_rng(self._seq["noise"])
        self.teacher_rng = np.random.default_rng(self._seq["teacher"])
        self.meta_rng = np.random.default_rng(self._seq["meta"])  # reset seeds of R_pi rollouts, placebo signs
        configure_tf(cfg, self.seed)
        self.monitors: list[Monitor] = []
        self.recorders: dict[str, StateRecorder] = {}  # --record_states, by stream name
        self.t_start = time.time()  # total/duration counts from here
        self.stop_signal: Optional[int] = None
        self._old_handlers: dict = {}
        self.next_save = cfg.save_interval or 0
        if self.resume_state is not None:
            c = self.resume_state["ctx"]
            self.t_start = time.time() - c["elapsed"]
            self.next_save = c["next_save"]
            for name in RNG_NAMES:
                getattr(self, f"{name}_rng").bit_generator.state = c["rngs"][name]
            self.logger.info(f"resumed from the checkpoint at step {self.resume_state['loop'].steps}")
        if self.rank == 0:
            try:
                if resume:
                    self._record_budget()
                else:
                    self._write_config()
            except WriteError as e:
                raise self.kept(e)

    def _restart_in_place(self) -> None:
        """--resume of a run that never checkpointed: start it over in its directory, config.json kept, when it
        logged no epoch row yet; refused otherwise (--resume deletes no logged rows)."""
        err = None
        if self.rank == 0:
            n = logged_rows(self.log_dir)
            if n:
                err = (f"{self.log_dir} holds {n} logged rows but no checkpoint to continue from; start the run again "
                       f"with --overwrite (and its flags) or in another --log_path")
            else:
                clear_run_files(self.log_dir, keep_config=True)
        err = mpi.COMM.bcast(err, root=0)
        if err:
            raise RunDirError(err)
        self.checkpointer = Checkpointer(self.log_dir, self.rank)

    def _record_budget(self) -> None:
        """--resume with a larger --num_timesteps: config.json takes the new budget and keeps the history."""
        path = os.path.join(self.log_dir, "config.json")
        with open(path) as f:
            d = json.load(f)
        old, new = d["schedule"]["num_timesteps"], self.cfg.schedule.num_timesteps
        if new == old:
            return
        d.setdefault("budgets", [{"num_timesteps": old, "from_step": 0, "time": d.get("started")}])
        d["budgets"].append({"num_timesteps": new, "from_step": self.saved_steps or 0, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        d["schedule"]["num_timesteps"] = new
        write_json(path, d)
        self.logger.info(f"budget extended from {old} to {new} steps")

    def kept(self, e: WriteError) -> WriteError:
        """e, told which checkpoint survives the failed write (for its message)."""
        e.checkpoint = (self.checkpointer.dir, self.saved_steps)
        return e

    # ------------------------------------------------------------------ checkpoints and signals
    def resume_size(self, path: str) -> Optional[int]:
        """Byte length `path` had at the checkpoint being resumed (None when not resuming)."""
        return self._sizes.get(os.path.basename(path)) if self.resume_state is not None else None

    def track_replay(self, buffer) -> None:
        """Checkpoint `buffer` incrementally with the run (see checkpoint.ReplayLog); restore it when resuming."""
        self.checkpointer.track_replay(buffer, self.resume_state["replay"] if self.resume_state is not None else None)

    def install_signal_handlers(self) -> None:
        """SIGINT / SIGTERM ask for a checkpoint at the end of the current cycle, then a clean stop."""
        def handler(signum, frame):
            self.stop_signal = signum

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (in-process use): no handlers
                pass

    def get_state(self) -> dict:
        sizes = {}
        files = [os.path.join(self.log_dir, f) for f in LOG_FILES] if self.rank == 0 else []
        files += [m.path for m in self.monitors]
        for f in files:
            if os.path.exists(f):
                sizes[os.path.basename(f)] = os.path.getsize(f)
        return {"elapsed": time.time() - self.t_start, "next_save": self.next_save, "sizes": sizes,
                "rngs": {n: getattr(self, f"{n}_rng").bit_generator.state for n in RNG_NAMES},
                "logger": self.logger.get_state()}

    def after_cycle(self, steps: int, epoch: int, epoch_end: bool, done: bool, make_state: Callable[[], dict]) -> None:
        """Write a checkpoint when due (every save_interval steps, else each epoch; at the end; on a signal).

        The stop decision is collective, so all ranks save the same step and leave together.
        """
        stop_sig = int(mpi.COMM.allreduce(self.stop_signal or 0, op=mpi.MPI.MAX)) if self.size > 1 else (self.stop_signal or 0)
        si = self.cfg.save_interval
        due = done or stop_sig or (epoch_end if not si else steps >= self.next_save)
        if si:
            while self.next_save <= steps:
                self.next_save += si
        if due:
            state = make_state()
            state["ctx"] = self.get_state()
            err = None
            try:
                self.checkpointer.save(steps, epoch, state)
            except WriteError as e:
                err = e
            if self.size > 1:  # the disk is usually shared: all ranks stop together, none is killed mid-write
                failed = [f for f in mpi.gather(None if err is None else (err.path, err.reason)) if f is not None]
                if failed:
                    err = err or WriteError(*failed[0])
                    err.all_ranks = True
            if err is not None:
                raise self.kept(err)
            self.saved_steps = steps
        if stop_sig and not done:
            raise RunInterrupted(stop_sig, steps)

    def check_finite(self, steps: int, **values) -> None:
        """Stop (collectively) when any loss or action is NaN/inf, naming the step and the quantity."""
        bad = [k for k, v in values.items() if not np.all(np.isfinite(np.asarray(v, np.float64)))]
        anybad = mpi.COMM.allreduce(len(bad), op=mpi.MPI.MAX) if self.size > 1 else len(bad)
        if anybad:
            what = ", ".join(bad) if bad else "a value on another rank"
            raise NonFiniteError(f"non-finite {what} at step {steps}; run stopped, the last good checkpoint in "
                                 f"{self.checkpointer.dir} is kept")

    def env_seed(self, purpose: str) -> int:
        return int(self._seq[purpose].generate_state(1)[0])

    def make_runner(self, purpose: str, monitor_tag: str = "", record: Optional[str] = None) -> EnvRunner:
        """An env runner with its monitor; `record`: the stream's name in states.npz (with --record_states)."""
        env = make_env(self.cfg.env_id)
        path = monitor_path(self.log_dir, self.rank, monitor_tag)
        mon = Monitor(path, self.cfg.env_id, truncate_to=self.resume_size(path))
        self.monitors.append(mon)
        rec = None
        if record is not None and self.cfg.record_states and self.rank == 0:  # rank 0 alone writes states.npz
            rec = self.recorders[record] = StateRecorder()
        return EnvRunner(env, self.env_seed(purpose), monitor=mon, recorder=rec)

    def write_states(self) -> None:
        """states.npz of the recorded streams (rank 0; the episode in progress is left out)."""
        if not self.recorders or self.rank != 0:
            return
        out = {}
        for name, rec in self.recorders.items():
            out.update(rec.arrays(name))
        path = os.path.join(self.log_dir, "states.npz")
        with faults.writing(path, tmp=path + ".tmp.npz"):
            np.savez_compressed(path + ".tmp.npz", **out)
            os.replace(path + ".tmp.npz", path)

    def _write_config(self) -> None:
        d = self.cfg.to_dict()
        d["log_path"] = portable_log_path(self.log_dir)
        d["mpi_size"] = self.size
        d["rank_seeds"] = [mpi.rank_seed(self.cfg.seed, r) for r in range(self.size)]
        d["versions"] = package_versions()
        d["git_commit"] = git_commit()
        d["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        d["budgets"] = [{"num_timesteps": self.cfg.schedule.num_timesteps, "from_step": 0, "time": d["started"]}]
        write_json(os.path.join(self.log_dir, "config.json"), d)

    def close(self) -> None:
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        for m in self.monitors:
            m.close()
        self.logger.close()
        if self.lock is not None:
            self.lock.release()


