"""Run under mpiexec by test_cli: train, then save this rank's final weights (and teacher's) for comparison."""
import os
import sys

import numpy as np

from baselines_meta.api import train
from baselines_meta.common import mpi
from baselines_meta.flags import build_parser, config_from_args

out_dir = sys.argv[1]
cfg = config_from_args(build_parser().parse_args(sys.argv[2:]))
res = train(cfg)
vs = list(res.learner.sync_variables()) + (list(res.teacher.sync_variables()) if res.teacher is not None else [])
np.savez(os.path.join(out_dir, f"weights.{mpi.rank()}.npz"), *[v.numpy() for v in vs])
