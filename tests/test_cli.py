"""End-to-end: the CLI, its files and keys, MPI, determinism, the step budget, bad input."""
import csv
import json
import os
import subprocess

import numpy as np
import pytest
from conftest import PY, ROOT

pytestmark = pytest.mark.slow  # subprocess runs: not in the fast tier (run/test -m 'not slow')

MPIEXEC = os.path.join(os.path.dirname(PY), "mpiexec")
DDPG_KEYS = ["rollout/return", "rollout/return_history", "rollout/episode_steps", "rollout/actions_mean", "rollout/Q_mean",
             "train/loss_actor", "train/loss_critic", "total/duration", "total/steps", "total/steps_per_second",
             "total/episodes", "total/epochs", "eval/return", "eval/return_std", "total/env_steps", "time/fps",
             "obs_rms_mean", "obs_rms_std", "reference_Q_mean", "eval/Q", "eval/return_history",
             "total/env_steps_per_second", "total/env_episodes"]
META_KEYS = ["meta/reward", "meta/reward_used", "meta/R_pi", "meta/R_pi_prime", "teacher/loss", "teacher/entropy",
             "teacher/log_std_mean", "teacher/action_mean", "teacher/action_std", "explore/return", "baseline/return",
             "meta/reward_mean", "meta/reward_std", "meta/reward_pos_frac", "meta/reward_zero_frac", "teacher/drift",
             "teacher/kl_init"]
TIME_KEYS = {"total/duration", "total/steps_per_second", "total/env_steps_per_second", "time/fps"}


def cli(*args, env=None, mpi_np=0, timeout=600):
    cmd = [PY, "-m", "baselines_meta.run", *args]
    if mpi_np:
        cmd = [MPIEXEC, "-n", str(mpi_np)] + cmd
    e = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def check_run_dir(d, keys, n_ranks=1, eval_episodes=2):
    for name in ("progress.csv", "log.txt", "config.json", "evaluations.csv"):
        assert os.path.exists(os.path.join(d, name)), name
    for r in range(n_ranks):
        mon = open(os.path.join(d, f"{r}.monitor.csv")).read().splitlines()
        assert mon[0].startswith("#{") and mon[1] == "r,l,t"
    prog = rows(os.path.join(d, "progress.csv"))
    assert prog and all(k in prog[0] for k in keys), set(keys) - set(prog[0])
    ev = rows(os.path.join(d, "evaluations.csv"))
    assert ev and len([k for k in ev[0] if k.startswith("return_")]) == eval_episodes
    cfg = json.load(open(os.path.join(d, "config.json")))
    for pkg in ("tensorflow", "tensorflow-probability", "gymnasium", "mujoco", "numpy", "mpi4py"):
        assert cfg["versions"][pkg]
    assert "git_commit" in cfg and cfg["mpi_size"] == n_ranks
    assert cfg["ddpg"]["actor_lr"] == 1e-4 and cfg["teacher"]["lr"] == 1e-4
    return prog, ev, cfg


def test_help_lists_hyperparameters_with_defaults():
    r = cli("--help")
    assert r.returncode == 0
    for flag in ("--actor_lr", "--critic_lr", "--tau", "--gamma", "--noise_type", "--nb_explore_steps", "--nb_eval_steps",
                 "--nb_teacher_steps", "--teacher_lr", "--num_timesteps", "--eval_interval", "--lookahead", "--meta_reward"):
        assert flag in r.stdout
    assert "[default 0.0001" in r.stdout and "adaptive-param_0.2" in r.stdout


