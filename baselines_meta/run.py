"""Command line: `python -m baselines_meta.run --alg meta --env Hopper-v4` (also under `mpirun -np N`).

Parses and validates every flag (flags.py: generated from the config dataclasses; `--preset paper` fills the paper's
per-task budget and schedule where a flag was not given) and calls the Python API (api.train). Bad input gets one
line on stderr and exit code 2, a NaN/inf loss 3, a file the run cannot write (disk full) 4.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from baselines_meta.api import quiet_tf, train
from baselines_meta.flags import UsageError, build_parser, config_from_args, resume_config
from baselines_meta.storage.faults import WriteError

EXIT_USAGE = 2
EXIT_NON_FINITE = 3
EXIT_WRITE = 4


def _play(args: argparse.Namespace) -> int:
    """--play imports no TensorFlow: a saved actor runs in numpy (and TF next to EGL rendering can crash)."""
    from baselines_meta.runtime.envs import EnvError
    from baselines_meta.runtime.policy_io import PolicyFileError, play

    try:
        if not args.load_path:
            raise UsageError("--play needs --load_path")
        # a flag not typed is absent from args (flags: the resolver must tell it from a typed one)
        play(args.load_path, args.play_episodes, getattr(args, "seed", 0), args.video, env_id=getattr(args, "env_id", None))
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
    quiet_tf()
    from baselines_meta.common import mpi
    from baselines_meta.ddpg.noise import NoiseSpecError
    from baselines_meta.runtime.context import RunFinished
    from baselines_meta.runtime.envs import EnvError
    from baselines_meta.runtime.policy_io import PolicyFileError
    from baselines_meta.runtime.saving import NonFiniteError, RunInterrupted
    from baselines_meta.storage.checkpoint import CheckpointError
    from baselines_meta.storage.logger import LogFormatError
    from baselines_meta.storage.rundir import RunDirError

    def report(e: Exception, prefix: str = "error: ") -> None:
        """One line on stderr; an error every rank raised together is reported by rank 0 alone."""
        if mpi.rank() == 0 or not getattr(e, "all_ranks", False):
            print(f"baselines_meta.run: {prefix}{e}", file=sys.stderr, flush=True)

    try:
        if args.resume and args.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        cfg = resume_config(args) if args.resume else config_from_args(args)
        train(cfg, overwrite=args.overwrite, resume=args.resume, save_path=args.save_path, _cli=True)
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
    """The CLI's entry point: returns the exit code; under MPI an unexpected error on one rank stops every rank."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        return _main(argv)
    except Exception:
        # An unexpected error on one MPI rank must not leave the others waiting in a collective forever.
        from baselines_meta.common import mpi

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
