"""Branching from the states of a recorded rollout (`--teacher_start student`): the teacher's D0 episodes start from
states the student's own rollout visited, each restored exactly.

A Tape records a rollout cheaply: the env's whole state (storage-grade: runtime.envs.get_env_state, MuJoCo's entire
MjData) at the rollout's start, after every reset and every SNAPSHOT_EVERY steps, and the env action of every step.
The state of step k is then the nearest snapshot at or before k in the same episode, stepped forward with the
recorded actions: the same calls as the rollout made, so the observation, the derived quantities some rewards read
(Reacher's body positions) and the time limit's counter come back exactly. Storing the whole state at every step
instead would take 0.7 MB a step on HalfCheetah.
"""
from __future__ import annotations

import numpy as np

from baselines_meta.runtime.envs import EnvError, EnvRunner, Rollout, get_env_state, make_env, set_env_state

SNAPSHOT_EVERY = 50


class Tape:
    """What restores any step of one rollout: snapshots, the env actions, each step's depth in its episode."""

    def __init__(self):
        self.snapshots: dict[int, dict] = {}  # step -> env state before that step's action
        self.actions: list[np.ndarray] = []  # [T] env actions, as executed
        self.depths: list[int] = []  # [T] steps since the episode's start (0 at a reset)
        self.obs: list[np.ndarray] = []  # [T] the observation acted on
        self._last = -SNAPSHOT_EVERY
        self._new_episode = True

    def __len__(self) -> int:
        return len(self.actions)

    def begin(self, runner: EnvRunner) -> None:
        """A rollout starts (EnvRunner.run calls it): its first step gets a snapshot."""
        self._new_episode = True

    def step(self, runner: EnvRunner, t: int, env_action: np.ndarray) -> None:
        """Before step t's action (EnvRunner.run calls it): snapshot when due, then record the action."""
        k = len(self.actions)
        depth = runner.ep_length
        if self._new_episode or depth == 0 or k - self._last >= SNAPSHOT_EVERY:
            self.snapshots[k] = get_env_state(runner.env)
            self._last = k
        self._new_episode = False
        self.actions.append(np.array(env_action, copy=True))
        self.depths.append(depth)
        self.obs.append(runner.obs.copy())

    def restore(self, env, k: int) -> np.ndarray:
        """Put env in the state of step k (before its action); returns the observation of that step."""
        d = self.depths
        s = max(j for j in self.snapshots if j <= k and d[k] - d[j] == k - j)  # the nearest in k's episode
        set_env_state(env, self.snapshots[s])
        obs = self.obs[s]
        for j in range(s, k):
            obs, _, te, tr, _ = env.step(self.actions[j])
            assert not (te or tr), "a replayed step ended the episode"  # (the snapshot is in k's episode)
        return np.asarray(obs, np.float32)

    def get_state(self) -> dict:
        """The tape for the checkpoint (needed across cycles only under --meta_baseline previous)."""
        return {"snapshots": self.snapshots, "actions": self.actions, "depths": self.depths, "obs": self.obs}

    def set_state(self, st: dict) -> None:
        """Restore the tape `get_state` gave."""
        self.snapshots, self.actions, self.depths, self.obs = st["snapshots"], st["actions"], st["depths"], st["obs"]


def run_branched(runner: EnvRunner, n: int, act, tape: Tape, rng: np.random.Generator) -> tuple[Rollout, list[int]]:
    """n steps of `act` on runner's env in episodes that each start from the state of a step of `tape`, drawn
    uniformly, restored exactly (its time limit counting from the recorded episode's start); each episode ends at its
    termination or time limit, then the next branches anew. An episode still running at n is cut: its last
    transition is stored as truncated (bootstrapped). Returns the rollout and the depth of each branch."""
    parts, depths, left = [], [], n
    while left > 0:
        k = int(rng.integers(len(tape)))
        runner.obs = tape.restore(runner.env, k)
        runner.ep_return, runner.ep_length = 0.0, 0
        if runner.recorder is not None:
            runner.recorder.end_episode()  # (a cut episode, if any)
        depths.append(tape.depths[k])
        ro = runner.run(left, act, stop_at_end=True)
        parts.append(ro)
        left -= len(ro.rewards)
    trunc = np.concatenate([p.truncated for p in parts])
    term = np.concatenate([p.terminated for p in parts])
    if not (term[-1] or trunc[-1]):
        trunc[-1] = True  # cut by D0's end
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    ro = Rollout(cat("obs0"), cat("actions"), cat("rewards"), cat("obs1"), term, trunc, cat("raw_actions"),
                 [x for p in parts for x in p.episode_returns], [x for p in parts for x in p.episode_lengths])
    return ro, depths


def check_restorable(env_id: str, steps: int = 30, seed: int = 0) -> None:
    """EnvError (one line) when env_id's state cannot be restored exactly: a tape of a random rollout on one env,
    restored on another at every step, must give the recorded observation, and the recorded action the recorded
    next observation and reward."""
    a, b = make_env(env_id), make_env(env_id)
    try:
        runner, tape = EnvRunner(a, seed), Tape()
        rng = np.random.default_rng(seed)
        ro = runner.run(steps, lambda o: rng.uniform(-1, 1, runner.act_dim).astype(np.float32), tape=tape)
        b.reset(seed=seed + 1)
        for k in range(len(tape)):
            obs = tape.restore(b, k)
            o1, r, *_ = b.step(tape.actions[k])
            if not (np.array_equal(obs, ro.obs0[k]) and np.array_equal(np.asarray(o1, np.float32), ro.obs1[k])
                    and np.float32(r) == ro.rewards[k]):
                raise EnvError(f"{env_id}: its state cannot be restored exactly (step {k} of a recorded rollout "
                               f"differs), which --teacher_start student needs")
    except EnvError:
        raise
    except Exception as e:  # an env whose state get_env_state cannot read or write
        raise EnvError(f"{env_id}: its state cannot be restored ({type(e).__name__}: {e}), which --teacher_start "
                       f"student needs") from None
    finally:
        a.close()
        b.close()