def test_ddpg_pendulum_smoke(tmp_path):
    d = str(tmp_path / "run")
    r = cli("--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "2000", "--nb_epoch_cycles", "5",
            "--eval_interval", "1000", "--eval_episodes", "2", "--log_path", d, "--log_formats", "stdout,log,csv,json")
    assert r.returncode == 0, r.stderr[-2000:]
    prog, ev, cfg = check_run_dir(d, DDPG_KEYS)
    assert len(prog) == 2 and [int(e["steps"]) for e in ev] == [1000, 2000]
    assert int(float(prog[-1]["total/steps"])) == 2000 and os.path.exists(os.path.join(d, "progress.json"))
    assert "train/param_noise_distance" in prog[0] and "eval/return" in r.stdout
    assert "reference_perturbed_action_mean" in prog[0] and "reference_perturbed_action_std" in prog[0]
    # eval/return_history: mean of the last 100 evaluation returns (here all of them)
    all_eval = [float(v) for e in ev for k, v in e.items() if k.startswith("return_")]
    assert float(prog[-1]["eval/return_history"]) == pytest.approx(np.mean(all_eval), rel=1e-5)
    mon = rows_monitor(d, 0)
    assert len(mon) == 10 and all(int(m["l"]) == 200 for m in mon)  # 2000 steps of 200-step episodes


def rows_monitor(d, rank, tag=""):
    lines = open(os.path.join(d, f"{rank}{'.' + tag if tag else ''}.monitor.csv")).read().splitlines()[1:]
    return list(csv.DictReader(lines))


def test_ddpg_hopper_smoke(tmp_path):
    d = str(tmp_path / "run")
    r = cli("--alg", "ddpg", "--env", "Hopper-v4", "--num_timesteps", "1000", "--nb_epoch_cycles", "5",
            "--eval_interval", "1000", "--eval_episodes", "2", "--log_path", d, "--noise_type", "ou_0.2")
    assert r.returncode == 0, r.stderr[-2000:]
    check_run_dir(d, DDPG_KEYS)


@pytest.mark.parametrize("alg", ["meta", "meta-variance"])
def test_meta_pendulum_smoke(tmp_path, alg):
    d = str(tmp_path / "run")
    r = cli("--alg", alg, "--env", "Pendulum-v1", "--num_timesteps", "2000", "--nb_epoch_cycles", "3",
            "--eval_interval", "1000", "--eval_episodes", "2", "--log_path", d)
    assert r.returncode == 0, r.stderr[-2000:]
    prog, ev, cfg = check_run_dir(d, DDPG_KEYS + META_KEYS)
    assert cfg["teacher"]["kind"] == ("variance" if alg == "meta-variance" else "independent")
    # cycles of D_pi 200 + D0 100 + D1 200: the budget is met exactly
    assert int(float(prog[-1]["total/steps"])) == 2000 and int(ev[-1]["steps"]) == 2000
    from baselines_meta.resolve import from_dict

    # the cycle-size function (the bench counts epochs with it) against the steps the first epoch counted
    assert int(float(prog[0]["total/steps"])) == 3 * from_dict(cfg).cycle_env_steps() == 1500
    assert cfg["ddpg"]["noise_type"] == "none"  # the config records what ran: the teacher, no action noise
    assert os.path.exists(os.path.join(d, "0.d1.monitor.csv"))


@pytest.mark.parametrize("lookahead", ["inplace", "copy"])
def test_meta_d0_d1_in_replay_and_budget(tmp_path, lookahead):
    from baselines_meta.api import train
    from baselines_meta.flags import build_parser, config_from_args

    a = build_parser().parse_args(["--alg", "meta", "--env", "Pendulum-v1", "--num_timesteps", "1150", "--nb_train_steps", "5",
                                   "--eval_episodes", "1", "--log_path", str(tmp_path / "r"), "--log_formats", "csv",
                                   "--lookahead", lookahead])
    out = train(config_from_args(a))
    # 2 cycles of D_pi 200 + D0 100 + D1 200, and a last cycle of 150 (D_pi only)
    assert out.steps == 1150 and len(out.buffer) == 1150
    # in place: 5 steps on D0 and 5 on B per full cycle, 5 on B in the last; copy: the D0 steps are undone
    n = 2 * 2 * 5 + 5 if lookahead == "inplace" else 2 * 5 + 5
    assert int(out.learner.train_steps.numpy()) == n
    assert int(out.teacher.teacher_steps.numpy()) == 2


