"""The command line's flags, generated from the config dataclasses (config.opt, listed by resolve.settings), and the
RunConfig they give. A flag not typed is left unset, and resolve.resolve fills it (presets, meta forms, defaults: the
rule in resolve's docstring, shared with the Python API); `--resume` takes the run's own config.json and refuses typed
flags that would change its arithmetic. No flag may be abbreviated."""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import typing
from typing import Optional

from baselines_meta import resolve as resolver
from baselines_meta.config import DDPGConfig, NetworkConfig, RunConfig, ScheduleConfig, TeacherConfig, UsageError, bound_error

__all__ = ["UsageError", "build_parser", "config_from_args", "resume_config", "convert", "RESOLUTION_RULE"]

# `--help`'s epilog: the resolution rule and the resume rule, as resolve.py and resume_config state them
RESOLUTION_RULE = (
    "How a run's settings are decided (the same from the CLI, make_config, a RunConfig built in code and --resume): "
    "a flag you type is kept; a flag marked 'may change it' that you leave out is filled by --meta_form literal, then "
    "by --preset paper (the task's budget and Algorithm-1 schedule), else its default; a flag of another algorithm "
    "(e.g. --nb_teacher_steps with --alg ddpg, --noise_type with --alg meta) is refused. "
    "--resume runs with the run's own config.json, checked against its checkpoint: only a larger --num_timesteps and "
    "the output flags (--log_formats, --save_interval, --progress_bar, --sync_check_interval) may change.")


