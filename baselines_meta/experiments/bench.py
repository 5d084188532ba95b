"""Throughput benchmark: `python -m baselines_meta.bench --env Hopper-v4` (or `--env all`).

Measures, in one process on this machine, the median over repetitions of:
  raw env speed (random actions), acting speed (deterministic actor, teacher sampling) in the env loop,
  DDPG and meta training speed with the paper schedule (env steps per second, evaluation off), in steady state
  (epochs after a warm-up epoch, from time/fps) and over the whole run (steps / total/duration of the last row:
  network construction, XLA compilation, checkpoints and early short episodes included),
  DDPG on baselines' own schedule (100 rollout and 50 train steps per cycle, normal_0.2 action noise; the schedule
  of the Stable-Baselines3 comparison), whole run of --sb3_steps steps and steady state,
each as a fraction of the raw env speed and as projected hours per 1M steps; the peak resident memory of a worker
holding a full 1M-transition replay buffer (measured in a child process); with `--mpi 2` the 2-rank throughput
against 1 rank, and the per-rank throughput of whole runs against one worker pinned to one core for both MPI
exchange paths (bench_mpi). Writes <out>/<env>.json and .md, <out> logs/bench by default (git ignores logs/;
`--out results/bench` replaces the committed tables). With `--scaling`, only the MPI cost model's measurements, fit
and predictions: <out>/mpi_scaling.{json,md}. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from baselines_meta import paper
from baselines_meta.analysis.cli import ToolParser, dir_error
from baselines_meta.experiments import bench_mpi


def _quiet():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # as api.quiet_tf


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux's ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def bench_env(env_id: str, seconds: float, reps: int) -> list[float]:
    """Raw env speed: env steps per second of random actions, one value per repetition of `seconds`."""
    from baselines_meta.runtime.envs import make_env

    env = make_env(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    out = []
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            _, _, te, tr, _ = env.step(env.action_space.sample())
            n += 1
            if te or tr:
                env.reset()
        out.append(n / (time.perf_counter() - t0))
    return out


def bench_acting(env_id: str, seconds: float, reps: int) -> dict[str, list[float]]:
    """Acting speed in the env loop, steps per second per repetition, of the deterministic actor and of teacher sampling."""
    import numpy as np

    from baselines_meta.config import DDPGConfig, TeacherConfig
    from baselines_meta.ddpg.learner import DDPGLearner
    from baselines_meta.ddpg.policy import DDPGPolicy
    from baselines_meta.meta.teacher import TeacherLearner, TeacherPolicy
    from baselines_meta.runtime.envs import EnvRunner, make_env

    runner = EnvRunner(make_env(env_id), seed=0)
    L = DDPGLearner(runner.obs_dim, runner.act_dim, DDPGConfig(noise_type="none"))
    L.obs_rms.update(np.random.default_rng(0).normal(size=(100, runner.obs_dim)))
    T = TeacherLearner(runner.obs_dim, runner.act_dim, TeacherConfig(), L.obs_rms, 5.0)
    pol = DDPGPolicy(L, np.random.default_rng(0))
    tea = TeacherPolicy(T, np.random.default_rng(0))
    out = {}
    for name, act in (("actor", pol.greedy), ("teacher", tea.sample)):
        runner.run(200, act)
        res = []
        for _ in range(reps):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                runner.run(200, act)
                n += 200
            res.append(n / (time.perf_counter() - t0))
        out[name] = res
    return out


class Training(NamedTuple):
    """Training throughput of one benchmark run: steady state per epoch, and over the whole run."""
    steady: list[float]  # env steps/s of each epoch after the first (time/fps)
    whole: float  # env steps/s of the whole run: steps / total/duration of the last row


def training_child(env_id: str, alg: str, epochs: int, **schedule) -> Training:
    """bench_training in a fresh process, as a user's run: its own TF set-up (one thread) and XLA compilation."""
    return Training(**_child(["--child-training", env_id, alg, str(epochs), json.dumps(schedule)]))


