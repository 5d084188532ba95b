"""The command line is generated from the config dataclasses: every field with a flag has it, with the field's default,
and a typed value lands in that field."""
import dataclasses

import pytest

from baselines_meta.config import RunConfig
from baselines_meta.run import FLAG_GROUPS, UsageError, build_parser, config_from_args, flag_fields


def _section(cfg: RunConfig, cls):
    return {"RunConfig": cfg, "ScheduleConfig": cfg.schedule, "DDPGConfig": cfg.ddpg, "NetworkConfig": cfg.ddpg.network,
            "TeacherConfig": cfg.teacher}[cls.__name__]


def test_every_flag_comes_from_a_field_with_its_default():
    p = build_parser()
    dests = {a.dest for a in p._actions}
    cfg = config_from_args(p.parse_args(["--preset", "none"]))
    n = 0
    for _, cls, prefix in FLAG_GROUPS:
        for f, _ in flag_fields(cls):
            assert prefix + f.name in dests, f.name
            if f.name not in ("num_timesteps", "preset"):  # without a preset the CLI's budget is 1e6 (4000 in code)
                assert getattr(_section(cfg, cls), f.name) == f.default, f.name
            n += 1
    assert n >= 50 and cfg.schedule.num_timesteps == 1_000_000
    assert cfg.teacher.network == cfg.ddpg.network  # one --layer_norm for every network


@pytest.mark.parametrize("argv,where,value", [
    (["--teacher_clip", "0.1"], ("teacher", "clip"), 0.1),
    (["--env", "Hopper-v4"], (None, "env_id"), "Hopper-v4"),
    (["--no-paired_starts"], ("schedule", "paired_starts"), False),
    (["--no-layer_norm"], ("ddpg", "network"), dataclasses.replace(RunConfig().ddpg.network, layer_norm=False)),
    (["--clip_norm", "0.5"], ("ddpg", "clip_norm"), 0.5),
    (["--nb_train_steps", "7"], ("schedule", "nb_train_steps"), 7),
    (["--mpi_exchange", "grads"], (None, "mpi_exchange"), "grads"),
])
def test_a_typed_flag_lands_in_its_field(argv, where, value):
    cfg = config_from_args(build_parser().parse_args(argv))
    part = cfg if where[0] is None else getattr(cfg, where[0])
    assert getattr(part, where[1]) == value


@pytest.mark.parametrize("argv,needle", [
    (["--gamma", "2"], "--gamma must be in [0, 1]"), (["--batch_size", "0"], "--batch_size must be a positive integer"),
    (["--eval_episodes", "-1"], "non-negative integer"), (["--meta_reward", "episodic"], "invalid choice"),
    (["--teacher_clip", "x"], "must be a number"),
])
def test_checks_come_from_the_field_metadata(argv, needle):
    with pytest.raises(UsageError, match=None) as e:
        build_parser().parse_args(argv)
    assert needle in str(e.value)
