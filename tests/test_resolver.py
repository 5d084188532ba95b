"""One resolver for every config (issue: config.json is what ran, on every path).

A RunConfig built in code, make_config (the API) and the command line resolve every task x preset x meta form x
algorithm alike, or refuse it alike with the same message; the settings of another algorithm are refused by one rule;
range and cross-field checks live in the config layer; a run's config.json is the resolved config, field by field."""
import dataclasses
import json
import os
import subprocess

import pytest
from conftest import PY, ROOT

from baselines_meta import make_config, paper
from baselines_meta.config import UNSET, RunConfig, ScheduleConfig, UsageError
from baselines_meta.flags import build_parser, config_from_args
from baselines_meta.resolve import alg_error, resolve, settings

ENVS = [t.env_id for t in paper.TASKS] + [t.env_id for t in paper.EXPLORATION]
ALGS = ("ddpg", "meta", "meta-variance")
# what names the invocation, not the run (config.json adds them; the resolved config holds log_path and the output)
INVOCATION = ("log_path", "log_formats", "progress_bar", "save_interval", "git_commit", "started", "budgets",
              "versions", "rank_seeds", "mpi_size")


def _three_ways(env, preset, form, alg):
    """(outcome of RunConfig in code, of make_config, of the CLI): each a RunConfig or the refusal's message."""
    def outcome(f):
        try:
            return f()
        except UsageError as e:
            return f"refused: {e}"

    code = outcome(lambda: resolve(RunConfig(alg=alg, env_id=env, preset=preset,
                                             schedule=ScheduleConfig(meta_form=form))))
    api = outcome(lambda: make_config(alg=alg, env=env, preset=preset, meta_form=form))
    cli = outcome(lambda: config_from_args(build_parser().parse_args(
        ["--alg", alg, "--env", env, "--preset", preset, "--meta_form", form])))
    return code, api, cli


@pytest.mark.parametrize("env", ENVS)
def test_every_entry_resolves_the_whole_matrix_alike(env):
    n_refused = 0
    for preset in ("paper", "none"):
        for form in ("ours", "literal"):
            for alg in ALGS:
                code, api, cli = _three_ways(env, preset, form, alg)
                assert code == api == cli, (env, preset, form, alg)
                if alg == "ddpg" and form == "literal":  # a ddpg config with a meta form
                    assert code == ("refused: --meta_form literal is a setting of --alg meta / meta-variance: "
                                    "--alg ddpg does not read it (drop it)")
                    n_refused += 1
                    continue
                assert isinstance(code, RunConfig) and resolve(code) == code  # resolving twice changes nothing
                task = paper.task(env)
                budget = task.budget if preset == "paper" and task else 1_000_000
                assert code.schedule.num_timesteps == budget
                lit = form == "literal" and alg != "ddpg"
                assert code.teacher.clip == (0.0 if lit else 0.2) and code.schedule.paired_starts is (not lit)
                assert code.schedule.meta_reward == ("sum" if lit else "return")
                assert code.ddpg.noise_type == ("adaptive-param_0.2" if alg == "ddpg" else "none")
    assert n_refused == 2


def test_the_reported_case_a_runconfig_built_in_code_gets_its_preset_and_form():
    """It once recorded preset paper and meta_form literal, yet ran 1M steps, |D0| 100, the return reward, paired
    starts, clip 0.2 and the window norm."""
    cfg = resolve(RunConfig(env_id="HalfCheetah-v4", schedule=ScheduleConfig(meta_form="literal")))
    s = cfg.schedule
    assert (s.num_timesteps, s.nb_explore_steps, s.meta_reward, s.paired_starts, cfg.teacher.clip, s.meta_reward_norm) \
        == (1_500_000, 1000, "sum", False, 0.0, "none")
    assert cfg == make_config(env="HalfCheetah-v4", meta_form="literal")
    # what the caller set wins over the preset and the form, from every entry
    mine = resolve(RunConfig(env_id="HalfCheetah-v4", schedule=ScheduleConfig(meta_form="literal", nb_explore_steps=7,
                                                                                meta_reward="return")))
    assert mine.schedule.nb_explore_steps == 7 and mine.schedule.meta_reward == "return" and mine.teacher.clip == 0.0
    assert mine == make_config(env="HalfCheetah-v4", meta_form="literal", nb_explore_steps=7, meta_reward="return")


def test_an_unresolved_config_cannot_start_a_run(tmp_path):
    from baselines_meta.runtime.context import RunContext

    raw = RunConfig(alg="ddpg", log_path=str(tmp_path / "r"))
    assert raw.schedule.num_timesteps is UNSET
    with pytest.raises(UsageError, match="the config is not resolved"):
        RunContext(raw)
    assert not os.path.exists(tmp_path / "r")


