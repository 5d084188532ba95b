"""The parts of one run, each with one job, opened together: the run directory and its config.json (storage.rundir),
the checkpoints and what a resumed run starts from (storage.checkpoint), the seed streams (runtime.seeds), the logger,
the envs with their monitors (runtime.envs.EnvFactory) and the checkpoint triggers and signals (runtime.saving).

The loop receives a RunContext; an algorithm's builder receives the parts it uses as explicit arguments. Nothing here
owns network variables.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Optional

from baselines_meta.common import mpi
from baselines_meta.config import RunConfig, UsageError
from baselines_meta.resolve import differences, from_dict, require_resolved, resume_error
from baselines_meta.runtime.envs import EnvFactory
from baselines_meta.runtime.saving import Saver
from baselines_meta.runtime.seeds import Seeds
from baselines_meta.storage import faults
from baselines_meta.storage.checkpoint import Checkpointer, Resume
from baselines_meta.storage.faults import WriteError
from baselines_meta.storage.logger import Logger, NullLogger, parse_formats
from baselines_meta.storage.rundir import LOG_FILES, RunDir


class RunFinished(Exception):
    """--resume of a run that already reached its budget (every rank raises it): nothing to do."""

    all_ranks = True

    def __init__(self, log_dir: str, steps: int, budget: int):
        super().__init__(f"the run in {log_dir} already reached its budget of {budget} steps (checkpoint at step "
                         f"{steps}); nothing to do: pass a larger --num_timesteps to extend it")


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
    """One run's parts on this rank: cfg, rank / size, rundir, checkpointer, resume (None for a new run), seeds,
    logger, envs, saver, and t_start (total/duration counts from it)."""

    def __init__(self, cfg: RunConfig, overwrite: bool = False, stdout=None, resume: bool = False,
                 finished_ok: bool = False):
        """resume: continue the run in cfg's log dir from its checkpoint, or RunFinished when it already reached its
        budget (unless finished_ok: the caller still wants the trained policy). A new run that fails here leaves
        nothing this call created (RunDir.discard)."""
        require_resolved(cfg)
        self.cfg = cfg
        self.rank, self.size = mpi.rank(), mpi.size()
        self.is_resume = resume
        self.saver = self.envs = self.logger = None
        formats = parse_formats(cfg.log_formats or os.environ.get("OPENAI_LOG_FORMAT") or "stdout,log,csv")
        self.rundir = RunDir(cfg, overwrite, resume)
        self.log_dir = self.rundir.path
        try:
            self._open(formats, stdout, resume, finished_ok)
        except BaseException:
            self.close(failed=True)
            raise

    def _record(self) -> RunConfig:
        """A new run: write config.json (rank 0) and run from the config as it reads back, so the record and the run
        cannot differ (the other ranks run from cfg, which rank 0 has checked equal to the record)."""
        cfg = self.cfg
        if self.rank != 0:
            return cfg
        path = self.rundir.write_config(cfg, self.size)
        recorded = from_dict(self.rundir.read_config(), where=path)
        diff = differences(recorded, cfg, skip=("log_path",))
        if diff:
            raise RuntimeError(f"{path} does not read back as the config it was written from: {diff[0]}")
        import dataclasses

        return dataclasses.replace(recorded, log_path=cfg.log_path)

    def _check_resume(self) -> None:
        """--resume: the run's config.json (read strictly) must be the config its checkpoint was made with, and this
        call's config must match it (resolve.resume_error: only a larger budget and the output settings may change).
        A checkpoint from before configs were stored in it checks config.json against this call's config alone."""
        path = os.path.join(self.log_dir, "config.json")
        recorded = from_dict(self.rundir.read_config(), where=path)
        stored = self.resume.state["ctx"].get("config") if self.resume is not None else None
        err = None
        if stored is not None:
            err = resume_error(from_dict(stored, where="the checkpoint", strict=False), recorded, path,
                               "the checkpoint it was made with")
        err = err or resume_error(recorded, self.cfg, "this call", path)
        if err:
            raise UsageError(err)

    def _open(self, formats, stdout, resume: bool, finished_ok: bool) -> None:
        self.checkpointer = Checkpointer(self.log_dir, self.rank)
        self.resume: Optional[Resume] = self.checkpointer.load_resume() if resume else None
        if resume:
            self._check_resume()
        else:
            self.cfg = self._record()
        cfg = self.cfg
        if resume and self.resume is None:
            self.rundir.restart_in_place()
            self.checkpointer = Checkpointer(self.log_dir, self.rank)
        r = self.resume
        if r is not None and r.steps >= cfg.schedule.num_timesteps and not finished_ok:
            raise RunFinished(self.log_dir, r.steps, cfg.schedule.num_timesteps)
        c = r.state["ctx"] if r is not None else None
        with faults.writing(self.log_dir):
            self.logger = (Logger(self.log_dir, formats, stdout=stdout or sys.stdout, restore=c and c["logger"],
                                  sizes=r.sizes if r else {}) if self.rank == 0 else NullLogger())
        self.seeds = Seeds(mpi.rank_seed(cfg.seed))
        configure_tf(cfg, self.seeds.seed)
        self.envs = EnvFactory(cfg.env_id, self.log_dir, self.rank, self.seeds, r.sizes if r else None, cfg.record_states)
        self.saver = Saver(self.checkpointer, cfg.save_interval, r.steps if r else None, c and c["next_save"])
        self.t_start = time.time() - (c["elapsed"] if c else 0.0)
        if r is not None:
            self.seeds.set_state(c["rngs"])
            self.logger.info(f"resumed from the checkpoint at step {r.state['loop'].steps}")
        if self.rank == 0 and resume:
            try:
                line = self.rundir.record_budget(cfg.schedule.num_timesteps, self.saver.saved_steps)
                if line:
                    self.logger.info(line)
            except WriteError as e:
                raise self.saver.kept(e)

    def track_replay(self, buffer) -> None:
        """Checkpoint `buffer` incrementally with the run (storage.checkpoint.ReplayLog); restore it when resuming."""
        self.checkpointer.track_replay(buffer, self.resume.state["replay"] if self.resume is not None else None)

    def get_state(self) -> dict:
        """The run's own part of a checkpoint: clock, save trigger, log file sizes, RNG streams, logger."""
        files = [os.path.join(self.log_dir, f) for f in LOG_FILES] if self.rank == 0 else []
        files += [m.path for m in self.envs.monitors]
        sizes = {os.path.basename(f): os.path.getsize(f) for f in files if os.path.exists(f)}
        return {"elapsed": time.time() - self.t_start, "next_save": self.saver.next_save, "sizes": sizes,
                "rngs": self.seeds.get_state(), "logger": self.logger.get_state(), "config": self.cfg.to_dict()}

    def close(self, failed: bool = False) -> None:
        """End the run: restore the signal handlers, close the envs, the logger and the run directory. failed: a new
        run that stopped before its first epoch row and its first checkpoint leaves nothing this call created, so the
        retry with the same log_path works."""
        if self.saver is not None:
            self.saver.restore_signal_handlers()
        if self.envs is not None:
            self.envs.close()
        if self.logger is not None:
            self.logger.close()
        if failed and not self.is_resume:
            self.rundir.discard()
        self.rundir.close()
