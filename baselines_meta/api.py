"""The Python API: what the CLI, the benchmarks and the experiment launchers call, and what a notebook or a sweep
script uses.

    import baselines_meta
    result = baselines_meta.train(alg="meta", env="Pendulum-v1", num_timesteps=4000, log_path="logs/demo")
    print(result.log_dir, result.steps, result.eval_return)
    policy = baselines_meta.load_policy(result.save_path or "policy.npz")   # (train(..., save_path="policy.npz"))
    action = policy.predict(observation)

`train` runs one worker's training (under `mpirun`, call it on every rank); its keyword overrides are the command
line's flags without the dashes (`env`, `alg`, `num_timesteps`, `teacher_clip`, `meta_form`, ...), with the same
presets and checks. `load_policy` needs no TensorFlow.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, NamedTuple, Optional

import numpy as np

from baselines_meta.config import RunConfig, UsageError


class TrainResult(NamedTuple):
    """What `train` returns (rank 0's view; every rank gets its own steps and the shared final evaluation)."""

    log_dir: str  # the run directory
    steps: int  # env steps of this worker
    last_eval: Optional[list]  # the final evaluation's episode returns (all ranks), None without evaluation
    duration: float  # seconds this call took
    save_path: Optional[str]  # the policy file written, if asked for
    learner: Any  # the student's learner (ddpg.learner.DDPGLearner): its actor, critic and statistics
    buffer: Any  # the replay buffer
    teacher: Any = None  # meta: the teacher's learner (meta.teacher.TeacherLearner)

    @property
    def eval_return(self) -> float:
        """Mean return of the final evaluation (NaN without one)."""
        return float(np.mean(self.last_eval)) if self.last_eval else float("nan")


def quiet_tf() -> None:
    """Import TensorFlow with its C++ start-up lines hidden (unless TF_CPP_MIN_LOG_LEVEL is set)."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-identical results across runs and ranks
    # tf.keras as tf_keras (which the package uses; it never uses tf.keras): TensorFlow then does not import Keras 3
    # and scikit-learn with it, about 1 s of every process's start-up
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user chose what TensorFlow may print
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # Its C++ start-up lines (CUDA probing, absl's "before InitializeLog" warning) reach stderr whatever that level
    # says: import it with file descriptor 2 pointed at /dev/null. An import error still shows after the restore.
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        import tensorflow  # noqa: F401
        import tf_keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# Keywords of train() that name the invocation, not a setting
INVOCATION = ("overwrite", "resume", "save_path", "stdout")


def make_config(**overrides) -> RunConfig:
    """The resolved RunConfig of flag-named overrides (`env="Hopper-v4"`, `no_paired_starts` as `paired_starts=False`),
    by the command line's rule (resolve.resolve: presets and meta forms fill what you did not set) and checks
    (UsageError on a bad value or an unknown name). A value is taken as its flag would take it: num_timesteps="10" as
    --num_timesteps 10."""
    from baselines_meta import resolve as resolver
    from baselines_meta.flags import check_noise

    known = resolver.settings()
    values = {}
    for k, v in overrides.items():
        name = "env_id" if k == "env" else k
        if name not in known:
            raise UsageError(f"unknown setting {k!r} (the command line's flags without dashes, e.g. env, alg, num_timesteps)")
        values[name] = _checked(k, known[name], v)
    check_noise(values.get("noise_type"))
    return resolver.resolve(resolver.build(values))


def _checked(name: str, setting, v):
    """An API value through its flag's own check (its type's bounds, its choices), as the command line would take it:
    train(eval_interval=0) is refused like --eval_interval 0 (UsageError), not run; a string is read as the flag
    reads it. None only where the flag may be left unset; bools only for on/off flags, which take nothing else."""
    import argparse
    import numbers

    from baselines_meta.flags import _base, choices, convert

    is_bool = isinstance(v, (bool, np.bool_))
    base = _base(setting.hint)
    if v is None:
        if base is setting.hint:  # not Optional
            raise UsageError(f"{name} needs a value, got None")
        return None
    if base is bool:
        if not is_bool:
            raise UsageError(f"{name} must be True or False, got {v!r}")
        return bool(v)
    conv = convert(setting)
    checked = v
    if conv is not None:
        if is_bool:
            raise UsageError(f"{name} takes a value, not {v!r}")
        if not isinstance(v, (str, numbers.Real)):
            raise UsageError(f"{name} must be a number, got {v!r}")
        try:
            checked = conv(str(v))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
            raise UsageError(f"{name}: {e}") from None
        if isinstance(v, numbers.Integral) and isinstance(checked, int):
            checked = int(v)  # exactly (the check reads it through a float)
    opts = choices(setting)
    if opts is not None and checked not in opts:
        raise UsageError(f"{name} must be one of {', '.join(map(str, opts))}, got {v!r}")
    return checked


def train(config: Optional[RunConfig] = None, *, overwrite: bool = False, resume: bool = False,
          save_path: Optional[str] = None, stdout=None, _cli: bool = False, **overrides) -> TrainResult:
    """Train one worker: from `config` (a RunConfig, resolved here), or from flag-named overrides (see make_config),
    not both.

    resume: continue the run in config's log_path from its checkpoint (its config must match the run's; a larger
    num_timesteps extends it); save_path: also write the final policy there; stdout: where rank 0's epoch table goes
    (default sys.stdout; use log_formats="csv" to print none). Bad input raises UsageError (or the error of the part
    that refused it) before anything is written; a new run that fails before its first epoch row leaves nothing
    behind."""
    from baselines_meta.resolve import resolve

    if config is not None and overrides:
        raise UsageError("train() takes a RunConfig or flag-named overrides, not both")
    if resume and overwrite:
        raise UsageError("resume and overwrite exclude each other" if not _cli else "--resume and --overwrite exclude each other")
    cfg = resolve(config) if config is not None else make_config(**overrides)
    preflight(cfg, save_path, _cli)
    t0 = time.time()
    quiet_tf()
    from baselines_meta.runtime.context import RunContext
    from baselines_meta.storage.faults import WriteError
    from baselines_meta.storage.rundir import RunDirError

    try:
        ctx = RunContext(cfg, overwrite=overwrite, stdout=stdout, resume=resume, finished_ok=bool(save_path))
    except RunDirError as e:
        if e.api and not _cli:
            raise RunDirError(e.api) from None
        raise
    failed = True
    try:
        if cfg.alg == "ddpg":
            from baselines_meta.ddpg.learn import learn
        else:
            from baselines_meta.meta.learn import learn
        out = learn(ctx)
        failed = False
        if ctx.rank == 0:
            write_normaliser(ctx.log_dir, out.learner, cfg.ddpg.obs_clip)
        if save_path and ctx.rank == 0:
            from baselines_meta.runtime.policy_io import save_policy

            save_policy(save_path, ctx.cfg, out.learner, out.teacher)
            ctx.logger.info(f"policy saved to {save_path}")
        ctx.logger.info(f"logs in {os.path.abspath(ctx.log_dir)}")
        return TrainResult(ctx.log_dir, out.steps, out.last_eval, time.time() - t0, save_path, out.learner, out.buffer,
                           out.teacher)
    except WriteError as e:
        raise ctx.saver.kept(e)
    finally:
        ctx.close(failed=failed)


def write_normaliser(log_dir: str, learner, clip: float) -> None:
    """normaliser.json at the run's end: the observation normaliser's per-dimension mean and std (floored at 0.1),
    its count and the clip (normalised observations are clipped to +-clip), so that what the student saw of each
    observation dimension can be read back (e.g. whether every MountainCar position beyond some x maps to +clip)."""
    from baselines_meta.storage.rundir import write_json

    rms = learner.obs_rms
    if rms is None:
        return
    write_json(os.path.join(log_dir, "normaliser.json"), {
        "mean": [float(x) for x in rms.np_mean()], "std": [float(x) for x in rms.np_std()],
        "count": float(rms.count), "std_floor": float(np.sqrt(rms.eps)), "clip": float(clip)})


def preflight(cfg: RunConfig, save_path: Optional[str], cli: bool = False) -> None:
    """What can be checked before the run directory is touched, so that bad input writes nothing: the noise spec,
    the log formats, the seeding scheme for this many ranks, the env (make_env's checks; a branching teacher needs a
    restorable env) and the policy file's place."""
    from baselines_meta.common import mpi
    from baselines_meta.flags import check_noise, plugin_error
    from baselines_meta.resolve import seed_error
    from baselines_meta.runtime.envs import check_env_ids
    from baselines_meta.storage.logger import parse_formats

    check_noise(cfg.ddpg.noise_type)
    err = plugin_error(cfg)
    if err:
        raise UsageError(err)
    parse_formats(cfg.log_formats or os.environ.get("OPENAI_LOG_FORMAT") or "stdout")
    err = seed_error(cfg.seed, mpi.size())
    if err:
        raise UsageError(err)
    if save_path is not None:
        save_path_error = _save_path_error(save_path, "--save_path" if cli else "save_path")
        if save_path_error:
            raise UsageError(save_path_error)
    check_env_ids([cfg.env_id])
    if cfg.alg != "ddpg" and cfg.schedule.teacher_start == "student":
        from baselines_meta.runtime.branching import check_restorable

        check_restorable(cfg.env_id)  # (EnvError: one line, exit 2)


