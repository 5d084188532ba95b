"""The one resolver every config goes through, however it was made: a RunConfig built in code, `make_config`, the
command line and `--resume` all end in `resolve`, and a run starts only from a resolved config.

The rule, written once (the manual and `--help` quote it):
  1. A setting the caller set explicitly is kept.
  2. A setting left UNSET (config.opt(..., preset=True)) is filled, in this order of precedence, by the meta form
     (`--meta_form literal`: config.META_FORMS), the paper preset (`--preset paper`: paper.preset, the task's budget
     and Algorithm-1 schedule), and else the field's default.
  3. A setting that only other algorithms read (config.opt(reads=...)) records its inert value (the default; `none`
     for meta's --noise_type); set explicitly to anything else it is refused, the same way from every entry.
A config.json read back (`from_dict`) is strict: an unknown key is refused, a missing one (a key added after the run
was made) takes the value that reproduces the old behaviour, i.e. rule 2.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, NamedTuple, Optional

from baselines_meta import paper
from baselines_meta.config import (
    MAX_SEED,
    META_ALGS,
    META_FORMS,
    UNSET,
    DDPGConfig,
    NetworkConfig,
    RunConfig,
    ScheduleConfig,
    TeacherConfig,
    UsageError,
)

# The sections of a RunConfig with flags: (name, class, prefix of its settings' names). The network is shared: its
# flags set the actor's, the critic's and the teacher's.
SECTIONS = (("", RunConfig, ""), ("schedule", ScheduleConfig, ""), ("ddpg", DDPGConfig, ""),
            ("network", NetworkConfig, ""), ("teacher", TeacherConfig, "teacher_"))
# What config.json holds beside the settings: it names the invocation (rundir.write_config)
# (and `corrections`: notes on later fixes of the record itself, e.g. a log_path made relative)
INVOCATION_KEYS = ("mpi_size", "rank_seeds", "versions", "git_commit", "started", "budgets", "corrections")
# Settings this version no longer has, with the one value whose behaviour remains (--fast: the numpy acting path,
# the only one since 1cfea32). A config.json recording that value reads as today's config; any other is refused.
RETIRED = {"fast": True}
# Settings a resumed run may change: where and how it writes, never its numbers (and a larger budget, see below)
RESUME_FREE = ("log_path", "log_formats", "save_interval", "progress_bar", "sync_check_interval")


class Setting(NamedTuple):
    """One setting with a flag: its name (the flag's dest and the API's keyword), section, field, type and flag."""

    name: str  # env_id, teacher_clip, nb_train_steps
    section: str  # '', 'schedule', 'ddpg', 'network' or 'teacher'
    field: dataclasses.Field
    hint: Any
    flag: str  # --env, --teacher_clip

    @property
    def reads(self) -> Optional[tuple]:
        """The algorithms that read it (None: all)."""
        return self.field.metadata.get("reads")


@functools.cache
def settings() -> dict[str, Setting]:
    """Every setting with a flag, by name, in the order of SECTIONS."""
    out = {}
    for section, cls, prefix in SECTIONS:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if "help" in f.metadata:
                name = prefix + f.name
                out[name] = Setting(name, section, f, hints[f.name], f.metadata.get("flag", "--" + name))
    return out


def part(cfg: RunConfig, section: str):
    """The dataclass of `section` inside cfg."""
    return {"": cfg, "schedule": cfg.schedule, "ddpg": cfg.ddpg, "network": cfg.ddpg.network, "teacher": cfg.teacher}[section]


def build(values: dict[str, Any]) -> RunConfig:
    """An unresolved RunConfig from setting-named values (a flag's dest: `env_id`, `teacher_clip`); every other
    setting keeps its field's default or UNSET. UsageError on an unknown name or a bad value."""
    per: dict[str, dict] = {s: {} for s, _, _ in SECTIONS}
    known = settings()
    for name, v in values.items():
        if name not in known:
            raise UsageError(f"unknown setting {name!r}")
        per[known[name].section][known[name].field.name] = v
    net = NetworkConfig(**per["network"])
    return RunConfig(**per[""], ddpg=DDPGConfig(**per["ddpg"], network=net),
                     teacher=TeacherConfig(**per["teacher"], network=net), schedule=ScheduleConfig(**per["schedule"]))


def _shown(flag: str, v: Any) -> str:
    return (flag if v else "--no-" + flag[2:]) if isinstance(v, bool) else f"{flag} {v}"


def alg_error(cfg: RunConfig) -> Optional[str]:
    """Rule 3: the first setting that cfg does not read, set to something other than its inert value: one that
    cfg.alg does not read (opt(reads=...)), or a plug-in's own setting without its plug-in (opt(when={setting:
    values}), e.g. --progress_weight without --teacher_reward both)."""
    known = settings()
    for s in known.values():
        v = getattr(part(cfg, s.section), s.field.name)
        if v is UNSET or v == s.field.metadata["inert"]:
            continue
        if s.reads is not None and cfg.alg not in s.reads:
            return f"{_shown(s.flag, v)} is a setting of --alg {' / '.join(s.reads)}: --alg {cfg.alg} does not read it (drop it)"
        for name, values in s.field.metadata.get("when", {}).items():
            other = known[name]
            have = getattr(part(cfg, other.section), other.field.name)
            if have not in values:
                return (f"{_shown(s.flag, v)} is a setting of {other.flag} {' / '.join(values)}: {other.flag} {have} "
                        f"does not read it (drop it)")
    return None


def _fill(obj, values: dict, alg: Optional[str]):
    """obj with each UNSET field filled: the inert value for an algorithm that does not read it, else values' entry,
    else the field's default (alg None: a component alone, outside a run)."""
    kw = {}
    for f in dataclasses.fields(obj):
        if getattr(obj, f.name) is UNSET:
            reads = f.metadata.get("reads")
            foreign = alg is not None and reads is not None and alg not in reads
            kw[f.name] = f.metadata["inert"] if foreign else values.get(f.name, f.metadata["fallback"])
    return dataclasses.replace(obj, **kw) if kw else obj


def resolve(cfg: RunConfig) -> RunConfig:
    """The config a run runs with (the module's rule): every UNSET filled, cross-field checks passed; UsageError with
    one line otherwise. Resolving a resolved config gives it back unchanged."""
    if not isinstance(cfg, RunConfig):
        raise UsageError(f"a run's config must be a RunConfig, got {type(cfg).__name__}")
    err = alg_error(cfg)
    if err:
        raise UsageError(err)
    form = META_FORMS[cfg.schedule.meta_form] if cfg.alg in META_ALGS else {}
    preset = paper.preset(cfg.env_id, cfg.alg) if cfg.preset == "paper" else {}
    return dataclasses.replace(cfg, schedule=_fill(cfg.schedule, {**preset, **form.get("schedule", {})}, cfg.alg),
                               teacher=_fill(cfg.teacher, form.get("teacher", {}), cfg.alg),
                               ddpg=_fill(cfg.ddpg, {}, cfg.alg))


def completed(component):
    """A component's config used alone (a learner in a test or a benchmark, no run, no task): UNSET -> its default."""
    return _fill(component, {}, None)


def unset_fields(obj, prefix: str = "") -> list[str]:
    """The dotted names of obj's UNSET fields, nested dataclasses included."""
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is UNSET:
            out.append(prefix + f.name)
        elif dataclasses.is_dataclass(v):
            out += unset_fields(v, f"{prefix}{f.name}.")
    return out


def require_resolved(cfg: RunConfig) -> None:
    """A config with an UNSET setting cannot reach the loop (it would run with whatever the code read there)."""
    missing = unset_fields(cfg)
    if missing:
        raise UsageError(f"the config is not resolved ({', '.join(missing)} unset): pass it through "
                         f"baselines_meta.resolve.resolve (train() does)")


def seed_error(seed: int, size: int) -> Optional[str]:
    """The seeding scheme (rank r: seed + 1000000 * r) must give every rank a 32-bit seed."""
    top = seed + 1_000_000 * (size - 1)
    if top > MAX_SEED:
        return (f"--seed {seed} gives rank {size - 1} of {size} the seed {top}, above {MAX_SEED} (seed + 1000000 * "
                f"rank must fit 32 bits): use a seed of at most {MAX_SEED - 1_000_000 * (size - 1)}")
    return None


def _section_from(cls, d: Any, path: str, strict: bool):
    """cls from its dict in a config.json (path: its dotted key, '' at the top)."""
    if not isinstance(d, dict):
        raise UsageError(f"{path or 'the file'} must be a JSON object, got {d!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {}
    for k, v in d.items():
        if k not in names:
            top = cls is RunConfig
            if top and k in RETIRED and v != RETIRED[k]:
                raise UsageError(f"{k} = {v!r}: a setting this version no longer has (only {RETIRED[k]!r} remains)")
            if strict and not (top and (k in INVOCATION_KEYS or k in RETIRED)):
                raise UsageError(f"unknown key {path + k!r}")
            continue
        if dataclasses.is_dataclass(hints[k]):
            v = _section_from(hints[k], v, f"{path}{k}.", strict)
        elif isinstance(v, list):
            v = tuple(v)
        kw[k] = v
    return cls(**kw)


def from_dict(d: dict, where: str = "config.json", strict: bool = True) -> RunConfig:
    """The resolved config a config.json (or a checkpoint) recorded. strict: an unknown key is refused (a misspelt
    one would fall back to its default); keys missing (added after the run was made) take their old behaviour."""
    try:
        return resolve(_section_from(RunConfig, d, "", strict))
    except UsageError as e:
        raise UsageError(f"{where}: {e}" if not str(e).startswith(where) else str(e)) from None
    except TypeError as e:
        raise UsageError(f"{where}: {e}") from None


def flat(cfg: RunConfig) -> dict[str, Any]:
    """cfg as {'schedule.nb_train_steps': 50, ...}: the keys a config.json holds, dotted."""
    out = {}

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                out[prefix + k] = v

    walk(cfg.to_dict(), "")
    return out


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def differences(a: RunConfig, b: RunConfig, skip: tuple = ()) -> list[tuple[str, Any, Any]]:
    """(key, a's value, b's value) of every setting where a and b differ, dotted keys, skipping `skip`."""
    fa, fb = flat(a), flat(b)
    return [(k, fa.get(k), fb.get(k)) for k in fa if k not in skip and not _same(fa.get(k), fb.get(k))]


def resume_error(run: RunConfig, given: RunConfig, given_name: str, run_name: str) -> Optional[str]:
    """Why `given` may not continue `run`, or None: only a budget at least the run's and the output settings
    (RESUME_FREE) may differ. One line naming the first differing key."""
    for key, mine, theirs in differences(run, given, skip=RESUME_FREE):
        if key == "schedule.num_timesteps" and theirs >= mine:
            continue
        return (f"{given_name} has {key} = {theirs!r} but {run_name} has {mine!r}: a resumed run keeps its settings "
                f"(only a larger num_timesteps and the output settings {', '.join(RESUME_FREE)} may change)")
    return None
