"""The command line is generated from the config dataclasses: every field with a flag has it, with the field's default,
and a typed value lands in that field."""
import dataclasses

import pytest

from baselines_meta.config import RunConfig
from baselines_meta.flags import FLAG_GROUPS, UsageError, build_parser, config_from_args, flag_fields
from baselines_meta.resolve import from_dict, resolve


def _section(cfg: RunConfig, cls):
    return {"RunConfig": cfg, "ScheduleConfig": cfg.schedule, "DDPGConfig": cfg.ddpg, "NetworkConfig": cfg.ddpg.network,
            "TeacherConfig": cfg.teacher}[cls.__name__]


def test_every_flag_comes_from_a_field_with_its_default():
    p = build_parser()
    dests = {a.dest for a in p._actions}
    cfg = config_from_args(p.parse_args(["--preset", "none", "--alg", "ddpg"]))  # (meta records noise_type none)
    n = 0
    for _, cls, prefix in FLAG_GROUPS:
        for f, _ in flag_fields(cls):
            assert prefix + f.name in dests, f.name
            if f.name not in ("preset", "alg"):  # (num_timesteps: one default, 1e6, in code and on the command line)
                assert getattr(_section(cfg, cls), f.name) == f.metadata["fallback"], f.name
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


def test_meta_form_literal_expands_to_every_setting_the_paper_fixes():
    ours = config_from_args(build_parser().parse_args(["--env", "Hopper-v4"]))
    lit = config_from_args(build_parser().parse_args(["--env", "Hopper-v4", "--meta_form", "literal"]))
    assert lit.schedule.meta_form == "literal" and ours.schedule.meta_form == "ours"
    assert lit.teacher.clip == 0.0 and ours.teacher.clip == 0.2  # plain REINFORCE on every teacher step
    expected = {"meta_reward_norm": ("none", "window"), "paired_starts": (False, True), "meta_reward": ("sum", "return"),
                "rollout_starts": ("continue", "reset"), "pi_in_replay": (False, True),
                "meta_baseline": ("fresh", "fresh"), "lookahead": ("inplace", "inplace"), "d0_in_replay": (True, True)}
    for name, (want_lit, want_ours) in expected.items():
        assert getattr(lit.schedule, name) == want_lit, name
        assert getattr(ours.schedule, name) == want_ours, name
    # everything else is the same, the paper preset's budget and schedule included
    same = dataclasses.replace(lit, schedule=dataclasses.replace(lit.schedule, meta_form="ours", **{
        k: v[1] for k, v in expected.items()}), teacher=dataclasses.replace(lit.teacher, clip=0.2))
    assert same == ours and lit.schedule.num_timesteps == 1_000_000 and lit.schedule.nb_explore_steps == 100
    # explicit flags override the form, and config.json records the expanded settings
    over = config_from_args(build_parser().parse_args(["--meta_form", "literal", "--teacher_clip", "0.1",
                                                       "--meta_reward", "return"]))
    assert over.teacher.clip == 0.1 and over.schedule.meta_reward == "return" and over.schedule.meta_reward_norm == "none"
    d = lit.to_dict()
    assert d["schedule"]["rollout_starts"] == "continue" and d["teacher"]["clip"] == 0.0
    assert from_dict(d) == lit
    with pytest.raises(UsageError, match="--paired_starts needs --rollout_starts reset"):
        config_from_args(build_parser().parse_args(["--meta_form", "literal", "--paired_starts"]))


def test_meta_records_the_noise_it_runs_with():
    """meta's teacher replaces the action noise: its config says none (the campaign's files said adaptive-param_0.2)."""
    for alg in ("meta", "meta-variance"):
        assert config_from_args(build_parser().parse_args(["--alg", alg])).ddpg.noise_type == "none"
        assert resolve(RunConfig(alg=alg)).ddpg.noise_type == "none"
    assert config_from_args(build_parser().parse_args(["--alg", "ddpg"])).ddpg.noise_type == "adaptive-param_0.2"
    assert config_from_args(build_parser().parse_args(["--alg", "meta", "--noise_type", "none"])).ddpg.noise_type == "none"
    with pytest.raises(UsageError, match="--noise_type ou_0.2 is a setting of --alg ddpg: --alg meta does not read it"):
        config_from_args(build_parser().parse_args(["--alg", "meta", "--noise_type", "ou_0.2"]))


def test_cycle_env_steps():
    sch = resolve(RunConfig()).schedule
    assert resolve(RunConfig(alg="ddpg")).cycle_env_steps() == 200
    assert resolve(RunConfig(alg="meta")).cycle_env_steps() == 500  # D_pi + D0 + D1 = 200 + 100 + 200
    prev = RunConfig(alg="meta", schedule=dataclasses.replace(sch, meta_baseline="previous"))
    assert prev.cycle_env_steps() == 300 and prev.cycle_env_steps(first=True) == 500
    long = RunConfig(alg="meta-variance", schedule=dataclasses.replace(sch, nb_explore_steps=1000, nb_eval_steps=2000))
    assert long.cycle_env_steps() == 5000


def _bad_value(m):
    """A value just outside the field's bounds (its metadata's min= or lo= / hi=)."""
    if "min" in m:
        return m["min"] - 1
    return m["lo"] if m.get("lo_open") else (m["lo"] - 1 if m.get("lo") is not None else m["hi"] + 1)


def test_a_flag_and_a_config_built_in_code_refuse_alike():
    """One bound check (config.bound_error) for both ways in: every bounded field, given a value just outside its
    bounds, is refused by its flag and by its dataclass with the same message (but for how the value is shown)."""
    p, n = build_parser(), 0
    for _, cls, prefix in FLAG_GROUPS:
        for f, _ in flag_fields(cls):
            m = f.metadata
            if not ("min" in m or {"lo", "hi"} & set(m)):
                continue
            flag, bad = m.get("flag", f"--{prefix}{f.name}"), _bad_value(m)
            with pytest.raises(UsageError) as by_flag:
                p.parse_args([flag, str(bad)])
            with pytest.raises(ValueError) as by_code:
                cls(**{f.name: bad})
            said = str(by_flag.value).removeprefix(f"argument {flag}: ")  # (argparse names the argument first)
            assert said == f"{str(by_code.value).split(' got ')[0]} got {str(bad)!r}", f.name
            n += 1
    assert n >= 25
