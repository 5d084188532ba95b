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


class ObservationError(ValueError):
    """An observation a saved policy cannot act on: not [O] or [N, O] numbers, or NaN / inf in it."""
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


def _not_policy(path: str, why: str) -> PolicyFileError:
    return PolicyFileError(f"{path} is not a policy file written by --save_path ({why})")


def _first_line(e: Exception) -> str:
    """An exception's message in one short line (its first sentence), or its class name."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0]


def _read_arrays(path: str) -> dict:
    """The named arrays of a policy file; PolicyFileError in one line when it is no .npz of plain numeric arrays."""
    if os.path.isdir(path):
        raise PolicyFileError(f"{path} is a directory, not a policy file written by --save_path")
    if not os.path.exists(path):
        raise PolicyFileError(f"cannot read policy file {path}: no such file")
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as f:
                head = f.read(6)
            what = ("a Python pickle, which a policy file never is; not loaded" if head[:1] == b"\x80" else
                    "a single .npy array" if head == b"\x93NUMPY" else "an empty file" if not head else
                    "a truncated or damaged .npz archive" if head[:2] == b"PK" else "no .npz archive")
            raise _not_policy(path, what)
        out = {}
        with np.load(path, allow_pickle=False) as z:  # never unpickle: a policy file may come from anyone
            for k in z.files:
                try:
                    out[k] = z[k]
                except ValueError as e:
                    if "pickle" in str(e):
                        raise _not_policy(path, f"its entry {k!r} holds pickled Python objects, which a policy "
                                                "file never does; not loaded") from None
                    raise _not_policy(path, f"its entry {k!r} is no readable array") from None
        return out
    except PolicyFileError:
        raise
    except OSError as e:
        raise PolicyFileError(f"cannot read policy file {path}: {e.strerror or e}") from None
    except (ValueError, EOFError, zipfile.BadZipFile) as e:
        raise _not_policy(path, f"a damaged .npz archive: {_first_line(e)}") from None


class SavedPolicy:
    """A policy file: env id, the numpy actor and its observation normaliser."""

    def __init__(self, path: str):
        from baselines_meta.common.fastpolicy import NumpyActor, NumpyNormalizer

        z = _read_arrays(path)
        if "meta_json" not in z:
            names = ", ".join(sorted(z)[:5]) + (", ..." if len(z) > 5 else "")
            raise _not_policy(path, f"no meta_json header; it holds {names or 'no arrays'}")
        try:
            meta = json.loads(bytes(np.asarray(z["meta_json"], np.uint8)).decode())
            if not isinstance(meta, dict):
                raise TypeError
            self.config = meta["config"]
            self.env_id = str(self.config["env_id"])
            clip = float(self.config["ddpg"]["obs_clip"])
        except (ValueError, TypeError, KeyError):
            raise _not_policy(path, "its meta_json is not a policy's header") from None
        try:
            self.actor = NumpyActor.from_arrays(z, "actor/")
            self.norm = (NumpyNormalizer(None, clip, z["obs_mean"], z["obs_std"]) if "obs_mean" in z
                         else NumpyNormalizer(None, clip))
        except KeyError as e:
            raise _not_policy(path, f"no actor weights: {e.args[0]!r} is missing") from None
        except (ValueError, TypeError) as e:
            raise _not_policy(path, f"unreadable actor weights: {_first_line(e)}") from None
        kernels = self.actor.trunk.kernels
        try:  # the weights fit together and the header's sizes: one forward pass
            self.obs_dim = int(meta.get("obs_dim", kernels[0].shape[0] if kernels else 0))
            probe = self.forward_unchecked(np.zeros((1, self.obs_dim)))
            if probe.shape != (1, int(meta.get("act_dim", probe.shape[-1]))):
                raise ValueError(f"actions of shape {probe.shape[1:]}, the header says [{meta.get('act_dim')}]")
        except (ValueError, TypeError, IndexError) as e:
            raise _not_policy(path, f"its actor's weights do not fit together and obs_dim {meta.get('obs_dim')}: "
                                    f"{_first_line(e)}") from None
        self.act_dim = int(probe.shape[-1])
        try:
            self.teacher_arrays = [z[k] for k in sorted((k for k in z if k.startswith("teacher/")),
                                                        key=lambda k: int(k.split("/")[1]))]
        except ValueError:
            raise _not_policy(path, "its teacher's weights are misnamed") from None

    def forward_unchecked(self, obs: np.ndarray) -> np.ndarray:
        """The actor on raw float64 obs [..., O] without checks (--play's env loop)."""
        return self.actor(self.norm(obs)).astype(np.float32)

    def act(self, obs) -> np.ndarray:
        """The deterministic actor: raw obs [O] or [N, O] -> unit-box actions [A] or [N, A] (float32).

        ObservationError (a ValueError) for anything else: another shape, what is not numbers, NaN or inf."""
        want = f"[{self.obs_dim}] or [N, {self.obs_dim}]"
        try:
            x = np.asarray(obs, np.float64)
        except (ValueError, TypeError) as e:
            raise ObservationError(f"the observation is not an array of numbers ({_first_line(e)}); the policy for "
                                   f"{self.env_id} takes float arrays of shape {want}") from None
        if x.ndim not in (1, 2) or x.shape[-1] != self.obs_dim:
            raise ObservationError(f"observation of shape {x.shape}: the policy for {self.env_id} takes shape {want}")
        finite = np.isfinite(x)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            where = f"row {bad[0]}, index {bad[1]}" if x.ndim == 2 else f"index {bad[0]}"
            raise ObservationError(f"observation not finite ({x[tuple(bad)]} at {where}): the policy for {self.env_id} "
                                   "acts on finite observations only")
        return self.forward_unchecked(x)


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


def play(path: str, episodes: int, seed: int, video_dir: Optional[str], *, env_id: Optional[str] = None) -> list[float]:
    """Deterministic episodes of a saved actor; returns printed, MP4s written with video_dir. No TF needed.

    env_id: the --env the user gave, if any; --play runs the policy's own env, so another one is refused
    (PolicyFileError) before anything runs."""
    from baselines_meta.common.episodes import episode
    from baselines_meta.runtime.envs import ActionScaler, make_env

    pol = SavedPolicy(path)
    if env_id is not None and env_id != pol.env_id:
        raise PolicyFileError(f"--env {env_id} differs from the policy's env {pol.env_id} (--play runs the policy's "
                              "env; drop --env)")
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
    act = lambda o: scaler(np.clip(pol.forward_unchecked(np.asarray(o, np.float64)), -1, 1))  # the env's own observations: no checks
    returns = []
    for ep in range(episodes):
        on_step = None
        if video_dir:
            writer = imageio.get_writer(os.path.join(video_dir, f"episode-{ep}.mp4"), fps=env.metadata.get("render_fps", 30))
            env.reset(seed=seed + ep)
            writer.append_data(env.render())  # the first frame, before any step
            on_step = lambda: writer.append_data(env.render())  # noqa: E731
        total = episode(env, act, seed=seed + ep, on_step=on_step)
        if writer is not None:
            writer.close()
        returns.append(total)
        print(f"episode {ep}: return {total:.2f}", flush=True)
    print(f"mean return over {episodes} episodes: {np.mean(returns):.2f} +- {np.std(returns):.2f}", flush=True)
    if video_dir:
        print(f"videos in {os.path.abspath(video_dir)}", flush=True)
    return returns
