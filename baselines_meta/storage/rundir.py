"""A run's directory: where it lives, its lock (one writer per run), refusing to clobber another run, clearing it,
config.json (versions, git commit, budgets) and the restart of a run that never checkpointed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Optional

from baselines_meta.common import mpi
from baselines_meta.config import RunConfig
from baselines_meta.storage import faults
from baselines_meta.storage.logger import TB_DIR
from baselines_meta.storage.runlock import LOCK_NAME, RunLock, RunLockedError


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (not a directory, not writable, locked, already holding a run,
    nothing to resume). `api`: the message in the Python API's words (resume=True, not --resume), where it differs."""

    def __init__(self, message: str, api: Optional[str] = None):
        super().__init__(message)
        self.api = api


LOG_FILES = ("progress.csv", "progress.json", "log.txt", "evaluations.csv")


def default_log_dir(cfg: RunConfig) -> str:
    """The run directory: --log_path, else $OPENAI_LOGDIR, else logs/<env>-<alg>-seed<seed>-<time>."""
    if cfg.log_path:
        return cfg.log_path
    if os.environ.get("OPENAI_LOGDIR"):
        return os.environ["OPENAI_LOGDIR"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join("logs", f"{cfg.env_id}-{cfg.alg}-seed{cfg.seed}-{stamp}")


def prepare_log_dir(path: str, overwrite: bool, resume: bool = False) -> RunLock:
    """Create the run directory and take its lock (runlock: one writer per run) before anything in it is touched;
    refuse a directory another process writes, or one that already holds a run unless overwrite (or resume) is
    given. Returns the held lock."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise RunDirError(f"log path {path} exists and is not a directory")
    if resume and not os.path.exists(os.path.join(path, "config.json")):
        raise RunDirError(f"nothing to resume: {path} holds no run (no config.json)")
    try:
        lock = RunLock(path).acquire()
    except RunLockedError as e:
        raise RunDirError(str(e)) from None
    except OSError as e:
        raise RunDirError(f"cannot write to log path {path}: {e.strerror or e}") from None
    try:
        if resume:
            return lock
        if os.path.exists(os.path.join(path, "config.json")) and not overwrite:
            raise RunDirError(f"{path} already holds a run; pass --resume to continue it, --overwrite to replace it, or "
                              f"choose another --log_path",
                              api=f"{path} already holds a run; pass resume=True to continue it, overwrite=True to "
                                  f"replace it, or choose another log_path")
        try:
            probe = os.path.join(path, ".write_test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as e:
            raise RunDirError(f"cannot write to log path {path}: {e.strerror or e}") from None
        if overwrite:
            clear_run_files(path)
    except BaseException:
        lock.release()
        raise
    return lock


def portable_log_path(path: str, cwd: Optional[str] = None) -> str:
    """What config.json records as log_path: the run directory relative to the directory the run was started from,
    or, when it lies outside that directory, its own name; never an absolute path (results must not name the machine
    they were made on)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(cwd or os.getcwd()))
    return os.path.basename(os.path.abspath(path)) if rel == ".." or rel.startswith(".." + os.sep) else rel


def clear_run_files(path: str, keep_config: bool = False) -> None:
    """Remove a run's logs and checkpoints: --overwrite, or (keep_config) --resume of a run that logged nothing
    and never checkpointed (RunContext._restart_in_place)."""
    import shutil

    for name in os.listdir(path):
        if name in LOG_FILES + ("states.npz", "normaliser.json") + (() if keep_config else ("config.json",)) or name.endswith(".monitor.csv"):
            os.remove(os.path.join(path, name))
    for sub in ("checkpoints", TB_DIR):
        shutil.rmtree(os.path.join(path, sub), ignore_errors=True)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def logged_rows(path: str) -> int:
    """Epoch rows a run has logged to progress.csv and progress.json (0 when neither exists)."""
    n = 0
    for name, header in (("progress.csv", 1), ("progress.json", 0)):
        f = os.path.join(path, name)
        if os.path.exists(f):
            with open(f) as fh:
                n += max(0, sum(1 for line in fh if line.strip()) - header)
    return n


def write_json(path: str, d: dict) -> None:
    """d as indented JSON, atomically (config.json must never be half-written: --resume reads it)."""
    with faults.writing(path, path + ".tmp"):
        with open(path + ".tmp", "w") as f:
            json.dump(d, f, indent=2, default=str)
        os.replace(path + ".tmp", path)


