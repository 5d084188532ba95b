"""The paper's tasks, budgets and schedules (Section 5.1) and the family helper, read by the CLI, compare and table."""
from baselines_meta import paper
from baselines_meta.flags import build_parser, config_from_args


def test_family_of_plain_versioned_and_namespaced_ids():
    assert paper.family("InvertedPendulum-v4") == "InvertedPendulum"
    assert paper.family("InvertedDoublePendulum-v5") == "InvertedDoublePendulum"
    assert paper.family("gymnasium/Hopper-v5") == "Hopper"
    assert paper.task("MountainCarContinuous-v0") is None


def test_paper_preset_budgets_and_schedules():
    cfg = config_from_args(build_parser().parse_args(["--alg", "meta", "--env", "HalfCheetah-v4"]))
    s = cfg.schedule
    assert (s.num_timesteps, s.nb_explore_steps, s.nb_eval_steps, s.nb_train_steps, s.nb_teacher_steps) == (1_500_000, 1000, 2000, 500, 100)
    d = config_from_args(build_parser().parse_args(["--alg", "ddpg", "--env", "HalfCheetah-v4"])).schedule
    assert (d.num_timesteps, d.nb_rollout_steps, d.nb_train_steps) == (1_500_000, 200, 50)  # ddpg keeps Table 1
    r = config_from_args(build_parser().parse_args(["--alg", "meta", "--env", "Reacher-v4", "--nb_teacher_steps", "3"])).schedule
    assert (r.num_timesteps, r.nb_explore_steps, r.nb_teacher_steps) == (700_000, 100, 3)  # a typed flag wins
    budgets = {t.family: t.budget for t in paper.TASKS}
    assert budgets == {"HalfCheetah": 1_500_000, "InvertedPendulum": 1_500_000, "InvertedDoublePendulum": 1_500_000,
                       "Hopper": 1_000_000, "Reacher": 700_000, "Pendulum": 900_000}
    assert paper.preset("Acrobot-v1", "meta") == {}


def test_the_algorithm_decides_the_teacher_kind():
    import pytest

    from baselines_meta.config import RunConfig, TeacherConfig

    assert RunConfig(alg="meta-variance").teacher.kind == "variance"
    assert RunConfig(alg="meta", teacher=TeacherConfig(kind="variance")).teacher.kind == "independent"
    from baselines_meta.resolve import from_dict, resolve

    assert from_dict(resolve(RunConfig(alg="meta-variance")).to_dict()).teacher.kind == "variance"
    with pytest.raises(ValueError, match="alg must be one of"):
        RunConfig(alg="td3")
