"""Command line: `python -m baselines_meta.run --alg meta --env Hopper-v4` (also under `mpirun -np N`).

Parses and validates every flag, builds the typed RunConfig (with `--preset paper` filling the paper's per-task
budget and schedule where a flag was not given), and calls the algorithm's learn(). Bad input gets one line on
stderr and exit code 2, a NaN/inf loss 3, a file the run cannot write (disk full) 4.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import sys
from typing import Optional, Sequence

from baselines_meta import paper
from baselines_meta.config import ALGS, DDPGConfig, NetworkConfig, RunConfig, ScheduleConfig, TeacherConfig
from baselines_meta.faults import WriteError

EXIT_USAGE = 2
EXIT_NON_FINITE = 3
EXIT_WRITE = 4


class UsageError(Exception):
    pass


def _int(name, minimum: int):
    """An integer flag >= minimum (floats like 1e6 accepted when whole)."""
    kind = "a positive integer" if minimum == 1 else "a non-negative integer"

    def f(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {s!r}") from None
        if not math.isfinite(v) or v != int(v) or v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {s!r}")
        return int(v)

    return f


def _positive_int(name):
    return _int(name, 1)


def _nonneg_int(name):
    return _int(name, 0)


def _float(name, lo=None, hi=None, lo_open=False):
    def f(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {s!r}") from None
        if math.isnan(v) or (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}]"
            raise argparse.ArgumentTypeError(f"{name} must be in {rng}, got {s!r}")
        return v

    return f


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and close-name suggestions for unknown flags."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            flags = [a.split("=")[0] for a in message.split(":", 1)[1].split() if a.startswith("-")]
            known = [o for a in self._actions for o in a.option_strings]
            for fl in flags:
                close = difflib.get_close_matches(fl, known, n=2, cutoff=0.6)
                if close:
                    message = f"unknown flag {fl}; did you mean {' or '.join(close)}?"
                    break
        raise UsageError(message)


def build_parser() -> Parser:
    d, s, t, r, n = DDPGConfig(), ScheduleConfig(), TeacherConfig(), RunConfig(), NetworkConfig()
    p = Parser(
        prog="python -m baselines_meta.run",
        description="DDPG (baselines port) with a meta-policy-gradient exploration teacher (Xu et al., ICML 2018).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("run")
    g.add_argument("--alg", choices=ALGS, default=r.alg, help="meta: independent Gaussian teacher; meta-variance: actor mean + learned std; ddpg: baseline")
    g.add_argument("--env", dest="env_id", default=r.env_id, help="gymnasium env id with a Box action space")
    g.add_argument("--seed", type=_nonneg_int("--seed"), default=r.seed, help="base seed; rank r uses seed + 1000000*r")
    g.add_argument("--num_timesteps", type=_positive_int("--num_timesteps"), default=None,
                   help="env steps per worker (evaluation excluded); default: the paper budget under --preset paper, else 1e6")
    g.add_argument("--preset", choices=("paper", "none"), default=r.preset, help="paper: per-task budget and Algorithm-1 schedule of Section 5.1")
    g.add_argument("--log_path", default=None, help="run directory (else $OPENAI_LOGDIR, else ./logs/<env>-<alg>-seed<seed>-<time>)")
    g.add_argument("--log_formats", default=None, help="comma list of stdout,log,csv,json,tensorboard (else $OPENAI_LOG_FORMAT, else stdout,log,csv)")
    g.add_argument("--overwrite", action="store_true", help="replace the logs of an existing run in --log_path")
    g.add_argument("--resume", action="store_true", help="continue the run in --log_path from its last checkpoint with its config.json (a larger --num_timesteps extends it; output flags may change)")
    g.add_argument("--save_interval", type=_positive_int("--save_interval"), default=None, help="env steps per worker between checkpoints (default: every epoch)")
    g.add_argument("--save_path", default=None, help="write the final policy (actor, teacher, normalisation) to this .npz file")
    g.add_argument("--load_path", default=None, help="a policy file written by --save_path (with --play)")
    g.add_argument("--play", action="store_true", help="run deterministic episodes of --load_path's actor and print their returns")
    g.add_argument("--play_episodes", type=_positive_int("--play_episodes"), default=5, help="episodes for --play")
    g.add_argument("--video", default=None, help="with --play: record MP4s of the episodes into this directory (headless)")
    g.add_argument("--progress_bar", action=argparse.BooleanOptionalAction, default=r.progress_bar, help="progress bar on rank 0 when stdout is a terminal")
    g.add_argument("--sync_check_interval", type=_nonneg_int("--sync_check_interval"), default=r.sync_check_interval, help="epochs between MPI weight-equality checks (0: never)")
    g.add_argument("--deterministic_ops", action=argparse.BooleanOptionalAction, default=r.deterministic_ops, help="TF op determinism (seeded runs repeat exactly)")
    g.add_argument("--tf_threads", type=_nonneg_int("--tf_threads"), default=r.tf_threads, help="TF threads (0: default; 1 under MPI)")
    g.add_argument("--fast", action=argparse.BooleanOptionalAction, default=r.fast,
                   help="numpy acting and fused XLA train steps; --no-fast: one compiled TF call per env step and per train step")

    g = p.add_argument_group("schedule")
    g.add_argument("--nb_epoch_cycles", type=_positive_int("--nb_epoch_cycles"), default=s.nb_epoch_cycles)
    g.add_argument("--nb_rollout_steps", type=_positive_int("--nb_rollout_steps"), default=s.nb_rollout_steps, help="ddpg: env steps per cycle")
    g.add_argument("--nb_train_steps", type=_nonneg_int("--nb_train_steps"), default=None, help=f"gradient steps per cycle (meta: per student update) [default {s.nb_train_steps}; paper preset may change it]")
    g.add_argument("--nb_explore_steps", type=_positive_int("--nb_explore_steps"), default=None, help=f"meta: |D0| teacher steps per cycle [default {s.nb_explore_steps}]")
    g.add_argument("--nb_eval_steps", type=_positive_int("--nb_eval_steps"), default=None, help=f"meta: |D1| look-ahead student steps per cycle [default {s.nb_eval_steps}]")
    g.add_argument("--nb_teacher_steps", type=_nonneg_int("--nb_teacher_steps"), default=None, help=f"meta: teacher gradient steps per cycle [default {s.nb_teacher_steps}]")
    g.add_argument("--meta_reward", choices=("return", "step"), default=s.meta_reward,
                   help="R of a policy from a rollout from fresh resets: mean return of its episodes (an episode cut at the end counts only if it is the first), or mean reward per step (ignores falls; ablation)")
    g.add_argument("--meta_baseline", choices=("fresh", "previous"), default=s.meta_baseline,
                   help="R_pi of a cycle: fresh: roll pi out after the update on B (Algorithm 1 line 10); previous: reuse the last R_pi' (ablation)")
    g.add_argument("--paired_starts", action=argparse.BooleanOptionalAction, default=s.paired_starts,
                   help="the rollouts behind R_pi and R_pi' of a cycle start from the same reset seeds (common random numbers)")
    g.add_argument("--meta_reward_norm", choices=("window", "none"), default=s.meta_reward_norm,
                   help="window: standardise the meta reward by the mean / std of the last nb_epoch_cycles ones; none: the paper's raw form")
    g.add_argument("--meta_reward_placebo", action=argparse.BooleanOptionalAction, default=s.meta_reward_placebo,
                   help="control: the teacher gets its (standardised) meta reward times a random sign")
    g.add_argument("--lookahead", choices=("inplace", "copy"), default=s.lookahead, help="inplace: pi' replaces pi (Algorithm 1); copy: evaluate a discarded copy (ablation)")
    g.add_argument("--d0_in_replay", action=argparse.BooleanOptionalAction, default=s.d0_in_replay,
                   help="meta: D0 joins the replay buffer B (Algorithm 1 line 9); --no-d0_in_replay keeps it out (ablation)")
    g.add_argument("--eval_interval", type=_positive_int("--eval_interval"), default=s.eval_interval, help="env steps per worker between evaluations")
    g.add_argument("--eval_episodes", type=_nonneg_int("--eval_episodes"), default=s.eval_episodes, help="deterministic evaluation episodes (split over ranks)")

    g = p.add_argument_group("ddpg")
    g.add_argument("--actor_lr", type=_float("--actor_lr", 0, lo_open=True), default=d.actor_lr)
    g.add_argument("--critic_lr", type=_float("--critic_lr", 0, lo_open=True), default=d.critic_lr)
    g.add_argument("--critic_l2_reg", type=_float("--critic_l2_reg", 0), default=d.critic_l2_reg)
    g.add_argument("--critic_l2_output", action=argparse.BooleanOptionalAction, default=d.critic_l2_output,
                   help="critic L2 on the output kernel too (the paper's baselines); --no-critic_l2_output: hidden kernels only (baselines master after #733)")
    g.add_argument("--gamma", type=_float("--gamma", 0, 1), default=d.gamma)
    g.add_argument("--tau", type=_float("--tau", 0, 1), default=d.tau)
    g.add_argument("--batch_size", type=_positive_int("--batch_size"), default=d.batch_size)
    g.add_argument("--buffer_size", type=_positive_int("--buffer_size"), default=d.buffer_size)
    g.add_argument("--normalize_observations", action=argparse.BooleanOptionalAction, default=d.normalize_observations)
    g.add_argument("--obs_clip", type=_float("--obs_clip", 0, lo_open=True), default=d.obs_clip)
    g.add_argument("--normalize_returns", action=argparse.BooleanOptionalAction, default=d.normalize_returns)
    g.add_argument("--popart", action=argparse.BooleanOptionalAction, default=d.popart)
    g.add_argument("--reward_scale", type=_float("--reward_scale", 0, lo_open=True), default=d.reward_scale)
    g.add_argument("--clip_norm", type=_float("--clip_norm", 0, lo_open=True), default=d.clip_norm,
                   help="clip each actor and critic gradient tensor to this norm (baselines); default: no clipping")
    g.add_argument("--noise_type", default=d.noise_type, help="none, normal_X, ou_X, adaptive-param_X, comma-combined (ddpg only)")
    g.add_argument("--param_noise_adaption_interval", type=_positive_int("--param_noise_adaption_interval"), default=d.param_noise_adaption_interval)
    g.add_argument("--truncation_as_terminal", action=argparse.BooleanOptionalAction, default=d.truncation_as_terminal,
                   help="treat time-limit truncation as terminal (baselines bug #436, for comparison)")
    g.add_argument("--layer_norm", action=argparse.BooleanOptionalAction, default=n.layer_norm)

    g = p.add_argument_group("teacher")
    g.add_argument("--teacher_lr", type=_float("--teacher_lr", 0, lo_open=True), default=t.lr)
    g.add_argument("--teacher_log_std_min", type=_float("--teacher_log_std_min"), default=t.log_std_min)
    g.add_argument("--teacher_log_std_max", type=_float("--teacher_log_std_max"), default=t.log_std_max)
    g.add_argument("--teacher_clip", type=_float("--teacher_clip", 0, 1), default=t.clip,
                   help="PPO ratio clip of the teacher's repeated steps on one D0 (the first step is REINFORCE); 0: plain REINFORCE every step (the paper's form)")
    g.add_argument("--teacher_init_log_std", type=_float("--teacher_init_log_std"), default=t.init_log_std,
                   help="the teacher's initial log-std (inside the bounds), in units of the unit action box")
    for action in p._actions:  # so that --help shows every default, also of flags without a help text
        if action.help is None:
            action.help = "(default: %(default)s)"
    return p


def config_from_args(a: argparse.Namespace) -> RunConfig:
    from baselines_meta.noise import parse_noise_type

    if a.teacher_log_std_min >= a.teacher_log_std_max:
        raise UsageError("--teacher_log_std_min must be below --teacher_log_std_max")
    if not a.teacher_log_std_min < a.teacher_init_log_std < a.teacher_log_std_max:
        raise UsageError("--teacher_init_log_std must lie strictly between --teacher_log_std_min and --teacher_log_std_max")
    if a.popart and not a.normalize_returns:
        raise UsageError("--popart needs --normalize_returns")
    parse_noise_type(a.noise_type)  # raises NoiseSpecError with a clear message
    sched = dict(num_timesteps=1_000_000)
    if a.preset == "paper":
        sched.update(paper.preset(a.env_id, a.alg))
    for k in ("num_timesteps", "nb_train_steps", "nb_explore_steps", "nb_eval_steps", "nb_teacher_steps"):
        if getattr(a, k) is not None:
            sched[k] = getattr(a, k)
    sched.update(nb_epoch_cycles=a.nb_epoch_cycles, nb_rollout_steps=a.nb_rollout_steps, meta_reward=a.meta_reward,
                 meta_baseline=a.meta_baseline, paired_starts=a.paired_starts, meta_reward_norm=a.meta_reward_norm,
                 meta_reward_placebo=a.meta_reward_placebo, lookahead=a.lookahead, d0_in_replay=a.d0_in_replay, eval_interval=a.eval_interval, eval_episodes=a.eval_episodes)
    net = NetworkConfig(layer_norm=a.layer_norm)
    ddpg = DDPGConfig(
        actor_lr=a.actor_lr, critic_lr=a.critic_lr, critic_l2_reg=a.critic_l2_reg, critic_l2_output=a.critic_l2_output,
        gamma=a.gamma, tau=a.tau,
        batch_size=a.batch_size, buffer_size=a.buffer_size, normalize_observations=a.normalize_observations,
        obs_clip=a.obs_clip, normalize_returns=a.normalize_returns, popart=a.popart, reward_scale=a.reward_scale,
        clip_norm=a.clip_norm, noise_type=a.noise_type, param_noise_adaption_interval=a.param_noise_adaption_interval,
        truncation_as_terminal=a.truncation_as_terminal, network=net,
    )
    teacher = TeacherConfig(kind="variance" if a.alg == "meta-variance" else "independent", lr=a.teacher_lr,
                            log_std_min=a.teacher_log_std_min, log_std_max=a.teacher_log_std_max,
                            init_log_std=a.teacher_init_log_std, clip=a.teacher_clip, network=net)
    return RunConfig(alg=a.alg, env_id=a.env_id, seed=a.seed, preset=a.preset, log_path=a.log_path,
                     log_formats=a.log_formats, progress_bar=a.progress_bar, sync_check_interval=a.sync_check_interval,
                     deterministic_ops=a.deterministic_ops, fast=a.fast, tf_threads=a.tf_threads, save_interval=a.save_interval, ddpg=ddpg, teacher=teacher, schedule=ScheduleConfig(**sched))


def _quiet_tf() -> None:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-identical results across runs and ranks
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user chose what TensorFlow may print
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # Its C++ start-up lines (CUDA probing, absl's "before InitializeLog" warning) reach stderr whatever that level
    # says: import it with file descriptor 2 pointed at /dev/null. An import error still shows after the restore.
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        import tensorflow  # noqa: F401
        import tensorflow_probability  # noqa: F401
        import tf_keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def train(cfg: RunConfig, overwrite: bool = False, stdout=None, resume: bool = False, save_path: Optional[str] = None):
    """Run one training job (call on every MPI rank). Returns the algorithm's RunOutcome."""
    _quiet_tf()
    from baselines_meta.training import RunContext

    ctx = RunContext(cfg, overwrite=overwrite, stdout=stdout, resume=resume, finished_ok=bool(save_path))
    try:
        if cfg.alg == "ddpg":
            from baselines_meta.ddpg.learn import learn
        else:
            from baselines_meta.meta.learn import learn
        out = learn(ctx)
        if save_path and ctx.rank == 0:
            from baselines_meta.policy_io import save_policy

            save_policy(save_path, cfg, out.learner, out.teacher)
            ctx.logger.info(f"policy saved to {save_path}")
        ctx.logger.info(f"logs in {os.path.abspath(ctx.log_dir)}")
        return out
    except WriteError as e:
        raise ctx.kept(e)
    finally:
        ctx.close()