def bench_training(env_id: str, alg: str, epochs: int, **schedule) -> Training:
    """A run of `epochs` epochs after a warm-up epoch (or schedule['num_timesteps'] steps), evaluation off."""
    import csv

    from baselines_meta.api import train
    from baselines_meta.config import DDPGConfig, RunConfig, ScheduleConfig
    from baselines_meta.resolve import resolve

    noise = schedule.pop("noise_type", None)
    sch = dataclasses.replace(ScheduleConfig(), eval_episodes=0, eval_interval=10**9, **schedule)
    ddpg = DDPGConfig() if noise is None else DDPGConfig(noise_type=noise)
    # the plain schedule (no paper preset: the bench has always timed the 100 / 200 / 50 / 1 cycle on every task)
    cfg = resolve(RunConfig(alg=alg, env_id=env_id, seed=0, preset="none", log_formats="csv", progress_bar=False,
                            ddpg=ddpg, schedule=sch))
    sch = cfg.schedule
    if "num_timesteps" not in schedule:  # the warm-up epoch and `epochs` more, each of whole cycles (D_pi counted)
        per_epoch = sch.nb_epoch_cycles * cfg.cycle_env_steps()
        first = cfg.cycle_env_steps(first=True) - cfg.cycle_env_steps()  # 'previous': the first cycle's D_pi
        cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(sch, num_timesteps=per_epoch * (epochs + 1) + first))
    from baselines_meta.common import mpi

    tmp = tempfile.TemporaryDirectory() if mpi.rank() == 0 else None
    d = mpi.COMM.bcast(tmp.name if tmp else None, root=0)  # rank 0 alone writes the logs
    try:
        train(dataclasses.replace(cfg, log_path=os.path.join(d, "run")))
        if mpi.rank() != 0:
            return Training([], float("nan"))
        with open(os.path.join(d, "run", "progress.csv")) as f:
            rows = list(csv.DictReader(f))
    finally:
        mpi.COMM.Barrier()
        if tmp is not None:
            tmp.cleanup()
    return Training([float(r["time/fps"]) for r in rows[1:]], float(rows[-1]["total/env_steps_per_second"]))