def _foreign_value(s):
    """A value of setting s other than the one an algorithm that does not read it records."""
    inert = s.field.metadata["inert"]
    from baselines_meta.flags import choices

    if choices(s):
        return next(c for c in choices(s) if c != inert)
    if isinstance(inert, bool):
        return not inert
    if isinstance(inert, int):
        return inert + 1
    if isinstance(inert, float):
        return inert + 0.1 * (abs(inert) or 1.0)
    return "ou_0.2"  # --noise_type


def _flag_args(s, v):
    if isinstance(v, bool):
        return [s.flag if v else "--no-" + s.flag[2:]]
    return [s.flag, str(v)]


def test_a_setting_of_another_algorithm_is_refused_by_one_rule_from_every_entry():
    from baselines_meta.flags import choices

    n = 0
    for s in settings().values():
        if s.reads is None or len(choices(s) or "xy") < 2:  # (a registry of one plug-in has no other value)
            continue
        v = _foreign_value(s)
        for alg in (a for a in ALGS if a not in s.reads):
            code = RunConfig(alg=alg)
            code = dataclasses.replace(code, **{s.section: dataclasses.replace(getattr(code, s.section),
                                                                               **{s.field.name: v})})
            msgs = []
            for f in (lambda: resolve(code), lambda: make_config(alg=alg, **{s.name: v}),
                      lambda: config_from_args(build_parser().parse_args(["--alg", alg, *_flag_args(s, v)]))):
                with pytest.raises(UsageError) as e:
                    f()
                msgs.append(str(e.value))
            assert len(set(msgs)) == 1 and f"--alg {alg} does not read it" in msgs[0], msgs
            assert msgs[0].startswith(" ".join(_flag_args(s, v))), msgs[0]
            n += 1
    assert n >= 20  # 14 schedule + 5 teacher settings of meta (for ddpg), 2 of ddpg's (for meta and meta-variance)
    # the value an algorithm records for a setting it does not read is no conflict (a config.json read back)
    assert alg_error(resolve(RunConfig(alg="ddpg"))) is None and alg_error(resolve(RunConfig(alg="meta"))) is None


@pytest.mark.parametrize("argv,needle", [
    (["--buffer_size", "10", "--batch_size", "64"], "--buffer_size 10 is smaller than --batch_size 64"),
    (["--critic_lr", "inf"], "--critic_lr must be a finite number, got 'inf'"),
    (["--teacher_log_std_min=-inf"], "--teacher_log_std_min must be a finite number"),
    (["--seed", "99999999999999999999"], r"--seed must be an integer in [0, 4294967295], got '99999999999999999999'"),
    (["--num_timestep", "10"], "unknown flag --num_timestep; did you mean --num_timesteps"),
    (["--nb_train", "3"], "unknown flag --nb_train; did you mean --nb_train_steps?"),
])
def test_range_checks_and_no_abbreviations(argv, needle):
    with pytest.raises(UsageError) as e:
        config_from_args(build_parser().parse_args(argv))
    assert needle in str(e.value)


def test_range_checks_hold_for_configs_built_in_code_and_the_api():
    from baselines_meta.config import DDPGConfig

    with pytest.raises(UsageError, match="--buffer_size 10 is smaller than --batch_size 64"):
        DDPGConfig(buffer_size=10)
    with pytest.raises(UsageError, match="--critic_lr must be a finite number, got inf"):
        DDPGConfig(critic_lr=float("inf"))
    with pytest.raises(UsageError, match="critic_lr: --critic_lr must be a finite number"):
        make_config(critic_lr=float("inf"))
    with pytest.raises(UsageError, match="--seed must be an integer in"):
        RunConfig(seed=2**32)
    from baselines_meta.resolve import seed_error

    assert seed_error(4294000000, 1) is None
    assert "rank 1 of 2 the seed 4295000000" in seed_error(4294000000, 2)


def test_typed_values_and_env_checks_name_the_field():
    """The API takes what the CLI takes (a string for a number); a dataclass built by hand wants typed values and its
    error names the field; env None or 123 is a UsageError, not an AttributeError."""
    assert make_config(num_timesteps="10").schedule.num_timesteps == 10
    with pytest.raises(UsageError, match="--num_timesteps must be a positive integer, got '10'"):
        ScheduleConfig(num_timesteps="10")
    for bad in (None, 123, ""):
        with pytest.raises(UsageError, match="env"):
            make_config(env=bad)
    with pytest.raises(UsageError, match="--env needs a value, got None"):
        RunConfig(env_id=None)
    with pytest.raises(UsageError, match="--env must be a non-empty string, got 123"):
        RunConfig(env_id=123)
    import baselines_meta

    for bad in (None, 123):
        with pytest.raises(UsageError):
            baselines_meta.train(env=bad)
    with pytest.raises(UsageError, match="RunConfig.schedule must be a ScheduleConfig"):
        RunConfig(schedule={"num_timesteps": 10})


