"""The shared loop in process, with a fake algorithm (no networks): epochs, the log row, evaluation, checkpoints and
resuming mid-run are the loop's alone, whatever plugs into it."""
import csv
import os

import numpy as np

from baselines_meta.config import RunConfig, ScheduleConfig
from baselines_meta.runtime import loop as shared
from baselines_meta.runtime.context import RunContext


class Counter:
    """A checkpointed part: how many cycles the algorithm ran."""

    def __init__(self):
        self.n = 0

    def get_state(self):
        return {"n": self.n}

    def set_state(self, st):
        self.n = st["n"]


class Fake:
    """Cycles of 150 env steps, one 'training step' each with losses 2n and n; acts with zeros."""

    def __init__(self):
        self.count = Counter()
        self.started = None

    def parts(self):
        return {"count": self.count}

    def start(self, loop, resumed):
        self.started = resumed

    def cycle(self, loop, remaining):
        self.count.n += 1
        n = min(150, remaining)
        return shared.CycleResult(n, None, np.zeros(0), [shared.TrainResult(2.0 * self.count.n, float(self.count.n), None)], {})

    def greedy(self, obs):
        return np.zeros(1, np.float32)

    def q(self, obs):
        return np.zeros(len(obs))

    def epoch_extra(self, loop):
        return {"fake/cycles": self.count.n}

    def sync_variables(self):
        return []


def _cfg(d, steps):
    sch = ScheduleConfig(num_timesteps=steps, nb_epoch_cycles=4, eval_interval=300, eval_episodes=1)
    from baselines_meta.resolve import resolve

    return resolve(RunConfig(alg="ddpg", env_id="Pendulum-v1", log_path=d, log_formats="csv", progress_bar=False,
                             schedule=sch))


def _rows(d):
    with open(os.path.join(d, "progress.csv")) as f:
        return list(csv.DictReader(f))


def test_loop_with_a_fake_algorithm_logs_evaluates_checkpoints_and_resumes(tmp_path):
    d = str(tmp_path / "run")
    ctx = RunContext(_cfg(d, 1000))
    algo = Fake()
    try:
        loop = shared.run(ctx, algo)
    finally:
        ctx.close()
    assert algo.started is False and loop.steps == 1000 and algo.count.n == 7  # 6 x 150 + 100
    rows = _rows(d)
    assert [int(float(r["total/steps"])) for r in rows] == [600, 1000]  # epochs of 4 cycles; the last one short
    assert [float(r["fake/cycles"]) for r in rows] == [4, 7]
    assert float(rows[0]["train/loss_critic"]) == np.mean([2, 4, 6, 8]) and float(rows[1]["train/loss_actor"]) == 6.0
    with open(os.path.join(d, "evaluations.csv")) as f:
        assert [int(r["steps"]) for r in csv.DictReader(f)] == [300, 600, 900, 1000]  # every 300 steps, and at the end
    # a larger budget resumes from the final checkpoint: the fake's own state comes back, the logs continue
    ctx = RunContext(_cfg(d, 1300), resume=True)
    again = Fake()
    try:
        loop = shared.run(ctx, again)
    finally:
        ctx.close()
    assert again.started is True and again.count.n == 9 and loop.steps == 1300
    assert [int(float(r["total/steps"])) for r in _rows(d)] == [600, 1000, 1300]
