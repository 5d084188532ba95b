"""The teacher's plug-in registries (meta/starts, meta/rewards, meta/kinds): the flags' choices come from them, a name
no registry holds is refused from every entry before anything is written, and each registered plug-in does its job."""
import numpy as np
import pytest

from baselines_meta import make_config
from baselines_meta.config import DDPGConfig, RunConfig, ScheduleConfig, UsageError
from baselines_meta.ddpg.learner import DDPGLearner
from baselines_meta.flags import build_parser
from baselines_meta.meta.kinds import KINDS, mean_actor
from baselines_meta.meta.plugins import names
from baselines_meta.meta.rewards import REWARDS, make_reward
from baselines_meta.meta.starts import STARTS, make_start
from baselines_meta.resolve import resolve


def test_the_flags_offer_what_the_registries_hold():
    assert names("teacher_start") == tuple(STARTS) and {"reset", "student"} <= set(STARTS)
    assert names("teacher_reward") == tuple(REWARDS) and "improvement" in REWARDS
    assert names("teacher_kind") == tuple(KINDS) == ("independent", "variance")
    helps = build_parser().format_help()
    assert "{" + ",".join(STARTS) + "}" in helps and "{" + ",".join(REWARDS) + "}" in helps


def test_an_unknown_plugin_is_refused_by_every_entry(tmp_path):
    import baselines_meta

    with pytest.raises(UsageError, match="teacher_reward must be one of"):
        make_config(teacher_reward="curiosity")
    with pytest.raises(UsageError, match="invalid choice: 'curiosity'"):
        build_parser().parse_args(["--teacher_reward", "curiosity"])
    code = RunConfig(log_path=str(tmp_path / "r"), schedule=ScheduleConfig(teacher_start="middle"))
    with pytest.raises(UsageError, match="--teacher_start must be one of reset, student, got 'middle'"):
        baselines_meta.train(code)
    assert not (tmp_path / "r").exists()


def test_each_plugin_does_its_job():
    cfg = resolve(RunConfig())
    reset = make_start(cfg)
    assert reset.tape_for_pi() is None and reset.tape_for_d1() is None and reset.get_state() == {"tape": None}
    student = STARTS["student"](resolve(RunConfig(schedule=ScheduleConfig(teacher_start="student",
                                                                          meta_baseline="previous"))))
    assert student.tape_for_pi() is not None and student.tape_for_d1() is not None  # 'previous': D1 is recorded
    L = DDPGLearner(3, 1, DDPGConfig(noise_type="none"))
    assert mean_actor("independent", L) is None and mean_actor("variance", L) is L.actor
    assert resolve(RunConfig(alg="meta-variance")).teacher.kind == "variance"
    # improvement: Delta through the windowed standardisation (its first alone: its sign)
    imp = make_reward(cfg, np.random.default_rng(0))
    assert imp(-3.0, {}) == -1.0 and imp(1.0, {}) == pytest.approx(1.0)  # window [-3, 1]: (1 - (-1)) / 2