# Flags that change what a run writes, never its numbers: they may differ from config.json on --resume.
OUTPUT_FLAGS = ("log_formats", "save_interval", "progress_bar", "sync_check_interval")
# Flags --resume reads itself: where the run is, and a larger budget.
RESUME_FLAGS = ("log_path", "num_timesteps")


def typed_flags(argv: Optional[Sequence[str]]) -> set[str]:
    """The dests of the flags given on the command line (a parser whose defaults are all left unset)."""
    p = build_parser()
    for a in p._actions:
        a.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def _stored(cfg: RunConfig, dest: str) -> tuple[bool, object]:
    """(found, value): the setting in cfg that flag `dest` sets, found by its field name (teacher_x: teacher.x)."""
    parts = [cfg, cfg.schedule, cfg.ddpg, cfg.ddpg.network]
    name = dest
    if dest.startswith("teacher_"):
        parts, name = [cfg.teacher], dest[len("teacher_"):]
    for part in parts:
        if name in {f.name for f in dataclasses.fields(part)}:
            return True, getattr(part, name)
    return False, None


def resume_config(args: argparse.Namespace, typed: set[str] = frozenset()) -> RunConfig:
    """--resume: the run's own config.json is authoritative (its flags, seed and budget).

    Of the flags typed (dests in `typed`), a larger --num_timesteps extends the run, output flags apply to this
    invocation, and one that would change the run's arithmetic must agree with config.json (UsageError otherwise).
    """
    import json

    path = args.log_path or os.environ.get("OPENAI_LOGDIR")
    if not path:
        raise UsageError("--resume needs --log_path (or $OPENAI_LOGDIR) naming the run to continue")
    cfg_file = os.path.join(path, "config.json")
    try:
        with open(cfg_file) as f:
            d = json.load(f)
        cfg = RunConfig.from_dict(d)
    except FileNotFoundError:
        raise UsageError(f"nothing to resume: {path} holds no run (no config.json)") from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UsageError(f"cannot read {cfg_file}: {e}") from None
    flag = {a.dest: a.option_strings[0] for a in build_parser()._actions if a.option_strings}
    differ = []
    for dest in sorted(typed - set(OUTPUT_FLAGS) - set(RESUME_FLAGS)):
        found, value = _stored(cfg, dest)
        given = getattr(args, dest)
        if found and value != given:
            shown = (flag[dest] if given else "--no-" + flag[dest][2:]) if isinstance(given, bool) else f"{flag[dest]} {given}"
            differ.append(f"{shown} (the run has {value})")
    if differ:
        raise UsageError(f"{', '.join(differ)}: --resume keeps the settings in {cfg_file}; drop the flag or start a new run")
    if "num_timesteps" in typed:
        budget = cfg.schedule.num_timesteps
        if args.num_timesteps < budget:
            raise UsageError(f"--num_timesteps {args.num_timesteps} is below the run's budget of {budget}; --resume can only extend a run")
        cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, num_timesteps=args.num_timesteps))
    output = {k: getattr(args, k) for k in OUTPUT_FLAGS if k in typed}
    output.setdefault("progress_bar", args.progress_bar)  # the progress bar belongs to this invocation, typed or not
    return dataclasses.replace(cfg, log_path=path, **output)