def _int(name, minimum: int, maximum: Optional[int] = None):
    """An integer flag >= minimum (floats like 1e6 accepted when whole); the bound is config.bound_error's."""

    def f(s):
        try:
            v = float(s)
        except ValueError:
            v = math.nan
        if math.isfinite(v) and v == int(v):
            v = int(v)
        err = bound_error(name, v, {"min": minimum, **({} if maximum is None else {"max": maximum})}, shown=repr(s))
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
    """argparse with one-line errors, close-name suggestions for unknown flags, and no abbreviations (`--num_timestep`
    is an unknown flag, not --num_timesteps)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

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


def _base(hint):
    """int of Optional[int]."""
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint) if typing.get_origin(hint) is typing.Union else hint


def convert(s: resolver.Setting):
    """The string converter of a number setting's flag (its bounds are config.bound_error's), or None."""
    m, base = s.field.metadata, _base(s.hint)
    if base is int:
        return _int(s.flag, m.get("min", 0), m.get("max"))
    if base is float:
        return _float(s.flag, m.get("lo"), m.get("hi"), m.get("lo_open", False))
    return None


def choices(s: resolver.Setting) -> Optional[tuple]:
    """The values a setting takes from a list (a Literal type, choices=, or a plug-in registry's names), or None."""
    base = _base(s.hint)
    if "registry" in s.field.metadata:
        from baselines_meta.meta.plugins import names

        return names(s.field.metadata["registry"])
    return typing.get_args(base) if typing.get_origin(base) is typing.Literal else s.field.metadata.get("choices")


def plugin_error(cfg: RunConfig) -> Optional[str]:
    """A plug-in name (--teacher_start, --teacher_reward) that no registry holds, in a config built in code."""
    for s in resolver.settings().values():
        if "registry" in s.field.metadata:
            v = getattr(resolver.part(cfg, s.section), s.field.name)
            if v not in choices(s):
                return f"{s.flag} must be one of {', '.join(choices(s))}, got {v!r}"
    return None


def _add_flag(group, s: resolver.Setting) -> None:
    """One flag from a setting: its name, type, check, choices and help come from the field. It has no default: a flag
    not typed stays out of the namespace, so the resolver can tell it from a typed one."""
    m = s.field.metadata
    kw: dict = {"dest": s.name, "default": argparse.SUPPRESS}
    note = f"default {m['fallback']}"
    if m.get("preset"):
        by = ("--preset paper" if s.name.startswith("nb_") or s.name == "num_timesteps" else
              "--alg" if s.name == "noise_type" else "--meta_form literal")
        note += f"; {by} may change it"
    if s.reads:
        note += f"; --alg {' / '.join(s.reads)} only"
    kw["help"] = f"{m['help']} [{note}]"
    if _base(s.hint) is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif choices(s) is not None:
        kw["choices"] = choices(s)
    elif convert(s) is not None:
        kw["type"] = convert(s)
    group.add_argument(s.flag, **kw)


def build_parser() -> Parser:
    """Every flag of config.py's dataclasses (see FLAG_GROUPS), then the flags of one invocation (resume, play...)."""
    p = Parser(
        prog="python -m baselines_meta.run",
        description="DDPG (baselines port) with a meta-policy-gradient exploration teacher (Xu et al., ICML 2018).",
        epilog=RESOLUTION_RULE,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    groups = {}
    titles = {section: title for (title, _, _), (section, _, _) in zip(FLAG_GROUPS, resolver.SECTIONS)}
    for s in resolver.settings().values():
        if s.section not in groups:
            groups[s.section] = p.add_argument_group(titles[s.section])
        _add_flag(groups[s.section], s)
    g = groups[""]
    g.add_argument("--overwrite", action="store_true", help="replace the logs of an existing run in --log_path")
    g.add_argument("--resume", action="store_true", help="continue the run in --log_path from its last checkpoint with its "
                   "config.json (a larger --num_timesteps extends it; output flags may change)")
    g.add_argument("--save_path", default=None, help="write the final policy (actor, teacher, normalisation) to this .npz file")
    g.add_argument("--load_path", default=None, help="a policy file written by --save_path (with --play)")
    g.add_argument("--play", action="store_true", help="run deterministic episodes of --load_path's actor and print their returns")
    g.add_argument("--play_episodes", type=_positive_int("--play_episodes"), default=5, help="episodes for --play")
    g.add_argument("--video", default=None, help="with --play: record MP4s of the episodes into this directory (headless)")
    return p


def typed(a: argparse.Namespace) -> dict:
    """The settings typed on the command line (a flag not typed is not in the namespace), by name."""
    known = resolver.settings()
    return {k: v for k, v in vars(a).items() if k in known}


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """The resolved RunConfig of parsed flags (resolve.resolve: presets and meta forms fill what was not typed); bad
    values raise UsageError."""
    values = typed(a)
    check_noise(values.get("noise_type"))
    return resolver.resolve(resolver.build(values))


def check_noise(noise_type) -> None:
    """--noise_type's grammar (ddpg.noise), before anything is written."""
    from baselines_meta.ddpg.noise import NoiseSpecError, parse_noise_type

    if isinstance(noise_type, str):
        try:
            parse_noise_type(noise_type)
        except NoiseSpecError as e:
            raise UsageError(str(e)) from None


def resume_config(args: argparse.Namespace) -> RunConfig:
    """--resume: the run's own config.json is authoritative (its flags, seed and budget), read strictly
    (resolve.from_dict: an unknown or misspelt key is refused).

    Of the flags typed, a larger --num_timesteps extends the run, output flags apply to this invocation, and one that
    would change the run's arithmetic must agree with config.json (UsageError otherwise).
    """
    import json

    path = getattr(args, "log_path", None) or os.environ.get("OPENAI_LOGDIR")
    if not path:
        raise UsageError("--resume needs --log_path (or $OPENAI_LOGDIR) naming the run to continue")
    cfg_file = os.path.join(path, "config.json")
    try:
        with open(cfg_file) as f:
            d = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"nothing to resume: {path} holds no run (no config.json)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {cfg_file}: {e}") from None
    cfg = resolver.from_dict(d, where=cfg_file)
    given = typed(args)
    known = resolver.settings()
    differ = []
    for name in sorted(set(given) - set(resolver.RESUME_FREE) - {"num_timesteps"}):
        s = known[name]
        value = getattr(resolver.part(cfg, s.section), s.field.name)
        if value != given[name]:
            v = given[name]
            shown = (s.flag if v else "--no-" + s.flag[2:]) if isinstance(v, bool) else f"{s.flag} {v}"
            differ.append(f"{shown} (the run has {value})")
    if differ:
        raise UsageError(f"{', '.join(differ)}: --resume keeps the settings in {cfg_file}; drop the flag or start a new run")
    if "num_timesteps" in given:
        budget = cfg.schedule.num_timesteps
        if given["num_timesteps"] < budget:
            raise UsageError(f"--num_timesteps {given['num_timesteps']} is below the run's budget of {budget}; --resume can only extend a run")
        cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, num_timesteps=given["num_timesteps"]))
    output = {k: given[k] for k in resolver.RESUME_FREE if k in given and k != "log_path"}
    output.setdefault("progress_bar", given.get("progress_bar", True))  # the progress bar belongs to this invocation
    return dataclasses.replace(cfg, log_path=path, **output)
