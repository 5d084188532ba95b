"""Environments: creation with clear errors, unit-box action scaling, rollouts that continue across calls, and
baselines-format monitor files. Terminated and truncated are kept apart throughout."""
from __future__ import annotations

import collections
import difflib
import os
import pickle
import warnings
from typing import Callable, NamedTuple, Optional

import numpy as np

from baselines_meta.common.episodes import episode
from baselines_meta.storage import faults
from baselines_meta.storage.monitor import Monitor, monitor_path


class EnvError(ValueError):
    """A user-facing problem with the requested environment."""


def _registry_ids() -> list[str]:
    import gymnasium as gym

    return sorted(gym.envs.registry.keys())


def make_env(env_id: str):
    """gym.make with a one-line error for unknown ids (with close names) and non-Box action spaces."""
    import gymnasium as gym

    from baselines_meta.runtime.tasks import register_envs

    register_envs()
    if env_id.startswith("dm_control/"):  # the dm_control suite, through shimmy (the field's own packages)
        try:
            import shimmy
        except ImportError:
            raise EnvError(f"{env_id} needs dm_control and shimmy: pip install -e '.[dm_control]'") from None
        gym.register_envs(shimmy)
    ids = _registry_ids()
    if env_id not in ids:
        close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EnvError(f"unknown environment id {env_id!r}{hint}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium warns that v4 MuJoCo envs are out of date; we support them
        try:
            env = gym.make(env_id)
        except Exception as e:  # missing dependency, bad kwargs...
            raise EnvError(f"cannot create environment {env_id!r}: {type(e).__name__}: {e}") from None
    if isinstance(env.observation_space, gym.spaces.Dict):  # dm_control's named observations, flattened in order
        env = gym.wrappers.FlattenObservation(env)
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        env.close()
        raise EnvError(f"{env_id} has a {type(space).__name__} action space; DDPG needs continuous (Box) actions")
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        env.close()
        raise EnvError(f"{env_id} has an unbounded action space; DDPG needs finite action bounds")
    if len(env.observation_space.shape or ()) != 1:
        env.close()
        raise EnvError(f"{env_id} has observations of shape {env.observation_space.shape}; only flat vectors are supported")
    return env


class ActionScaler:
    """Maps unit-box actions [-1, 1]^A to the env's [low, high] box (= a * high for symmetric boxes)."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low = np.asarray(low, np.float32)
        self.high = np.asarray(high, np.float32)

    def __call__(self, unit_action: np.ndarray) -> np.ndarray:
        """Unit-box actions [..., A] -> env actions [..., A] in [low, high] (float32)."""
        return self.low + (np.asarray(unit_action, np.float32) + 1.0) * 0.5 * (self.high - self.low)


class Rollout(NamedTuple):
    """n steps of one env: transitions [T, ...], terminated and truncated apart, and the episodes that finished."""
    obs0: np.ndarray  # [T, O]
    actions: np.ndarray  # [T, A] unit box, as executed (clipped)
    rewards: np.ndarray  # [T] raw env rewards
    obs1: np.ndarray  # [T, O]
    terminated: np.ndarray  # [T] bool
    truncated: np.ndarray  # [T] bool
    raw_actions: np.ndarray  # [T, A] what the policy proposed before clipping (the teacher's Gaussian sample)
    episode_returns: list  # returns of the episodes that finished during this rollout
    episode_lengths: list


ActFn = Callable[[np.ndarray], np.ndarray]  # [O] float32 -> [A] (unit box, may exceed it before clipping)


class StateRecorder:
    """The observations of a rollout stream's first and last `n` episodes (`--record_states`, for state-visitation
    density plots such as the paper's Figure 4). An episode ends at termination, truncation or a restart."""

    def __init__(self, n: int = 50):
        self.n = n
        self.count = 0  # episodes finished
        self.first: list[np.ndarray] = []
        self.last: collections.deque = collections.deque(maxlen=n)
        self.current: list[np.ndarray] = []

    def add(self, obs: np.ndarray) -> None:
        """Add one observation [O] to the episode in progress."""
        self.current.append(obs)

    def end_episode(self) -> None:
        """Close the episode in progress: keep it among the first n or the last n (no-op if it has no states)."""
        if not self.current:
            return
        ep = np.stack(self.current)
        self.current = []
        if len(self.first) < self.n:
            self.first.append(ep)
        self.last.append((self.count, ep))
        self.count += 1

    def arrays(self, name: str) -> dict:
        """{name}_first_obs / _first_episode and {name}_last_obs / _last_episode: the states stacked [N, O] and the
        index of the episode each came from."""
        out = {}
        for part, eps in (("first", list(enumerate(self.first))), ("last", list(self.last))):
            obs = [e for _, e in eps]
            out[f"{name}_{part}_obs"] = np.concatenate(obs) if obs else np.zeros((0, 0), np.float32)
            out[f"{name}_{part}_episode"] = np.concatenate([np.full(len(e), i) for i, e in eps]) if eps else np.zeros(0, int)
        return out

    def get_state(self) -> dict:
        """The recorder's episodes and counter, for the checkpoint."""
        return {"count": self.count, "first": list(self.first), "last": list(self.last), "current": list(self.current)}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave."""
        self.count, self.first, self.current = st["count"], list(st["first"]), list(st["current"])
        self.last = collections.deque(st["last"], maxlen=self.n)


class EnvRunner:
    """Steps one env for n steps at a time; the episode in progress continues across calls."""

    def __init__(self, env, seed: int, monitor: Optional[Monitor] = None, recorder: Optional[StateRecorder] = None):
        self.env = env
        self.recorder = recorder
        self.scaler = ActionScaler(env.action_space.low, env.action_space.high)
        self.monitor = monitor
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        self.obs = np.asarray(obs, np.float32)
        self.ep_return = 0.0
        self.ep_length = 0
        self.obs_dim = int(env.observation_space.shape[0])
        self.act_dim = int(env.action_space.shape[0])

    def restart(self, seed: int) -> None:
        """Drop the episode in progress (no monitor row, no return; a state recorder keeps its states as a cut
        episode) and start a new one from env.reset(seed=seed)."""
        obs, _ = self.env.reset(seed=int(seed))
        self.obs = np.asarray(obs, np.float32)
        self.ep_return, self.ep_length = 0.0, 0
        if self.recorder is not None:
            self.recorder.end_episode()

    def run(self, n: int, act: ActFn, on_episode_end: Optional[Callable[[], None]] = None,
            start_seed: Optional[int] = None, tape=None, stop_at_end: bool = False) -> Rollout:
        """n steps of `act`; the episode in progress continues from the last call, unless start_seed is given: then
        the rollout starts from env.reset(seed=start_seed) and its k-th later episode from seed start_seed + k, so
        two rollouts with the same start_seed meet the same start states (common random numbers).

        tape (runtime.branching.Tape): records what it needs to restore the state of any step of this rollout.
        stop_at_end: stop at the first episode end, without a reset (the rollout is then shorter than n)."""
        if start_seed is not None:
            self.restart(start_seed)
        if tape is not None:
            tape.begin(self)
        next_seed = None if start_seed is None else int(start_seed) + 1
        O, A = self.obs_dim, self.act_dim
        obs0 = np.empty((n, O), np.float32)
        obs1 = np.empty((n, O), np.float32)
        raw = np.empty((n, A), np.float32)
        rewards = np.empty(n, np.float32)
        term = np.zeros(n, np.bool_)
        trunc = np.zeros(n, np.bool_)
        rets, lens = [], []
        rec = self.recorder
        for t in range(n):
            obs0[t] = self.obs
            if rec is not None:
                rec.add(obs0[t].copy())  # (an env may reuse its observation buffer)
            raw[t] = act(self.obs)
            a = np.minimum(np.maximum(raw[t], -1.0), 1.0)  # np.clip's wrapper is slow per step
            env_action = self.scaler(a)
            if tape is not None:
                tape.step(self, t, env_action)
            o1, r, te, tr, _ = self.env.step(env_action)
            obs1[t] = o1
            rewards[t] = r
            term[t], trunc[t] = te, tr
            self.ep_return += float(r)
            self.ep_length += 1
            if te or tr:
                rets.append(self.ep_return)
                lens.append(self.ep_length)
                if self.monitor is not None:
                    self.monitor.episode(self.ep_return, self.ep_length)
                if rec is not None:
                    rec.end_episode()
                self.ep_return, self.ep_length = 0.0, 0
                if stop_at_end:
                    n = t + 1
                    break
                if next_seed is None:
                    o1, _ = self.env.reset()
                else:
                    o1, _ = self.env.reset(seed=next_seed)
                    next_seed += 1
                if on_episode_end is not None:
                    on_episode_end()
            self.obs = np.asarray(o1, np.float32)
        if n < len(obs0):  # stopped at an episode end
            obs0, obs1, raw, rewards, term, trunc = obs0[:n], obs1[:n], raw[:n], rewards[:n], term[:n], trunc[:n]
        return Rollout(obs0, np.clip(raw, -1.0, 1.0), rewards, obs1, term, trunc, raw, rets, lens)

    def get_state(self) -> dict:
        """The episode in progress (env state, observation, return, length) and the recorder, for the checkpoint."""
        return {"env": get_env_state(self.env), "obs": self.obs.copy(), "ep_return": self.ep_return, "ep_length": self.ep_length,
                "recorder": self.recorder.get_state() if self.recorder is not None else None}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave, so the episode in progress continues exactly."""
        set_env_state(self.env, st["env"])
        self.obs = st["obs"].copy()
        self.ep_return, self.ep_length = st["ep_return"], st["ep_length"]
        if self.recorder is not None and st.get("recorder") is not None:
            self.recorder.set_state(st["recorder"])


def evaluate(env, scaler: ActionScaler, act: ActFn, n_episodes: int, visited: Optional[list] = None) -> list[float]:
    """Returns of n full episodes on `env` (its episodes are independent of training's); the observations acted
    on are appended to `visited` when it is given (for eval/Q)."""
    return [episode(env, lambda o: scaler(np.clip(act(o), -1.0, 1.0)), on_obs=visited.append if visited is not None else None)
            for _ in range(n_episodes)]


def check_env_ids(env_ids) -> None:
    """EnvError (one line) for the first id that make_env refuses: the CLI, compare and bench check ids up front."""
    for e in env_ids:
        make_env(e).close()


def _time_limit(env):
    """The TimeLimit wrapper in env's chain (it holds the step count of the episode in progress), or None."""
    e = env
    while e is not None:
        if hasattr(e, "_elapsed_steps"):
            return e
        e = getattr(e, "env", None)
    return None


def get_env_state(env) -> dict:
    """Everything needed to continue the episode in progress exactly: the physics state (MuJoCo: the full
    integration state, warm-start included), the env's RNG and the time-limit counter."""
    u = env.unwrapped
    tl = _time_limit(env)
    dm = _dm_control(u)
    if dm is not None:  # shimmy's dm_control env: the physics' whole MjData, the step counter (its time limit), the task's RNG
        return {"np_random": None, "elapsed": tl._elapsed_steps if tl is not None else None, "dm_control": {
            "data": pickle.dumps(dm._physics.data.ptr), "step_count": dm._step_count, "reset_next": dm._reset_next_step,
            "task_random": dm._task.random.get_state()}}
    st: dict = {"np_random": u.np_random.bit_generator.state if getattr(u, "_np_random", None) is not None else None}
    st["elapsed"] = tl._elapsed_steps if tl is not None else None
    if hasattr(u, "model") and hasattr(u, "data"):  # gymnasium MujocoEnv
        # The whole MjData, not only the integration state: rewards read positions computed at the start of the
        # last mj_step (e.g. Reacher), which mj_forward after mj_setState would recompute at the new state.
        st["mujoco"] = pickle.dumps(u.data)
    else:  # classic control and other pure-Python envs: their attributes are plain data
        st["attrs"] = {k: v for k, v in vars(u).items() if k not in ("np_random", "_np_random", "spec", "screen", "clock", "renderer")
                       and isinstance(v, (int, float, bool, np.ndarray, np.generic, type(None), tuple, list))}
    return st


def _dm_control(u):
    """The dm_control Environment inside a shimmy env, or None."""
    inner = getattr(u, "_env", None)
    return inner if inner is not None and hasattr(inner, "_physics") and hasattr(inner, "_task") else None


def set_env_state(env, st: dict) -> None:
    """Put back the state `get_env_state` gave: the env's RNG, time-limit counter and physics (or plain attributes)."""
    u = env.unwrapped
    if "dm_control" in st:
        import mujoco

        dm, d = _dm_control(u), st["dm_control"]
        mujoco.mj_copyData(dm._physics.data.ptr, dm._physics.model.ptr, pickle.loads(d["data"]))
        dm._step_count, dm._reset_next_step = d["step_count"], d["reset_next"]
        dm._task.random.set_state(d["task_random"])
        tl = _time_limit(env)
        if tl is not None and st["elapsed"] is not None:
            tl._elapsed_steps = st["elapsed"]
        return
    if st["np_random"] is not None:
        u.np_random.bit_generator.state = st["np_random"]
    tl = _time_limit(env)
    if tl is not None and st["elapsed"] is not None:
        tl._elapsed_steps = st["elapsed"]
    if "mujoco" in st:
        import mujoco

        mujoco.mj_copyData(u.data, u.model, pickle.loads(st["mujoco"]))
    else:
        for k, v in st["attrs"].items():
            setattr(u, k, v)


class EnvFactory:
    """The envs of one run, each with its monitor file (continued in place on resume) and, with --record_states, its
    state recorder (rank 0 alone writes states.npz)."""

    def __init__(self, env_id: str, log_dir: str, rank: int, seeds, resume_sizes: Optional[dict], record_states: bool):
        """seeds: runtime.seeds.Seeds; resume_sizes: byte lengths of the run's files at the checkpoint resumed from."""
        self.env_id, self.log_dir, self.rank = env_id, log_dir, rank
        self.seeds, self.resume_sizes, self.record_states = seeds, resume_sizes, record_states
        self.monitors: list[Monitor] = []
        self.recorders: dict[str, StateRecorder] = {}  # by stream name

    def runner(self, purpose: str, monitor_tag: str = "", record: Optional[str] = None) -> EnvRunner:
        """An env runner seeded for `purpose`, with its monitor; `record`: the stream's name in states.npz."""
        env = make_env(self.env_id)
        path = monitor_path(self.log_dir, self.rank, monitor_tag)
        sizes = self.resume_sizes or {}
        mon = Monitor(path, self.env_id, truncate_to=sizes.get(os.path.basename(path)) if self.resume_sizes is not None else None)
        self.monitors.append(mon)
        rec = None
        if record is not None and self.record_states and self.rank == 0:
            rec = self.recorders[record] = StateRecorder()
        return EnvRunner(env, self.seeds.env_seed(purpose), monitor=mon, recorder=rec)

    def write_states(self) -> None:
        """states.npz of the recorded streams (rank 0; the episode in progress is left out)."""
        if not self.recorders or self.rank != 0:
            return
        out = {}
        for name, rec in self.recorders.items():
            out.update(rec.arrays(name))
        path = os.path.join(self.log_dir, "states.npz")
        with faults.writing(path, tmp=path + ".tmp.npz"):
            np.savez_compressed(path + ".tmp.npz", **out)
            os.replace(path + ".tmp.npz", path)

    def close(self) -> None:
        """Close every monitor file of the run's envs."""
        for m in self.monitors:
            m.close()