def package_versions() -> dict:
    """Versions of Python and the packages a run depends on (None where one is not installed), for config.json."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "tensorflow-probability", "tf-keras", "tensorboard", "gymnasium", "mujoco", "numpy", "mpi4py", "mpich"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> Optional[str]:
    """The git commit of this checkout, with '-dirty' when tracked files changed; None outside git or on failure."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


class RunDir:
    """The directory of one run, opened on every rank (collective): rank 0 takes its lock and prepares it before any
    rank writes, the others learn its path; config.json is rank 0's to write."""

    def __init__(self, cfg: RunConfig, overwrite: bool = False, resume: bool = False):
        self.rank = mpi.rank()
        path = default_log_dir(cfg) if self.rank == 0 else None
        err, self.lock = None, None
        # what this call creates, so that a run that fails before it logged anything can take it away (discard)
        self.created_dir = self.rank == 0 and not os.path.exists(path)
        self.created_lock = self.rank == 0 and not os.path.exists(os.path.join(path, LOCK_NAME))
        if self.rank == 0:
            try:
                self.lock = prepare_log_dir(path, overwrite, resume)
            except RunDirError as e:
                err = (str(e), e.api)
        self.path, err = mpi.COMM.bcast((path, err), root=0)
        if err:
            e = RunDirError(*err)
            e.all_ranks = True  # every rank raises it: rank 0 alone reports it
            raise e

    def restart_in_place(self) -> None:
        """--resume of a run that never checkpointed (collective): start it over in its directory, config.json kept,
        when it logged no epoch row yet; refused otherwise (--resume deletes no logged rows)."""
        err = None
        if self.rank == 0:
            n = logged_rows(self.path)
            if n:
                err = (f"{self.path} holds {n} logged rows but no checkpoint to continue from; start the run again "
                       f"with --overwrite (and its flags) or in another --log_path")
            else:
                clear_run_files(self.path, keep_config=True)
        err = mpi.COMM.bcast(err, root=0)
        if err:
            raise RunDirError(err)

    def discard(self) -> None:
        """A new run that failed before its first epoch row and its first checkpoint (rank 0): remove what this call
        created (the run's files; the directory and its lock file when it made them), nothing else, so the retry with
        the same log path starts clean. A run that logged a row or checkpointed keeps everything."""
        if self.rank != 0 or self.lock is None:
            return
        if logged_rows(self.path) or os.path.isdir(os.path.join(self.path, "checkpoints", "")) and any(
                n.endswith(".pkl") for n in os.listdir(os.path.join(self.path, "checkpoints"))):
            return
        clear_run_files(self.path)
        self.lock.release()
        self.lock = None
        if self.created_lock:
            _remove(os.path.join(self.path, LOCK_NAME))
        if self.created_dir:
            try:
                os.rmdir(self.path)  # only if empty: never a file this call did not create
            except OSError:
                pass

    def read_config(self) -> dict:
        """The run's config.json as written (resolve.from_dict reads it as a config)."""
        with open(os.path.join(self.path, "config.json")) as f:
            return json.load(f)

    def write_config(self, cfg: RunConfig, size: int) -> str:
        """config.json of a new run: every setting, the ranks' seeds, package versions, the git commit, the budget."""
        d = cfg.to_dict()
        d["log_path"] = portable_log_path(self.path)
        d["mpi_size"] = size
        d["rank_seeds"] = [mpi.rank_seed(cfg.seed, r) for r in range(size)]
        d["versions"] = package_versions()
        d["git_commit"] = git_commit()
        d["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        d["budgets"] = [{"num_timesteps": cfg.schedule.num_timesteps, "from_step": 0, "time": d["started"]}]
        path = os.path.join(self.path, "config.json")
        write_json(path, d)
        return path

    def record_budget(self, budget: int, from_step: Optional[int]) -> Optional[str]:
        """--resume with a larger --num_timesteps: config.json takes the new budget and keeps the history. Returns the
        line to log, or None when the budget is unchanged."""
        path = os.path.join(self.path, "config.json")
        with open(path) as f:
            d = json.load(f)
        old = d["schedule"]["num_timesteps"]
        if budget == old:
            return None
        d.setdefault("budgets", [{"num_timesteps": old, "from_step": 0, "time": d.get("started")}])
        d["budgets"].append({"num_timesteps": budget, "from_step": from_step or 0, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        d["schedule"]["num_timesteps"] = budget
        write_json(path, d)
        return f"budget extended from {old} to {budget} steps"

    def close(self) -> None:
        """Release the run directory's lock if this rank holds it."""
        if self.lock is not None:
            self.lock.release()