def _play(args: argparse.Namespace) -> int:
    """--play imports no TensorFlow: a saved actor runs in numpy (and TF next to EGL rendering can crash)."""
    from baselines_meta.envs import EnvError
    from baselines_meta.policy_io import PolicyFileError, play

    try:
        if not args.load_path:
            raise UsageError("--play needs --load_path")
        play(args.load_path, args.play_episodes, args.seed, args.video)
    except (UsageError, EnvError, PolicyFileError) as e:
        print(f"baselines_meta.run: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _main(argv: Optional[Sequence[str]]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(f"baselines_meta.run: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.play:
        return _play(args)
    _quiet_tf()
    from baselines_meta import mpi
    from baselines_meta.checkpoint import CheckpointError
    from baselines_meta.envs import EnvError, make_env
    from baselines_meta.logger import LogFormatError, parse_formats
    from baselines_meta.noise import NoiseSpecError
    from baselines_meta.policy_io import PolicyFileError
    from baselines_meta.training import NonFiniteError, RunDirError, RunFinished, RunInterrupted

    def report(e: Exception, prefix: str = "error: ") -> None:
        """One line on stderr; an error every rank raised together is reported by rank 0 alone."""
        if mpi.rank() == 0 or not getattr(e, "all_ranks", False):
            print(f"baselines_meta.run: {prefix}{e}", file=sys.stderr, flush=True)

    try:
        if args.resume and args.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        cfg = resume_config(args, typed_flags(argv)) if args.resume else config_from_args(args)
        parse_formats(cfg.log_formats or os.environ.get("OPENAI_LOG_FORMAT") or "stdout")
        make_env(cfg.env_id).close()
        train(cfg, overwrite=args.overwrite, resume=args.resume, save_path=args.save_path)
    except (UsageError, EnvError, NoiseSpecError, RunDirError, LogFormatError, PolicyFileError, CheckpointError) as e:
        report(e)
        return EXIT_USAGE
    except RunFinished as e:
        report(e, prefix="")
        return 0
    except RunInterrupted as e:
        if mpi.rank() == 0:
            print(f"baselines_meta.run: {e}", file=sys.stderr)
        return 128 + e.signum
    except NonFiniteError as e:
        report(e)
        return EXIT_NON_FINITE
    except WriteError as e:
        report(e)
        if mpi.size() > 1 and not e.all_ranks:
            # The other ranks may wait in a collective for this one. A normal exit would wait for them in
            # MPI_Finalize, and MPI_Abort can lose the line above; leaving without finalising makes mpiexec stop
            # every rank and return this exit code.
            sys.stdout.flush()
            os._exit(EXIT_WRITE)
        return EXIT_WRITE
    except KeyboardInterrupt:  # before the training loop installed its handlers: nothing to save yet
        print("baselines_meta.run: interrupted before training started", file=sys.stderr)
        return 130
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        return _main(argv)
    except Exception:
        # An unexpected error on one MPI rank must not leave the others waiting in a collective forever.
        from baselines_meta import mpi

        if mpi.size() > 1:
            import traceback

            traceback.print_exc()
            sys.stderr.write(f"baselines_meta.run: rank {mpi.rank()} failed; aborting all {mpi.size()} ranks\n")
            sys.stderr.flush()
            # Leave without MPI_Finalize: mpiexec then stops every rank. MPI_Abort could kill the job before mpiexec
            # forwarded the lines above (seen on a loaded machine).
            os._exit(1)
        raise


if __name__ == "__main__":
    sys.exit(main())