def _save_path_error(path: str, name: str) -> Optional[str]:
    """Why the final policy could not be written to `path` (checked at the start, not after the whole run), or None."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        return f"{name} must be a file path, got {path!r}"
    if os.path.isdir(path):
        return f"{name} {path} is a directory: name the policy file to write (e.g. {os.path.join(path, 'policy.npz')})"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):  # (save_policy makes the missing folders)
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{name} {path}: {parent} is a file, not a directory"
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{name} {path} cannot be written (permission denied)"
    return None


class Policy:
    """A saved policy (`train(..., save_path=...)` or `--save_path`): the deterministic actor in numpy."""

    def __init__(self, path: str):
        from baselines_meta.runtime.policy_io import SavedPolicy

        self._saved = SavedPolicy(path)
        self.env_id: str = self._saved.env_id
        self.config: dict = self._saved.config
        self._bounds: Optional[tuple[np.ndarray, np.ndarray]] = None

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """The actor's action for one observation [O] (or a batch [N, O]), in the env's action bounds."""
        if self._bounds is None:
            from baselines_meta.runtime.envs import make_env

            env = make_env(self.env_id)
            self._bounds = (np.asarray(env.action_space.low, np.float32), np.asarray(env.action_space.high, np.float32))
            env.close()
        lo, hi = self._bounds
        unit = np.clip(self._saved.act(obs), -1.0, 1.0)
        return lo + (unit + 1.0) * 0.5 * (hi - lo)


def register_envs() -> None:
    """Register the hard-exploration suite's envs with gymnasium (SparseMountainCar-v0, SparseHalfCheetah-v5)."""
    from baselines_meta.runtime.tasks import register_envs as register

    register()


def load_policy(path: str) -> Policy:
    """A policy file's deterministic actor, with predict(obs) -> action; no TensorFlow needed."""
    return Policy(path)
