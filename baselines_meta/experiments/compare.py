"""Side-by-side runs: algs x envs x seeds, resumable.

    python -m baselines_meta.compare --algs meta ddpg --envs Pendulum-v1 InvertedPendulum-v4 --seeds 0 1 2

Each run lives in <out>/<env>/<alg>/seed-<n>/ (<env>: the id with '/' written '__'); <out> is logs/runs by default
(git ignores logs/): runs go into the committed results/ only when --out names a folder there (the campaign scripts
under run/ do). A run with a DONE file is skipped, one with a config.json but no DONE is resumed from its last
checkpoint (`--resume`), others start fresh. Compare holds each run's lock (runlock) while it launches the run, the
run itself and its DONE; a run another process holds (a second compare, a run started by hand) is skipped with one
line, counted neither done nor failed. As many runs go at once as the cores allow (`--jobs`, default: cores // np),
each under `mpiexec -n NP` when `--np` > 1. Arguments after `--` go to every run (e.g. `-- --num_timesteps 20000`);
by default the paper preset decides the budget.
Checked at launch, before any run starts (one line on stderr, exit status 2): the flags (no abbreviations; seeds are
non-negative integers), an --out that is a file or below one, and the run flags after `--` (as
`python -m baselines_meta.run` parses them). A warning (one line; the runs still go) when --eval_interval is not
below a run's budget: such a run evaluates once, at its end, and plot cannot draw its curve.
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
from baselines_meta.analysis.cli import ToolParser, dir_error, int_at_least
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


def own_flags(a) -> list[str]:
    """The evaluation and checkpoint flags compare gives every fresh run (the run flags after `--` come after them)."""
    return ["--eval_interval", str(a.eval_interval), "--eval_episodes", str(a.eval_episodes), "--save_interval",
            str(a.save_interval)]


def command(job: Job, a, extra: list[str]) -> list[str]:
    """The command line of one job: `--resume` of a partial run, else a fresh one with `extra`; under mpiexec when --np > 1."""
    base = [sys.executable, "-m", "baselines_meta.run"]
    if status(job.dir) == "partial":
        args = ["--resume", "--log_path", job.dir, "--no-progress_bar"]
    else:
        args = ["--alg", job.alg, "--env", job.env, "--seed", str(job.seed), "--log_path", job.dir, "--overwrite",
                "--log_formats", "csv,log", "--no-progress_bar", *own_flags(a), *extra]
    if a.np > 1:
        return [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(a.np)] + base + args
    return base + args


def requested(job: Job, a, extra: list[str]):
    """The resolved config this job asks for (the run's own resolver, as the run would resolve its command line):
    UsageError when the flags after `--` do not fit this job's algorithm."""
    from baselines_meta.flags import build_parser, config_from_args

    return config_from_args(build_parser().parse_args(
        ["--alg", job.alg, "--env", job.env, "--seed", str(job.seed), "--log_path", job.dir, "--log_formats", "csv,log",
         "--no-progress_bar", *own_flags(a), *extra]))


def differs(job: Job, want) -> Optional[str]:
    """Why the run already in job.dir (finished or partial) is not the run asked for, or None: the first setting where
    its recorded config and the requested one differ (output settings aside). A finished run is counted as done, and a
    partial one resumed, only when they agree."""
    import json

    from baselines_meta.config import UsageError
    from baselines_meta.resolve import RESUME_FREE, differences, from_dict

    if status(job.dir) == "new":
        return None
    path = os.path.join(job.dir, "config.json")
    try:
        with open(path) as f:
            have = from_dict(json.load(f), where=path, strict=False)
    except (OSError, ValueError, UsageError) as e:
        return f"its config.json cannot be read ({e})"
    # record_states only adds states.npz (the campaign's IDP runs kept theirs for Figure 4)
    diff = differences(have, want, skip=RESUME_FREE + ("record_states",))
    if not diff:
        return None
    key, theirs, mine = diff[0]
    return f"{key} is {theirs!r} in the run, {mine!r} asked"


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


PROG = "baselines_meta.compare"
# run flags compare gives a fresh run itself, with stand-ins for the job's own (check_run_flags parses them with extra)
OWN_RUN_FLAGS = ["--alg", "ddpg", "--env", "Pendulum-v1", "--seed", "0", "--log_path", os.path.join("logs", "check"),
                 "--overwrite", "--log_formats", "csv,log", "--no-progress_bar"]


def parse_run_flags(extra: list[str], own: list[str] = ()) -> argparse.Namespace:
    """The run flags after `--` parsed as `python -m baselines_meta.run` parses them, after the flags compare gives
    every fresh run (OWN_RUN_FLAGS, then `own`: its evaluation and checkpoint flags); flags.UsageError for a bad one."""
    from baselines_meta.flags import UsageError, build_parser

    if "-h" in extra or "--help" in extra:
        raise UsageError("the run flags after -- take no --help (see python -m baselines_meta.run --help)")
    return build_parser().parse_args(OWN_RUN_FLAGS + list(own) + list(extra))


def check_run_flags(extra: list[str]) -> None:
    """Refuse bad run flags after `--` at launch: one line `baselines_meta.compare: error: <why>` on stderr and exit
    status 2 (SystemExit), before any run starts."""
    from baselines_meta.flags import UsageError

    try:
        parse_run_flags(extra)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def budget(env: str, run_flags: argparse.Namespace) -> int:
    """A fresh run's budget (env steps per worker): --num_timesteps after `--`, else the paper preset's budget for a
    paper task (unless --preset none), else the run's default, 1e6."""
    typed = getattr(run_flags, "num_timesteps", None)  # flags not typed are unset or None
    if typed is not None:
        return int(typed)
    t = paper.task(env)
    return t.budget if t is not None and getattr(run_flags, "preset", None) in ("paper", None) else 1_000_000


def interval_warning(envs: list[str], run_flags: argparse.Namespace) -> Optional[str]:
    """The warning line when the runs' --eval_interval is not below some env's budget, else None."""
    eval_interval = int(run_flags.eval_interval)
    late = [(e, budget(e, run_flags)) for e in envs if eval_interval >= budget(e, run_flags)]
    if not late:
        return None
    which = ", ".join(f"{e} {b:,}" for e, b in late)
    return (f"{PROG}: warning: --eval_interval {eval_interval:,} is not below the budget ({which} env steps): such a run "
            f"evaluates once, at its end, and has no learning curve to plot")


def parser() -> ToolParser:
    """The command line of `python -m baselines_meta.compare` (the run flags after `--` are the run's)."""
    p = ToolParser(prog="python -m baselines_meta.compare", description=__doc__.split("\n")[0],
                   formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                   epilog=" ".join(__doc__.split("\n\n")[2:]).replace("\n", " "))
    p.add_argument("--algs", nargs="+", default=["meta", "ddpg"], choices=ALGS)
    p.add_argument("--envs", nargs="+", default=["Pendulum-v1"], help="env ids, or 'paper' for the paper's six tasks")
    p.add_argument("--seeds", nargs="+", type=int_at_least(0), default=[0, 1, 2])
    p.add_argument("--out", default=os.path.join("logs", "runs"), help="root of the run directories (git ignores logs/; "
                   "name a folder under results/ to add to the committed runs)")
    p.add_argument("--np", type=int_at_least(1), default=1, help="MPI workers per run")
    p.add_argument("--jobs", type=int_at_least(0), default=0, help="runs at once (0: cores // np)")
    p.add_argument("--eval_interval", type=int_at_least(1), default=10000,
                   help="env steps per worker between evaluations; warned when not below the budget")
    p.add_argument("--eval_episodes", type=int_at_least(0), default=10)
    p.add_argument("--save_interval", type=int_at_least(1), default=50000,
                   help="env steps between checkpoints")
    p.add_argument("--arm", default=None, help="the run directories' name in place of the alg (one alg only), e.g. "
                                               "ddpg-ou for --algs ddpg with -- --noise_type ou_0.2")
    p.add_argument("--dry_run", action="store_true", help="print the plan and exit")
    return p


def main(argv=None) -> int:
    """The CLI (`python -m baselines_meta.compare`): runs the jobs not done yet; returns 1 if any failed, else 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = parser()
    a = p.parse_args(argv)
    if a.envs == ["paper"]:
        a.envs = list(paper.ENV_IDS)
    if a.arm is not None and len(a.algs) != 1:
        p.error("--arm names the runs of one alg: give one --algs")
    err = dir_error(a.out)
    if err is not None:
        p.error(f"--out: {err}")
    check_run_flags(extra)
    from baselines_meta.runtime.envs import EnvError, check_env_ids

    try:
        check_env_ids(a.envs)
    except EnvError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    warning = interval_warning(a.envs, parse_run_flags(extra, own_flags(a)))
    if warning:
        print(warning, file=sys.stderr)
    jobs = [Job(e, al, s, run_dir(a.out, e, a.arm or al, s)) for e, al, s in itertools.product(a.envs, a.algs, a.seeds)]
    from baselines_meta.config import UsageError

    mismatch = {}
    for j in jobs:
        try:
            why = differs(j, requested(j, a, extra))
        except UsageError as e:  # e.g. `--algs meta -- --noise_type ou_0.2`: refused before any run starts
            print(f"{PROG}: error: --alg {j.alg}: {e}", file=sys.stderr)
            return 2
        if why:
            mismatch[j] = why
    todo = [j for j in jobs if status(j.dir) != "done" and j not in mismatch]
    for j in jobs:
        if j in mismatch:
            print(f"[compare] differs  {j.dir}: {mismatch[j]}; not counted as done and left as it is (choose another "
                  f"--out, or move that run away)")
        else:
            print(f"[compare] {status(j.dir):8s} {j.dir}")
    if a.dry_run or not todo:
        return 1 if mismatch else 0
    n = a.jobs or max(1, (os.cpu_count() or 1) // a.np)
    with ThreadPoolExecutor(n) as pool:
        rcs = list(pool.map(lambda j: run_job(j, a, extra), todo))
    skipped = sum(rc is SKIPPED for rc in rcs)
    failed = sum(rc is not SKIPPED and rc != 0 for rc in rcs)
    print(f"[compare] {len(todo) - failed - skipped} finished, {failed} failed or stopped (rerun the same command to "
          f"resume), {skipped} skipped (held by another process), {len(mismatch)} differing from the request")
    return 1 if failed or mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
