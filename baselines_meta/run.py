"""Command line: `python -m baselines_meta.run --alg meta --env Hopper-v4` (also under `mpirun -np N`).

Parses and validates every flag, builds the typed RunConfig (with `--preset paper` filling the paper's per-task
budget and schedule where a flag was not given), and calls the algorithm's learn(). Bad input gets one line on
stderr and exit code 2, a NaN/inf loss 3, a file the run cannot write (disk full) 4.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import sys
import typing
from typing import Optional, Sequence

from baselines_meta import paper
from baselines_meta.config import META_FORMS, DDPGConfig, NetworkConfig, RunConfig, ScheduleConfig, TeacherConfig
from baselines_meta.faults import WriteError

EXIT_USAGE = 2
EXIT_NON_FINITE = 3
EXIT_WRITE = 4


class UsageError(Exception):
    pass


def _int(name, minimum: int):
    """An integer flag >= minimum (floats like 1e6 accepted when whole)."""
    kind = "a positive integer" if minimum == 1 else "a non-negative integer"

    def f(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {s!r}") from None
        if not math.isfinite(v) or v != int(v) or v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {s!r}")
        return int(v)

    return f


def _positive_int(name):
    return _int(name, 1)


def _float(name, lo=None, hi=None, lo_open=False):
    def f(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {s!r}") from None
        if math.isnan(v) or (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}]"
            raise argparse.ArgumentTypeError(f"{name} must be in {rng}, got {s!r}")
        return v

    return f


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and close-name suggestions for unknown flags."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            flags = [a.split("=")[0] for a in message.split(":", 1)[1].split() if a.startswith("-")]
            known = [o for a in self._actions for o in a.option_strings]
            for fl in flags:
                close = difflib.get_close_matches(fl, known, n=2, cutoff=0.6)
                if close:
                    message = f"unknown flag {fl}; did you mean {' or '.join(close)}?"
                    break
        raise UsageError(message)


# Flag groups, each generated from a config dataclass: (title, class, prefix of its flags' names).
FLAG_GROUPS = (("run", RunConfig, ""), ("schedule", ScheduleConfig, ""), ("ddpg", DDPGConfig, ""),
               ("network (actor, critic and teacher)", NetworkConfig, ""), ("teacher", TeacherConfig, "teacher_"))


def flag_fields(cls) -> list[tuple[dataclasses.Field, object]]:
    """(field, its type) of every field of cls that has a flag (made with config.opt)."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if "help" in f.metadata]


def _add_flag(group, f: dataclasses.Field, hint, prefix: str) -> None:
    """One flag from a field: its name, type, check, choices, help and default all come from the field."""
    m = f.metadata
    dest = prefix + f.name
    flag = m.get("flag", "--" + dest)
    base = next((t for t in typing.get_args(hint) if t is not type(None)), hint) if typing.get_origin(hint) is typing.Union else hint
    kw: dict = {"dest": dest, "help": m["help"]}
    if base is bool:
        kw.update(action=argparse.BooleanOptionalAction, default=None if m.get("preset") else f.default)
        if m.get("preset"):
            kw["help"] += f" [default {f.default}; --meta_form literal may change it]"
    else:
        kw["default"] = None if m.get("preset") else f.default
        if typing.get_origin(base) is typing.Literal:
            kw["choices"] = typing.get_args(base)
        elif "choices" in m:
            kw["choices"] = m["choices"]
        elif base is int:
            kw["type"] = _int(flag, m.get("min", 0))
        elif base is float:
            kw["type"] = _float(flag, m.get("lo"), m.get("hi"), m.get("lo_open", False))
        if m.get("preset") and f.name != "num_timesteps":
            by = "--preset paper" if f.name.startswith("nb_") else ("--alg" if f.name == "noise_type" else "--meta_form literal")
            kw["help"] += f" [default {f.default}; {by} may change it]"
    group.add_argument(flag, **kw)


