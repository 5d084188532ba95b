"""Side-by-side runs: algs x envs x seeds, resumable.

    python -m baselines_meta.compare --algs meta ddpg --envs Pendulum-v1 InvertedPendulum-v4 --seeds 0 1 2

Each run lives in <out>/<env>/<alg>/seed-<n>/ (<env>: the id with '/' written '__'). A run with a DONE file is
skipped, one with a config.json but no DONE is resumed from its last checkpoint (`--resume`), others start fresh.
Compare holds each run's lock (runlock) while it launches the run, the run itself and its DONE; a run another process
holds (a second compare, a run started by hand) is skipped with one line, counted neither done nor failed. As many
runs go at once as the cores allow (`--jobs`, default: cores // np), each under `mpiexec -n NP` when `--np` > 1.
Arguments after `--` go to every run (e.g. `-- --num_timesteps 20000`); by default the paper preset decides the
budget.
"""
from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional

from baselines_meta import paper
from baselines_meta.config import ALGS
from baselines_meta.storage.runlock import RunLock, RunLockedError, held_for_child


class Job(NamedTuple):
    """One run of the comparison: env, alg, seed and its run directory."""
    env: str
    alg: str
    seed: int
    dir: str


def run_dir(out: str, env: str, alg: str, seed: int) -> str:
    """A run's directory: <out>/<env>/<alg>/seed-<seed>, <env> the id with '/' written '__' (one folder per env, as
    the loaders expect: dm_control/cartpole-swingup_sparse-v0 -> dm_control__cartpole-swingup_sparse-v0)."""
    return os.path.join(out, env.replace("/", "__"), alg, f"seed-{seed}")


def status(d: str) -> str:
    """'done' (a DONE file), 'partial' (a config.json but no DONE: resumable) or 'new'."""
    if os.path.exists(os.path.join(d, "DONE")):
        return "done"
    if os.path.exists(os.path.join(d, "config.json")):
        return "partial"
    return "new"


def command(job: Job, a, extra: list[str]) -> list[str]:
    """The command line of one job: `--resume` of a partial run, else a fresh one with `extra`; under mpiexec when --np > 1."""
    base = [sys.executable, "-m", "baselines_meta.run"]
    if status(job.dir) == "partial":
        args = ["--resume", "--log_path", job.dir, "--no-progress_bar"]
    else:
        args = ["--alg", job.alg, "--env", job.env, "--seed", str(job.seed), "--log_path", job.dir, "--overwrite",
                "--log_formats", "csv,log", "--no-progress_bar", "--eval_interval", str(a.eval_interval),
                "--eval_episodes", str(a.eval_episodes), "--save_interval", str(a.save_interval), *extra]
    if a.np > 1:
        return [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(a.np)] + base + args
    return base + args


SKIPPED = None  # run_job's result for a run another process holds


def run_job(job: Job, a, extra: list[str]) -> Optional[int]:
    """Run (or resume) one job under its run directory's lock: its exit code, 0 for one found done, or SKIPPED."""
    try:
        lock = RunLock(job.dir).acquire()
    except RunLockedError as e:
        print(f"[compare] skip   {job.env} {job.alg} seed {job.seed}: {e}", flush=True)
        return SKIPPED
    try:
        if status(job.dir) == "done":  # finished by another process since the plan was made
            return 0
        cmd = command(job, a, extra)
        t0 = time.time()
        print(f"[compare] start  {job.env} {job.alg} seed {job.seed} ({status(job.dir)})", flush=True)
        with open(os.path.join(job.dir, "stderr.txt"), "a") as err:
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ, **held_for_child(job.dir))).returncode
        if rc == 0:
            with open(os.path.join(job.dir, "DONE"), "w") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
        print(f"[compare] {'done ' if rc == 0 else f'rc={rc}'} {job.env} {job.alg} seed {job.seed} in {time.time() - t0:.0f}s",
              flush=True)
        return rc
    finally:
        lock.release()


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.compare`): runs the jobs not done yet; returns 1 if any failed, else 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="python -m baselines_meta.compare", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--algs", nargs="+", default=["meta", "ddpg"], choices=ALGS)
    p.add_argument("--envs", nargs="+", default=["Pendulum-v1"], help="env ids, or 'paper' for the paper's six tasks")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="results/runs", help="root of the run directories")
    p.add_argument("--np", type=int, default=1, help="MPI workers per run")
    p.add_argument("--jobs", type=int, default=0, help="runs at once (0: cores // np)")
    p.add_argument("--eval_interval", type=int, default=10000)
    p.add_argument("--eval_episodes", type=int, default=10)
    p.add_argument("--save_interval", type=int, default=50000, help="env steps between checkpoints")
    p.add_argument("--arm", default=None, help="the run directories' name in place of the alg (one alg only), e.g. "
                                               "ddpg-ou for --algs ddpg with -- --noise_type ou_0.2")
    p.add_argument("--dry_run", action="store_true", help="print the plan and exit")
    a = p.parse_args(argv)
    if a.envs == ["paper"]:
        a.envs = list(paper.ENV_IDS)
    if a.np < 1 or a.jobs < 0:
        p.error("--np must be >= 1 and --jobs >= 0")
    from baselines_meta.runtime.envs import EnvError, check_env_ids

    try:
        check_env_ids(a.envs)
    except EnvError as e:
        print(f"baselines_meta.compare: error: {e}", file=sys.stderr)
        return 2
    if a.arm is not None and len(a.algs) != 1:
        p.error("--arm names the runs of one alg: give one --algs")
    jobs = [Job(e, al, s, run_dir(a.out, e, a.arm or al, s)) for e, al, s in itertools.product(a.envs, a.algs, a.seeds)]
    todo = [j for j in jobs if status(j.dir) != "done"]
    for j in jobs:
        print(f"[compare] {status(j.dir):8s} {j.dir}")
    if a.dry_run or not todo:
        return 0
    n = a.jobs or max(1, (os.cpu_count() or 1) // a.np)
    with ThreadPoolExecutor(n) as pool:
        rcs = list(pool.map(lambda j: run_job(j, a, extra), todo))
    skipped = sum(rc is SKIPPED for rc in rcs)
    failed = sum(rc is not SKIPPED and rc != 0 for rc in rcs)
    print(f"[compare] {len(todo) - failed - skipped} finished, {failed} failed or stopped (rerun the same command to "
          f"resume), {skipped} skipped (held by another process)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
