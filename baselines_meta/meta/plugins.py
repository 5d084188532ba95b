"""The names each of the teacher's plug-in registries holds (meta/starts, meta/rewards, meta/kinds), for the flags'
choices and the checks of a config built in code (the config layer, below meta, cannot list them itself)."""
from __future__ import annotations


def names(registry: str) -> tuple:
    """The plug-in names of registry 'teacher_start', 'teacher_reward' or 'teacher_kind'."""
    if registry == "teacher_start":
        from baselines_meta.meta.starts import STARTS as reg
    elif registry == "teacher_reward":
        from baselines_meta.meta.rewards import REWARDS as reg
    elif registry == "teacher_kind":
        from baselines_meta.meta.kinds import KINDS as reg
    else:
        raise KeyError(registry)
    return tuple(reg)