def build_parser() -> Parser:
    """Every flag of config.py's dataclasses (see FLAG_GROUPS), then the flags of one invocation (resume, play...)."""
    p = Parser(
        prog="python -m baselines_meta.run",
        description="DDPG (baselines port) with a meta-policy-gradient exploration teacher (Xu et al., ICML 2018).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    groups = {}
    for title, cls, prefix in FLAG_GROUPS:
        groups[title] = g = p.add_argument_group(title)
        for f, hint in flag_fields(cls):
            _add_flag(g, f, hint, prefix)
    g = groups["run"]
    g.add_argument("--overwrite", action="store_true", help="replace the logs of an existing run in --log_path")
    g.add_argument("--resume", action="store_true", help="continue the run in --log_path from its last checkpoint with its config.json (a larger --num_timesteps extends it; output flags may change)")
    g.add_argument("--save_path", default=None, help="write the final policy (actor, teacher, normalisation) to this .npz file")
    g.add_argument("--load_path", default=None, help="a policy file written by --save_path (with --play)")
    g.add_argument("--play", action="store_true", help="run deterministic episodes of --load_path's actor and print their returns")
    g.add_argument("--play_episodes", type=_positive_int("--play_episodes"), default=5, help="episodes for --play")
    g.add_argument("--video", default=None, help="with --play: record MP4s of the episodes into this directory (headless)")
    return p


def _values(cls, a: argparse.Namespace, prefix: str = "", fill: Optional[dict] = None) -> dict:
    """The flags of cls's fields as keyword arguments. A preset flag that was not given (None) takes its value from
    `fill` (the preset or the meta form) when there is one there, else the field's default."""
    out = {}
    for f, _ in flag_fields(cls):
        v = getattr(a, prefix + f.name)
        if v is None and f.metadata.get("preset"):
            if fill and f.name in fill:
                out[f.name] = fill[f.name]
            continue
        out[f.name] = v
    return out


def config_from_args(a: argparse.Namespace) -> RunConfig:
    from baselines_meta.noise import parse_noise_type

    if a.teacher_log_std_min >= a.teacher_log_std_max:
        raise UsageError("--teacher_log_std_min must be below --teacher_log_std_max")
    if not a.teacher_log_std_min < a.teacher_init_log_std < a.teacher_log_std_max:
        raise UsageError("--teacher_init_log_std must lie strictly between --teacher_log_std_min and --teacher_log_std_max")
    if a.popart and not a.normalize_returns:
        raise UsageError("--popart needs --normalize_returns")
    if a.noise_type is not None:
        if a.alg != "ddpg" and a.noise_type != "none":
            raise UsageError(f"--noise_type is ddpg's: {a.alg}'s teacher replaces the action noise (drop the flag)")
        parse_noise_type(a.noise_type)  # raises NoiseSpecError with a clear message
    form = META_FORMS[a.meta_form]
    fill = {"num_timesteps": 1_000_000, **(paper.preset(a.env_id, a.alg) if a.preset == "paper" else {}),
            **form.get("schedule", {})}
    net = NetworkConfig(**_values(NetworkConfig, a))
    ddpg = DDPGConfig(**_values(DDPGConfig, a), network=net)
    teacher = TeacherConfig(**_values(TeacherConfig, a, "teacher_", form.get("teacher")), network=net)  # kind: alg's
    try:
        return RunConfig(**_values(RunConfig, a), ddpg=ddpg, teacher=teacher, schedule=ScheduleConfig(**_values(ScheduleConfig, a, fill=fill)))
    except ValueError as e:  # a cross-field check of config.py
        raise UsageError(str(e)) from None


def _quiet_tf() -> None:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-identical results across runs and ranks
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
        import tensorflow_probability  # noqa: F401
        import tf_keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def train(cfg: RunConfig, overwrite: bool = False, stdout=None, resume: bool = False, save_path: Optional[str] = None):
    """Run one training job (call on every MPI rank). Returns the algorithm's RunOutcome."""
    _quiet_tf()
    from baselines_meta.training import RunContext

    ctx = RunContext(cfg, overwrite=overwrite, stdout=stdout, resume=resume, finished_ok=bool(save_path))
    try:
        if cfg.alg == "ddpg":
            from baselines_meta.ddpg.learn import learn
        else:
            from baselines_meta.meta.learn import learn
        out = learn(ctx)
        if save_path and ctx.rank == 0:
            from baselines_meta.policy_io import save_policy

            save_policy(save_path, cfg, out.learner, out.teacher)
            ctx.logger.info(f"policy saved to {save_path}")
        ctx.logger.info(f"logs in {os.path.abspath(ctx.log_dir)}")
        return out
    except WriteError as e:
        raise ctx.kept(e)
    finally:
        ctx.close()


# Flags that change what a run writes, never its numbers: they may differ from config.json on --resume.
OUTPUT_FLAGS = ("log_formats", "save_interval", "progress_bar", "sync_check_interval")
# Flags --resume reads itself: where the run is, and a larger budget.
RESUME_FLAGS = ("log_path", "num_timesteps")


def typed_flags(argv: Optional[Sequence[str]]) -> set[str]:
    """The dests of the flags given on the command line (a parser whose defaults are all left unset)."""
    p = build_parser()
    for a in p._actions:
        a.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def _stored(cfg: RunConfig, dest: str) -> tuple[bool, object]:
    """(found, value): the setting in cfg that flag `dest` sets, found by its field name (teacher_x: teacher.x)."""
    parts = [cfg, cfg.schedule, cfg.ddpg, cfg.ddpg.network]
    name = dest
    if dest.startswith("teacher_"):
        parts, name = [cfg.teacher], dest[len("teacher_"):]
    for part in parts:
        if name in {f.name for f in dataclasses.fields(part)}:
            return True, getattr(part, name)
    return False, None


def resume_config(args: argparse.Namespace, typed: set[str] = frozenset()) -> RunConfig:
    """--resume: the run's own config.json is authoritative (its flags, seed and budget).

    Of the flags typed (dests in `typed`), a larger --num_timesteps extends the run, output flags apply to this
    invocation, and one that would change the run's arithmetic must agree with config.json (UsageError otherwise).
    """
    import json

    path = args.log_path or os.environ.get("OPENAI_LOGDIR")
    if not path:
        raise UsageError("--resume needs --log_path (or $OPENAI_LOGDIR) naming the run to continue")
    cfg_file = os.path.join(path, "config.json")
    try:
        with open(cfg_file) as f:
            d = json.load(f)
        cfg = RunConfig.from_dict(d)
    except FileNotFoundError:
        raise UsageError(f"nothing to resume: {path} holds no run (no config.json)") from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UsageError(f"cannot read {cfg_file}: {e}") from None
    flag = {a.dest: a.option_strings[0] for a in build_parser()._actions if a.option_strings}
    differ = []
    for dest in sorted(typed - set(OUTPUT_FLAGS) - set(RESUME_FLAGS)):
        found, value = _stored(cfg, dest)
        given = getattr(args, dest)
        if found and value != given:
            shown = (flag[dest] if given else "--no-" + flag[dest][2:]) if isinstance(given, bool) else f"{flag[dest]} {given}"
            differ.append(f"{shown} (the run has {value})")
    if differ:
        raise UsageError(f"{', '.join(differ)}: --resume keeps the settings in {cfg_file}; drop the flag or start a new run")
    if "num_timesteps" in typed:
        budget = cfg.schedule.num_timesteps
        if args.num_timesteps < budget:
            raise UsageError(f"--num_timesteps {args.num_timesteps} is below the run's budget of {budget}; --resume can only extend a run")
        cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, num_timesteps=args.num_timesteps))
    output = {k: getattr(args, k) for k in OUTPUT_FLAGS if k in typed}
    output.setdefault("progress_bar", args.progress_bar)  # the progress bar belongs to this invocation, typed or not
    return dataclasses.replace(cfg, log_path=path, **output)


