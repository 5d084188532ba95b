"""Save, load and play a trained policy: `--save_path P` then `--load_path P --play [--video DIR]`.

The file is one .npz: the actor's weights, the teacher's (meta runs), the observation statistics, and the JSON
config needed to rebuild the networks. Playing uses the deterministic actor.
"""
from __future__ import annotations

import json
import os
import sys
import zipfile
from typing import Optional

import numpy as np

from baselines_meta.storage import faults


class PolicyFileError(ValueError):
    """A policy file that cannot be read, or a --play / --video set-up that cannot run (no headless rendering, no imageio-ffmpeg)."""
    pass


def save_policy(path: str, cfg, learner, teacher=None) -> None:
    """The deterministic actor as plain arrays (playable without TF), the teacher's weights, the statistics.

    Only numeric arrays: the file loads with allow_pickle=False, so a policy file cannot run code (unlike a
    checkpoint). A failed write raises faults.WriteError and leaves no temporary file."""
    from baselines_meta.common.fastpolicy import NumpyActor

    arrays = NumpyActor(learner.actor).arrays("actor/")
    if teacher is not None:
        arrays.update({f"teacher/{i}": v.numpy() for i, v in enumerate(teacher.net.own_variables())})
    if learner.obs_rms is not None:
        arrays["obs_mean"] = learner.obs_rms.mean.numpy()
        arrays["obs_std"] = learner.obs_rms.std.numpy()
    meta = {"config": cfg.to_dict(), "obs_dim": learner.obs_dim, "act_dim": learner.act_dim}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    tmp = path + ".tmp.npz"
    with faults.writing(path, tmp):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        np.savez(tmp, **arrays)
        faults.point("policy")
        os.replace(tmp, path)


class SavedPolicy:
    """A policy file: env id, the numpy actor and its observation normaliser."""

    def __init__(self, path: str):
        from baselines_meta.common.fastpolicy import NumpyActor, NumpyNormalizer

        try:
            z = dict(np.load(path, allow_pickle=False))  # never unpickle: a policy file may come from anyone
            meta = json.loads(bytes(z["meta_json"]).decode())
            self.config = meta["config"]
            self.env_id = self.config["env_id"]
            self.actor = NumpyActor.from_arrays(z, "actor/")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise PolicyFileError(f"cannot read policy file {path}: {e}") from None
        clip = float(self.config["ddpg"]["obs_clip"])
        self.norm = (NumpyNormalizer(None, clip, z["obs_mean"], z["obs_std"]) if "obs_mean" in z
                     else NumpyNormalizer(None, clip))
        self.teacher_arrays = [z[k] for k in sorted((k for k in z if k.startswith("teacher/")), key=lambda k: int(k.split("/")[1]))]

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic actor: raw obs [..., O] -> unit-box actions [..., A] (float32)."""
        return self.actor(self.norm(np.asarray(obs, np.float64))).astype(np.float32)


_PROBE = """
import os, sys, warnings
warnings.simplefilter("ignore")
import gymnasium as gym
env = gym.make(sys.argv[1], render_mode="rgb_array")
env.reset(seed=0)
assert env.render() is not None
"""


def _render_env(env_id: str):
    """An rgb_array env for video, headless: MUJOCO_GL=egl, else osmesa, with a clear message if neither works.

    Each backend is first tried in a child process: a broken EGL stack can crash the process (SIGSEGV) rather
    than raise, which no except clause can catch.
    """
    import subprocess

    import gymnasium as gym

    errors = []
    for backend in ([os.environ["MUJOCO_GL"]] if os.environ.get("MUJOCO_GL") else ["egl", "osmesa"]):
        env_vars = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        r = subprocess.run([sys.executable, "-c", _PROBE, env_id], env=env_vars, capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = backend
            env = gym.make(env_id, render_mode="rgb_array")
            return env
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit code {r.returncode}"
        errors.append(f"{backend}: {'crashed (signal %d)' % -r.returncode if r.returncode < 0 else last}")
        if backend == "egl":
            print("baselines_meta: EGL rendering failed, falling back to OSMesa", file=sys.stderr)
    raise PolicyFileError("headless rendering failed (" + "; ".join(errors) + "); install EGL drivers or OSMesa (libosmesa6)")


def play(path: str, episodes: int, seed: int, video_dir: Optional[str]) -> list[float]:
    """Deterministic episodes of a saved actor; returns printed, MP4s written with video_dir. No TF needed."""
    from baselines_meta.common.episodes import episode
    from baselines_meta.runtime.envs import ActionScaler, make_env

    pol = SavedPolicy(path)
    writer = None
    if video_dir:
        try:
            import imageio
            import imageio_ffmpeg  # noqa: F401 - the MP4 encoder imageio needs
        except ImportError:
            raise PolicyFileError("--video needs imageio-ffmpeg: pip install 'baselines_meta[video]'") from None
        env = _render_env(pol.env_id)
        os.makedirs(video_dir, exist_ok=True)
    else:
        env = make_env(pol.env_id)
    scaler = ActionScaler(env.action_space.low, env.action_space.high)
    returns = []
    for ep in range(episodes):
        on_step = None
        if video_dir:
            writer = imageio.get_writer(os.path.join(video_dir, f"episode-{ep}.mp4"), fps=env.metadata.get("render_fps", 30))
            env.reset(seed=seed + ep)
            writer.append_data(env.render())  # the first frame, before any step
            on_step = lambda: writer.append_data(env.render())  # noqa: E731
        total = episode(env, lambda o: scaler(np.clip(pol.act(o), -1, 1)), seed=seed + ep, on_step=on_step)
        if writer is not None:
            writer.close()
        returns.append(total)
        print(f"episode {ep}: return {total:.2f}", flush=True)
    print(f"mean return over {episodes} episodes: {np.mean(returns):.2f} +- {np.std(returns):.2f}", flush=True)
    if video_dir:
        print(f"videos in {os.path.abspath(video_dir)}", flush=True)
    return returns
