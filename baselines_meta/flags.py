"""The command line's flags, generated from the config dataclasses (config.opt), and the RunConfig they give:
presets (`--preset paper`) and meta forms (`--meta_form`) fill what was not typed; `--resume` takes the run's own
config.json and refuses typed flags that would change its arithmetic. The CLI (run.py) and the Python API (api.py)
both build their configs here."""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import typing
from typing import Optional, Sequence

from baselines_meta import paper
from baselines_meta.config import META_FORMS, DDPGConfig, NetworkConfig, RunConfig, ScheduleConfig, TeacherConfig, bound_error


class UsageError(Exception):
    """Bad command-line or API input: one line on stderr and exit code 2 from the CLI."""
    pass


def _int(name, minimum: int):
    """An integer flag >= minimum (floats like 1e6 accepted when whole); the bound is config.bound_error's."""

    def f(s):
        try:
            v = float(s)
        except ValueError:
            v = math.nan
        if math.isfinite(v) and v == int(v):
            v = int(v)
        err = bound_error(name, v, {"min": minimum}, shown=repr(s))
        if err:
            raise argparse.ArgumentTypeError(err)
        return v

    return f


def _positive_int(name):
    return _int(name, 1)


def _float(name, lo=None, hi=None, lo_open=False):
    """A number flag in [lo, hi] ((lo, hi] when lo_open); the bound is config.bound_error's."""
    def f(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {s!r}") from None
        err = bound_error(name, v, {"lo": lo, "hi": hi, "lo_open": lo_open}, shown=repr(s))
        if err:
            raise argparse.ArgumentTypeError(err)
        return v

    return f


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and close-name suggestions for unknown flags."""

    def error(self, message: str):
        """Raise UsageError instead of exiting; an unknown flag's message names the closest known flags."""
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
    g.add_argument("--resume", action="store_true", help="continue the run in --log_path from its last checkpoint with its "
                   "config.json (a larger --num_timesteps extends it; output flags may change)")
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
    """The RunConfig of parsed flags: the paper preset and the meta form fill what was not given; bad values raise UsageError."""
    from baselines_meta.ddpg.noise import parse_noise_type

    if a.noise_type is not None:
        if a.alg != "ddpg" and a.noise_type != "none":
            raise UsageError(f"--noise_type is ddpg's: {a.alg}'s teacher replaces the action noise (drop the flag)")
        parse_noise_type(a.noise_type)  # raises NoiseSpecError with a clear message
    form = META_FORMS[a.meta_form]
    fill = {**(paper.preset(a.env_id, a.alg) if a.preset == "paper" else {}), **form.get("schedule", {})}
    try:  # every cross-field check lives in config.py's dataclasses
        net = NetworkConfig(**_values(NetworkConfig, a))
        ddpg = DDPGConfig(**_values(DDPGConfig, a), network=net)
        teacher = TeacherConfig(**_values(TeacherConfig, a, "teacher_", form.get("teacher")), network=net)  # kind: alg's
        return RunConfig(**_values(RunConfig, a), ddpg=ddpg, teacher=teacher, schedule=ScheduleConfig(**_values(ScheduleConfig, a, fill=fill)))
    except ValueError as e:
        raise UsageError(str(e)) from None


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