def _play(args: argparse.Namespace) -> int:
    """--play imports no TensorFlow: a saved actor runs in numpy (and TF next to EGL rendering can crash)."""
    from baselines_meta.envs import EnvError
    from baselines_meta.policy_io import PolicyFileError, play

    try:
        if not args.load_path:
            raise UsageError("--play needs --load_path")
        play(args.load_path, args.play_episodes, args.seed, args.video)
    except (UsageError, EnvError, PolicyFileError) as e:
        print(f"baselines_meta.run: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _main(argv: Optional[Sequence[str]]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(f"baselines_meta.run: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.play:
        return _play(args)
    _quiet_tf()
    from baselines_meta import mpi
    from baselines_meta.checkpoint import CheckpointError
    from baselines_meta.envs import EnvError, make_env
    from baselines_meta.logger import LogFormatError, parse_formats
    from baselines_meta.noise import NoiseSpecError
    from baselines_meta.policy_io import PolicyFileError
    from baselines_meta.rundir import RunDirError
    from baselines_meta.training import NonFiniteError, RunFinished, RunInterrupted

    def report(e: Exception, prefix: str = "error: ") -> None:
        """One line on stderr; an error every rank raised together is reported by rank 0 alone."""
        if mpi.rank() == 0 or not getattr(e, "all_ranks", False):
            print(f"baselines_meta.run: {prefix}{e}", file=sys.stderr, flush=True)

    try:
        if args.resume and args.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        cfg = resume_config(args, typed_flags(argv)) if args.resume else config_from_args(args)
        parse_formats(cfg.log_formats or os.environ.get("OPENAI_LOG_FORMAT") or "stdout")
        make_env(cfg.env_id).close()
        train(cfg, overwrite=args.overwrite, resume=args.resume, save_path=args.save_path)
    except (UsageError, EnvError, NoiseSpecError, RunDirError, LogFormatError, PolicyFileError, CheckpointError) as e:
        report(e)
        return EXIT_USAGE
    except RunFinished as e:
        report(e, prefix="")
        return 0
    except RunInterrupted as e:
        if mpi.rank() == 0:
            print(f"baselines_meta.run: {e}", file=sys.stderr)
        return 128 + e.signum
    except NonFiniteError as e:
        report(e)
        return EXIT_NON_FINITE
    except WriteError as e:
        report(e)
        if mpi.size() > 1 and not e.all_ranks:
            # The other ranks may wait in a collective for this one. A normal exit would wait for them in
            # MPI_Finalize, and MPI_Abort can lose the line above; leaving without finalising makes mpiexec stop
            # every rank and return this exit code.
            sys.stdout.flush()
            os._exit(EXIT_WRITE)
        return EXIT_WRITE
    except KeyboardInterrupt:  # before the training loop installed its handlers: nothing to save yet
        print("baselines_meta.run: interrupted before training started", file=sys.stderr)
        return 130
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        return _main(argv)
    except Exception:
        # An unexpected error on one MPI rank must not leave the others waiting in a collective forever.
        from baselines_meta import mpi

        if mpi.size() > 1:
            import traceback

            traceback.print_exc()
            sys.stderr.write(f"baselines_meta.run: rank {mpi.rank()} failed; aborting all {mpi.size()} ranks\n")
            sys.stderr.flush()
            # Leave without MPI_Finalize: mpiexec then stops every rank. MPI_Abort could kill the job before mpiexec
            # forwarded the lines above (seen on a loaded machine).
            os._exit(1)
        raise


if __name__ == "__main__":
    sys.exit(main())