def memory_probe(env_id: str) -> dict:
    """Child-process body: a learner and a full 1M-transition replay buffer, training steps and two checkpoints
    (the first writes the whole buffer, the second only one epoch's 4000 new transitions); peak RSS."""
    import numpy as np

    from baselines_meta.common.replay import ReplayBuffer
    from baselines_meta.common.trainer import Trainer
    from baselines_meta.config import DDPGConfig
    from baselines_meta.ddpg.learner import DDPGLearner
    from baselines_meta.runtime.envs import make_env
    from baselines_meta.storage.checkpoint import Checkpointer

    env = make_env(env_id)
    O, A = env.observation_space.shape[0], env.action_space.shape[0]
    cfg = DDPGConfig()
    L = DDPGLearner(O, A, cfg)
    buf = ReplayBuffer(cfg.buffer_size, O, A)
    rng = np.random.default_rng(0)

    def fill(n):
        buf.add_many(rng.normal(size=(n, O)).astype(np.float32), rng.uniform(-1, 1, (n, A)).astype(np.float32),
                     rng.normal(size=n).astype(np.float32), rng.normal(size=(n, O)).astype(np.float32),
                     np.zeros(n, bool), np.zeros(n, bool))

    chunk = 100_000
    for _ in range(cfg.buffer_size // chunk):
        fill(chunk)
    steps = Trainer(L)
    for _ in range(20):
        steps.fused(buf.sample(rng, cfg.batch_size, 50))
    with tempfile.TemporaryDirectory() as d:
        ck = Checkpointer(d, 0)
        ck.track_replay(buf)
        t0 = time.perf_counter()
        ck.save(0, 0, {"learner": L.get_state()})
        full = time.perf_counter() - t0
        fill(4000)
        t0 = time.perf_counter()
        ck.save(1, 1, {"learner": L.get_state()})
        epoch = time.perf_counter() - t0
    return {"replay_transitions": len(buf), "replay_mb": sum(a.nbytes for a in (buf.obs0, buf.obs1, buf.actions, buf.rewards,
            buf.terminated, buf.truncated)) / 2**20, "peak_rss_mb": peak_rss_mb(),
            "checkpoint_full_buffer_s": full, "checkpoint_one_epoch_s": epoch}


def _child(args: list[str], mpi_np: int = 0) -> dict:
    cmd = [sys.executable, "-m", "baselines_meta.bench", *args]
    if mpi_np:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(mpi_np)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def mpi_training(env_id: str, alg: str, epochs: int) -> float:
    """Child body under mpiexec: all ranks train; rank 0 prints the median all-worker env steps/s."""
    from baselines_meta.common import mpi

    fps = bench_training(env_id, alg, epochs).steady  # time/fps already counts the steps of every rank
    return statistics.median(fps) if mpi.rank() == 0 else float("nan")


def figures(what: str, steps_per_s: float, raw: float, reps: int) -> dict:
    """One table row: env steps per second, as a fraction of the raw env's, and hours per 1M env steps."""
    return {"what": what, "steps_per_s": steps_per_s, "fraction_of_raw": steps_per_s / raw,
            "hours_per_1M": 1e6 / steps_per_s / 3600, "reps": reps}


def run_env(env_id: str, a) -> dict:
    """Every measurement for one env: the table rows, MPI rows with --mpi, memory, machine and versions."""
    raw = statistics.median(bench_env(env_id, a.seconds, a.reps))
    acting = {k: statistics.median(v) for k, v in bench_acting(env_id, a.seconds, a.reps).items()}
    res = {"env": env_id, "raw_env": raw, "rows": []}

    def row(name, values):
        res["rows"].append(figures(name, statistics.median(values), raw, len(values)))

    row("raw env (random actions)", [raw])
    row("acting: deterministic actor", [acting["actor"]])
    row("acting: teacher sampling", [acting["teacher"]])
    for alg in ("ddpg", "meta"):
        t = training_child(env_id, alg, a.epochs)
        row(f"training: {alg} (paper schedule)", t.steady)
        row(f"training: {alg} (paper schedule), whole run", [t.whole])
    if a.sb3_steps:
        t = training_child(env_id, "ddpg", 0, num_timesteps=a.sb3_steps, nb_rollout_steps=100, nb_train_steps=50,
                           noise_type="normal_0.2")
        row("training: ddpg (baselines schedule)", t.steady)
        row(f"training: ddpg (baselines schedule), whole run of {a.sb3_steps:,} steps", [t.whole])
    if a.mpi > 1:
        for alg in ("ddpg", "meta"):
            one = [r for r in res["rows"] if r["what"] == f"training: {alg} (paper schedule)"][0]["steps_per_s"]
            multi = _child(["--child-mpi", env_id, alg, str(a.epochs)], mpi_np=a.mpi)["fps"]
            res["rows"].append({**figures(f"training: {alg}, {a.mpi} ranks (all workers)", multi, raw, a.epochs),
                                "speedup_vs_1_rank": multi / one})
        res["per_rank"] = bench_mpi.per_rank_rows(env_id, a.mpi, a.whole_steps, baseline_code=a.baseline_code,
                                                  reps=a.whole_reps)
        res["whole_steps"] = a.whole_steps
    res["memory"] = _child(["--child-memory", env_id])
    res["peak_rss_mb_this_process"] = peak_rss_mb()
    res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    from baselines_meta.storage.rundir import git_commit, package_versions

    res["versions"] = package_versions()
    res["git_commit"] = git_commit()
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return res


def markdown(res: dict) -> str:
    """The markdown report (results/bench/<env>.md) of `run_env`'s results."""
    lines = [f"# Benchmark: {res['env']}", "",
             f"{res['date']}, commit {res['git_commit']}, {res['machine']['cpus']} CPUs, {res['machine']['platform']}", "",
             "| what | env steps/s | fraction of raw env | hours per 1M steps |", "| --- | ---: | ---: | ---: |"]
    for r in res["rows"]:
        extra = f" ({r['speedup_vs_1_rank']:.2f}x one rank)" if "speedup_vs_1_rank" in r else ""
        lines.append(f"| {r['what']}{extra} | {r['steps_per_s']:,.0f} | {r['fraction_of_raw']:.2f} | {r['hours_per_1M']:.2f} |")
    m = res["memory"]
    lines += ["", f"Peak resident memory of one worker with a full replay buffer ({m['replay_transitions']:,} transitions, "
              f"{m['replay_mb']:.0f} MiB of arrays) after 1000 training steps and two checkpoints: **{m['peak_rss_mb']:.0f} MiB**.", "",
              f"Checkpoint with that buffer: {m['checkpoint_full_buffer_s']:.2f} s the first time (the whole buffer), "
              f"{m['checkpoint_one_epoch_s'] * 1e3:.0f} ms for the next epoch's (its 4,000 new transitions).", "",
              "Medians over repetitions (training: one per epoch of 20 cycles after a warm-up epoch; evaluation off). "
              "A whole run is its steps over its `total/duration`: from the run's start (before the networks are built) "
              "to its last epoch row, XLA compilation, checkpoints and early short episodes included."]
    if "per_rank" in res:
        lines += bench_mpi.per_rank_markdown(res["per_rank"], res["whole_steps"])
    return "\n".join(lines) + "\n"


def parser() -> ToolParser:
    """The command line of `python -m baselines_meta.bench` and of its child processes."""
    p = ToolParser(prog="python -m baselines_meta.bench", description=__doc__.split("\n")[0])
    p.add_argument("--env", default="Hopper-v4", help="env id, or 'all' for the six paper tasks")
    p.add_argument("--reps", type=int, default=5, help="repetitions of the env and acting measurements")
    p.add_argument("--seconds", type=float, default=1.0, help="length of one env / acting repetition")
    p.add_argument("--epochs", type=int, default=3, help="timed training epochs (after one warm-up epoch)")
    p.add_argument("--mpi", type=int, default=1, help="also measure N-rank training throughput")
    p.add_argument("--sb3_steps", type=int, default=60_000,
                   help="steps of the ddpg run on baselines' schedule (the SB3 comparison); 0: skip it")
    p.add_argument("--whole_steps", type=int, default=40_000, help="with --mpi: env steps per worker of the whole runs "
                   "that give the per-rank throughput against one worker pinned to one core")
    p.add_argument("--whole_reps", type=int, default=1, help="with --mpi: runs of each whole-run configuration "
                   "(medians reported)")
    p.add_argument("--baseline_code", help="with --mpi: also measure the per-rank rows with the code of this checkout "
                   "(e.g. a worktree of an earlier commit)")
    p.add_argument("--scaling", action="store_true", help="only measure and fit the MPI cost model (fused step costs, "
                   "Allgather and Allreduce at 2 ranks) and write <out>/mpi_scaling.{json,md} with the expected "
                   "throughput for N = 2 to 64 ranks")
    p.add_argument("--out", default=os.path.join("logs", "bench"), help="directory for <env>.json and <env>.md "
                   "(default logs/bench; --out results/bench replaces the committed tables)")
    p.add_argument("--child-memory", help=argparse.SUPPRESS)
    p.add_argument("--child-mpi", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--child-training", nargs=4, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.bench`), also the entry point of its child processes; returns the exit code."""
    _quiet()
    if bench_mpi.main_child(list(sys.argv[1:] if argv is None else argv)):
        return 0
    p = parser()
    a = p.parse_args(argv)
    if a.child_training:
        env_id, alg, epochs, schedule = a.child_training
        print(json.dumps(bench_training(env_id, alg, int(epochs), **json.loads(schedule))._asdict()))
        return 0
    if a.child_memory:
        print(json.dumps(memory_probe(a.child_memory)))
        return 0
    if a.child_mpi:
        env_id, alg, epochs = a.child_mpi
        fps = mpi_training(env_id, alg, int(epochs))
        from baselines_meta.common import mpi

        if mpi.rank() == 0:
            print(json.dumps({"fps": fps}))
        return 0
    from baselines_meta.runtime.envs import EnvError, check_env_ids

    envs = list(paper.ENV_IDS) if a.env == "all" else [a.env]
    try:
        check_env_ids(envs)
    except EnvError as e:
        print(f"baselines_meta.bench: error: {e}", file=sys.stderr)
        return 2
    if dir_error(a.out):
        p.error(f"--out: {dir_error(a.out)}")
    os.makedirs(a.out, exist_ok=True)
    if a.scaling:
        res = bench_mpi.scaling(envs[0], a.out, a.whole_steps, lambda args, n: _child(args, mpi_np=n))
        print(bench_mpi.scaling_markdown(res))
        return 0
    for e in envs:
        res = run_env(e, a)
        md = markdown(res)
        print(md)
        with open(os.path.join(a.out, f"{e}.json"), "w") as f:
            json.dump(res, f, indent=2)
        with open(os.path.join(a.out, f"{e}.md"), "w") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
