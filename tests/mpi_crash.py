"""Run under mpiexec by test_resume: rank 1 raises in its third training call; the job must abort, not hang."""
import sys

from baselines_meta.common import mpi
from baselines_meta.ddpg import student as ddpg_student
from baselines_meta.run import main

calls = {"n": 0}
orig = ddpg_student.StudentTrainer.train


def train(self, buffer, n_steps):
    calls["n"] += 1
    if mpi.rank() == 1 and calls["n"] == 3:
        raise RuntimeError("injected failure on rank 1")
    return orig(self, buffer, n_steps)


ddpg_student.StudentTrainer.train = train
sys.exit(main(sys.argv[1:]))