def _tree(d):
    """{relative path: bytes} of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def _run(*args, cwd=ROOT, mpi_np=0):
    cmd = [PY, "-m", "baselines_meta.run", *args]
    if mpi_np:
        from test_cli import MPIEXEC

        cmd = [MPIEXEC, "-n", str(mpi_np)] + cmd
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def _one_line(r):
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return lines[0]


@pytest.mark.slow
def test_the_cli_refuses_before_writing_anything(tmp_path):
    d = str(tmp_path / "run")
    os.makedirs(tmp_path / "adir")
    short = ["--num_timesteps", "400", "--log_path", d, "--log_formats", "csv", "--no-progress_bar"]
    cases = [
        (["--alg", "ddpg", "--meta_form", "literal", "--nb_teacher_steps", "7"], "is a setting of --alg meta / meta-variance"),
        (["--critic_lr", "inf"], "--critic_lr must be a finite number"),
        (["--buffer_size", "8"], "--buffer_size 8 is smaller than --batch_size 64"),
        (["--seed", "99999999999999999999"], "--seed must be an integer in"),
        (["--save_path", str(tmp_path / "adir")], "is a directory"),
        (["--num_timestep", "10"], "did you mean --num_timesteps"),
        (["--env", "CartPole-v1"], "CartPole-v1"),
    ]
    for extra, needle in cases:
        r = _run(*short, *extra)
        assert r.returncode == 2 and needle in _one_line(r), (extra, r.stderr[-2000:])
        assert not os.path.exists(d), extra
    r = _run(*short, "--seed", "4294000000", mpi_np=2)
    assert r.returncode == 2 and "rank 1 of 2 the seed 4295000000" in _one_line(r)
    assert not os.path.exists(d)


@pytest.mark.slow
def test_config_json_is_the_resolved_config_field_by_field(tmp_path):
    """A few combinations of the matrix, run for a few hundred steps from each entry: config.json holds the resolved
    config, whatever names the invocation aside; the reported HalfCheetah case among them."""
    def recorded(d):
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)

    def compare(d, cfg):
        rec = recorded(d)
        want = cfg.to_dict()
        for key in set(rec) | set(want):
            if key in INVOCATION:
                continue
            assert rec.get(key) == json.loads(json.dumps(want.get(key), default=str)), key

    import baselines_meta

    a = str(tmp_path / "code")  # a RunConfig built in code: HalfCheetah, the literal form, the paper preset
    code = RunConfig(env_id="HalfCheetah-v4", log_path=a, log_formats="csv", progress_bar=False,
                     schedule=ScheduleConfig(meta_form="literal", eval_episodes=0))
    cut = dataclasses.replace(code, schedule=dataclasses.replace(code.schedule, num_timesteps=300, nb_explore_steps=100,
                                                                 nb_eval_steps=100))
    baselines_meta.train(cut)
    compare(a, resolve(cut))
    rec = recorded(a)
    assert rec["schedule"]["meta_reward"] == "sum" and rec["teacher"]["clip"] == 0.0 and rec["preset"] == "paper"
    assert rec["schedule"]["nb_train_steps"] == 500 and rec["schedule"]["nb_teacher_steps"] == 100  # the LONG schedule

    b = str(tmp_path / "api")  # make_config's names: meta-variance on Reacher without the preset
    baselines_meta.train(alg="meta-variance", env="Reacher-v4", preset="none", num_timesteps="500", log_path=b,
                         log_formats="csv", progress_bar=False, eval_episodes=0)
    compare(b, make_config(alg="meta-variance", env="Reacher-v4", preset="none", num_timesteps=500, log_path=b,
                           log_formats="csv", progress_bar=False, eval_episodes=0))

    c = str(tmp_path / "cli")  # the command line: ddpg on Pendulum with the paper preset
    argv = ["--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "400", "--eval_interval", "200",
            "--eval_episodes", "1", "--log_path", c, "--log_formats", "csv", "--no-progress_bar"]
    r = _run(*argv)
    assert r.returncode == 0, r.stderr[-2000:]
    compare(c, config_from_args(build_parser().parse_args(argv)))


def test_every_committed_config_json_reads_back_as_what_it_records():
    """The resolver must not reinterpret a finished run: each committed config.json reads strictly (unknown keys
    refused) and its resolved config holds exactly the file's settings."""
    import glob

    from baselines_meta.resolve import INVOCATION_KEYS, RETIRED, flat, from_dict

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from walk(v, f"{prefix}{k}.")
            else:
                yield prefix + k, tuple(v) if isinstance(v, list) else v

    paths = glob.glob(os.path.join(ROOT, "results", "**", "config.json"), recursive=True)
    assert len(paths) > 400
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        got = flat(from_dict(d, where=p))
        for k, v in walk({k: v for k, v in d.items() if k not in INVOCATION_KEYS + tuple(RETIRED)}):
            assert got[k] == v or k == "log_path", (p, k)