@pytest.mark.parametrize("form", ["literal", "ours"])
def test_literal_form_replay_and_continued_rollouts(tmp_path, form):
    """--meta_form literal: only the first D_pi enters B (line 3), D0 and D1 every cycle (line 9); D_pi and D1
    continue their episodes across cycles (150-step rollouts finish 200-step Pendulum episodes, where rollouts from
    fresh resets never do); R is the rollout's reward sum."""
    from baselines_meta.api import train
    from baselines_meta.flags import build_parser, config_from_args

    d = tmp_path / "r"
    a = build_parser().parse_args(["--alg", "meta", "--env", "Pendulum-v1", "--num_timesteps", "1600", "--nb_train_steps", "5",
                                   "--nb_eval_steps", "150", "--nb_epoch_cycles", "4", "--eval_episodes", "0",
                                   "--meta_form", form, "--log_path", str(d), "--log_formats", "csv"])
    out = train(config_from_args(a))
    assert out.steps == 1600  # 4 cycles of 150 + 100 + 150
    d1 = open(d / "0.d1.monitor.csv").read().splitlines()[2:]
    if form == "literal":
        assert len(out.buffer) == 150 + 4 * 250
        assert [l.split(",")[1] for l in d1] == ["200"] * 3  # 600 continued steps: three whole episodes
        assert int(out.teacher.teacher_steps.numpy()) == 4
    else:
        assert len(out.buffer) == 1600 and d1 == []
    prog = rows(d / "progress.csv")
    assert 0.0 <= float(prog[0]["meta/reward_zero_frac"]) <= 1.0


def _strip_time(prog):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in prog]


@pytest.mark.parametrize("alg", ["ddpg", "meta"])
def test_seeded_runs_are_identical(tmp_path, alg):
    outs = []
    for i in range(2):
        d = str(tmp_path / f"run{i}")
        r = cli("--alg", alg, "--env", "Pendulum-v1", "--num_timesteps", "1200", "--nb_epoch_cycles", "3", "--seed", "7",
                "--eval_interval", "600", "--eval_episodes", "1", "--log_path", d, "--log_formats", "csv")
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append((_strip_time(rows(os.path.join(d, "progress.csv"))), rows(os.path.join(d, "evaluations.csv"))))
    assert outs[0] == outs[1]
    d = str(tmp_path / "other")
    r = cli("--alg", alg, "--env", "Pendulum-v1", "--num_timesteps", "1200", "--nb_epoch_cycles", "3", "--seed", "8",
            "--eval_interval", "600", "--eval_episodes", "1", "--log_path", d, "--log_formats", "csv")
    assert _strip_time(rows(os.path.join(d, "progress.csv"))) != outs[0][0]


