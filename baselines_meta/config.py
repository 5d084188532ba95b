"""Typed configuration: one frozen dataclass per component, paper / baselines defaults.

Sources: baselines `ddpg/main.py` + `training.py` (pre-refactor, as used by the paper), the paper's Table 1 and
Section 5.1 ("Learning to Explore with Meta-Policy Gradient", Xu et al., ICML 2018).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal, Optional

ALGS = ("meta", "meta-variance", "ddpg")


@dataclass(frozen=True)
class NetworkConfig:
    hidden: tuple[int, ...] = (64, 64)  # baselines / paper: two hidden layers of 64 units
    layer_norm: bool = True  # paper 5.1: LayerNorm in actor, critic and teacher
    layer_norm_eps: float = 1e-12  # tf.contrib layer_norm's variance epsilon used by baselines
    final_init: float = 3e-3  # output layers U(-3e-3, 3e-3), as baselines


@dataclass(frozen=True)
class DDPGConfig:
    actor_lr: float = 1e-4  # baselines / paper 5.1
    critic_lr: float = 1e-3  # baselines / paper 5.1
    critic_l2_reg: float = 1e-2  # L2 on critic kernels: reg * sum(w^2) / 2 (tf.contrib l2_regularizer)
    critic_l2_output: bool = True  # the paper's baselines (pre-refactor) penalised the output kernel too, having
    # named no layer 'output'; False gives baselines master after #733 (Nov 2018): hidden kernels only
    gamma: float = 0.99  # discount
    tau: float = 0.01  # soft target update after every gradient step
    batch_size: int = 64  # per worker
    buffer_size: int = 1_000_000  # replay capacity per worker
    normalize_observations: bool = True  # running mean/std, MPI-aggregated, std floored at 0.1
    obs_clip: float = 5.0  # normalised observations clipped to +-5
    normalize_returns: bool = False  # baselines option: critic predicts normalised returns
    popart: bool = False  # baselines option: preserve outputs when return statistics change
    return_clip: float = math.inf  # clip of critic targets (baselines: +-inf)
    reward_scale: float = 1.0  # multiply rewards before storing
    clip_norm: Optional[float] = None  # clip each actor and critic gradient tensor to this norm (baselines
    # U.flatgrad: tf.clip_by_norm per tensor, not the global norm); None: no clipping (baselines' default)
    noise_type: str = "adaptive-param_0.2"  # baselines' noise string, see noise.parse_noise_type
    param_noise_adaption_interval: int = 50  # train steps between param-noise adaptations (baselines)
    truncation_as_terminal: bool = False  # True restores baselines' bug #436 (no bootstrap at time limit)
    network: NetworkConfig = field(default_factory=NetworkConfig)


@dataclass(frozen=True)
class TeacherConfig:
    kind: Literal["independent", "variance"] = "independent"  # 'meta' vs 'meta-variance' (paper 4.2 ii / i)
    lr: float = 1e-4  # paper 5.1: learning rate of the meta policy
    log_std_min: float = -4.0  # log-std is squashed into [log_std_min, log_std_max] by tanh
    log_std_max: float = 0.0
    init_log_std: float = -2.0  # initial log-std (set through the output bias): e^-2 = 0.135 of the unit action box
    clip: float = 0.2  # the teacher's repeated steps on one D0 use PPO's clipped ratio (eps); the first step is the
    # paper's REINFORCE step exactly; 0: every step is plain REINFORCE (the paper's form; unstable with 100 steps)
    network: NetworkConfig = field(default_factory=NetworkConfig)


@dataclass(frozen=True)
class ScheduleConfig:
    """The baselines epoch / cycle schedule (paper Table 1) and the extra steps of Algorithm 1."""

    num_timesteps: int = 4000  # env steps per worker, evaluation excluded (baselines semantics)
    nb_epoch_cycles: int = 20  # paper Table 1
    nb_rollout_steps: int = 200  # paper Table 1 (DDPG: env steps per cycle)
    nb_train_steps: int = 50  # paper Table 1 (DDPG train steps per cycle; meta: each of the two updates)
    nb_explore_steps: int = 100  # meta: |D0|, teacher steps per cycle
    nb_eval_steps: int = 200  # meta: |D1|, steps of the look-ahead student per cycle
    nb_teacher_steps: int = 1  # meta: teacher gradient steps per cycle
    # R_pi of a policy (Algorithm 1 lines 2, 7, 10) from a rollout that starts with a fresh reset: 'return' = mean
    # undiscounted return of its episodes (paper eq. 3; an episode cut by the rollout's end counts only if it is the
    # first); 'step' = mean reward per step (ignores falls: constant on InvertedPendulum; an ablation)
    meta_reward: Literal["return", "step"] = "return"
    # R_pi of cycle t: 'fresh' rolls pi out again after the update on B (line 10); 'previous' reuses R_pi' of cycle
    # t-1 (cheaper, noisier: an ablation)
    meta_baseline: Literal["fresh", "previous"] = "fresh"
    paired_starts: bool = True  # the rollouts behind R_pi and R_pi' of a cycle start from the same reset seeds
    meta_reward_norm: Literal["window", "none"] = "window"  # standardise Delta by the mean / std of the last
    # nb_epoch_cycles Deltas (REINFORCE's usual reward standardisation, our choice); 'none': the paper's raw Delta
    meta_reward_placebo: bool = False  # control: the teacher gets the (standardised) Delta times a random sign
    lookahead: Literal["inplace", "copy"] = "inplace"  # Algorithm 1 updates pi in place; 'copy' is an ablation
    d0_in_replay: bool = True  # Algorithm 1 line 9 adds D0 to B; False keeps the teacher's data out (an ablation)
    eval_interval: int = 4000  # env steps per worker between evaluations
    eval_episodes: int = 10  # deterministic evaluation episodes (split over MPI ranks)


@dataclass(frozen=True)
class RunConfig:
    alg: str = "meta"  # one of ALGS
    env_id: str = "Pendulum-v1"
    seed: int = 0  # rank r uses seed + 1000000 * r (baselines)
    preset: Literal["paper", "none"] = "paper"
    log_path: Optional[str] = None  # else $OPENAI_LOGDIR, else ./logs/<env>-<alg>-seed<seed>-<time>
    log_formats: Optional[str] = None  # else $OPENAI_LOG_FORMAT, else stdout,log,csv (also: json,tensorboard)
    progress_bar: bool = True  # on rank 0 when stdout is a terminal
    sync_check_interval: int = 1  # epochs between checks that all ranks hold identical weights
    deterministic_ops: bool = True  # tf op determinism, for seeded reproducibility
    save_interval: Optional[int] = None  # env steps per worker between checkpoints; None: each epoch
    tf_threads: int = 0  # TF intra/inter-op threads; 0: TF's default for one worker, 1 under MPI
    fast: bool = True  # numpy acting, fused XLA train steps (single worker); False: plain per-step TF calls
    ddpg: DDPGConfig = field(default_factory=DDPGConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self):
        """The algorithm decides the teacher's kind: 'meta-variance' trains the actor-mean teacher, the others the
        independent one (a RunConfig built in code cannot pair them otherwise)."""
        if self.alg not in ALGS:
            raise ValueError(f"alg must be one of {', '.join(ALGS)}, got {self.alg!r}")
        kind = "variance" if self.alg == "meta-variance" else "independent"
        if self.teacher.kind != kind:
            object.__setattr__(self, "teacher", dataclasses.replace(self.teacher, kind=kind))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Inverse of to_dict (config.json), ignoring keys that are not fields (versions, seeds...)."""
        return _from_dict(cls, d)


def _from_dict(cls, d: dict):
    import typing

    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            v = _from_dict(t, v)
        elif isinstance(v, list):
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw)