@pytest.mark.parametrize("alg", ["ddpg", pytest.param("meta", marks=pytest.mark.long)])
def test_two_ranks_identical_weights_different_envs(tmp_path, alg):
    d = str(tmp_path / "run")
    cmd = [MPIEXEC, "-n", "2", PY, os.path.join(ROOT, "tests", "mpi_worker.py"), str(tmp_path), "--alg", alg,
           "--env", "Pendulum-v1", "--num_timesteps", "1000", "--nb_epoch_cycles", "2", "--nb_train_steps", "10",
           "--eval_interval", "1000", "--eval_episodes", "3", "--log_path", d, "--log_formats", "csv,log"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    # 2 ranks exchange batches (exchange.MEASURED); the ranks' weights are checked equal at every epoch and here
    assert "MPI: 2 ranks exchange batches (auto" in open(os.path.join(d, "log.txt")).read()
    w0, w1 = (np.load(str(tmp_path / f"weights.{k}.npz")) for k in (0, 1))
    assert len(w0.files) > 10
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    prog, ev, cfg = check_run_dir(d, DDPG_KEYS + (META_KEYS if alg == "meta" else []), n_ranks=2, eval_episodes=3)
    assert cfg["rank_seeds"] == [0, 1_000_000]
    assert int(float(prog[-1]["total/env_steps"])) == 2000
    # baselines' total/* are per-worker figures averaged over ranks; the all-worker totals have env_ names
    for r in prog:
        assert float(r["total/episodes"]) == pytest.approx(float(r["total/env_episodes"]) / 2)
        assert float(r["total/steps_per_second"]) == pytest.approx(float(r["total/env_steps_per_second"]) / 2)
    assert float(prog[-1]["total/env_episodes"]) == len(rows_monitor(d, 0)) + len(rows_monitor(d, 1))
    assert rows_monitor(d, 0) != rows_monitor(d, 1)  # different env seeds give different episodes


@pytest.mark.parametrize("args,needle", [
    (["--env", "Hoper-v4"], "did you mean Hopper-v4"),
    (["--env", "CartPole-v1"], "Box"),
    (["--num_timesteps", "-5"], "positive integer"),
    (["--num_timesteps", "abc"], "positive integer"),
    (["--alg", "ddpg", "--noise_type", "gauss_0.1"], "unknown noise type"),
    (["--noise_type", "ou_0.2"], "--noise_type ou_0.2 is a setting of --alg ddpg"),  # (meta's teacher replaces the noise)
    (["--meta_form", "literal", "--paired_starts"], "--paired_starts needs --rollout_starts reset"),
    (["--teacher_init_log_std", "1"], "--teacher_init_log_std must lie strictly between"),
    (["--actor_lr", "x"], "must be a number"),
    (["--actr_lr", "0.1"], "did you mean --actor_lr"),
    (["--log_formats", "csv,xml"], "unknown log format"),
])
def test_bad_input_one_line_exit_2(args, needle):
    r = cli(*args, "--num_timesteps", "100") if "--num_timesteps" not in args else cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(err) == 1 and needle in err[0], r.stderr
    assert "Traceback" not in r.stderr


def test_existing_run_dir_is_not_touched(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "progress.csv").write_text("keep me")
    r = cli("--alg", "ddpg", "--num_timesteps", "200", "--log_path", str(d))
    assert r.returncode == 2 and "--overwrite" in r.stderr and "Traceback" not in r.stderr
    assert (d / "progress.csv").read_text() == "keep me" and (d / "config.json").read_text() == "{}"


@pytest.mark.parametrize("alg", ["ddpg", "meta"])
def test_learns_pendulum(tmp_path, alg):
    """Pendulum-v1 within 30,000 steps: best evaluation (mean of 10 episodes) above -400 (about 20 s each here)."""
    d = str(tmp_path / "run")
    r = cli("--alg", alg, "--env", "Pendulum-v1", "--num_timesteps", "30000", "--eval_interval", "2000",
            "--log_path", d, "--log_formats", "csv,log", timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = rows(os.path.join(d, "evaluations.csv"))
    best = max(np.mean([float(v) for k, v in e.items() if k.startswith("return_")]) for e in ev)
    assert best > -400, best


@pytest.mark.long
def test_tensorflow_start_up_lines_hidden_unless_asked_for(tmp_path):
    """A bad env id: exactly our one line on stderr, no 'Could not find cuda drivers' or absl warnings. A short run:
    nothing on stderr; with TF_CPP_MIN_LOG_LEVEL set by the user, TensorFlow prints what that level allows."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([PY, "-m", "baselines_meta.run", "--env", "Nope-v1"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.splitlines() == [r.stderr.strip()] and "unknown environment id" in r.stderr
    run = [PY, "-m", "baselines_meta.run", "--alg", "ddpg", "--num_timesteps", "200", "--eval_episodes", "0",
           "--log_formats", "csv"]
    r = subprocess.run(run + ["--log_path", str(tmp_path / "a")], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == ""
    r = subprocess.run(run + ["--log_path", str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True,
                       env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"))
    assert r.returncode == 0 and len(r.stderr.splitlines()) > 1
