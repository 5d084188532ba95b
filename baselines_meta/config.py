"""Typed configuration: one frozen dataclass per component, paper / baselines defaults.

Sources: baselines `ddpg/main.py` + `training.py` (pre-refactor, as used by the paper), the paper's Table 1 and
Section 5.1 ("Learning to Explore with Meta-Policy Gradient", Xu et al., ICML 2018).

The command line is generated from these fields (flags.build_parser): each field made with `opt` carries its help
text and its check in its metadata, so a setting is written once. Fields made with plain defaults have no flag.

A field that `--preset paper`, `--meta_form` or the algorithm fills (opt(..., preset=True)) starts as UNSET, a marker
and not a value: resolve.resolve() fills only what is UNSET, so a value the caller set wins however the config was
made (a RunConfig in code, make_config, the CLI, --resume), and a config still holding an UNSET cannot start a run.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np

ALGS = ("meta", "meta-variance", "ddpg")
META_ALGS = ("meta", "meta-variance")  # the algorithms with a teacher
MAX_SEED = 2**32 - 1  # numpy's and tf_keras' seeds are 32-bit: every rank's seed (seed + 1000000 * rank) must fit


class UsageError(ValueError):
    """Bad input, from the command line or the Python API: one line on stderr and exit code 2 from the CLI.
    `all_ranks`: every MPI rank raises it alike, so rank 0 alone reports it."""

    all_ranks = True


class _Unset:
    """The marker of a setting nobody set yet (see the module's docstring); one instance, UNSET."""

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self):
        return "UNSET"


UNSET: Any = _Unset()


def opt(default: Any, help: str, *, preset: bool = False, reads: Optional[tuple] = None, inert: Any = ...,
        **check: Any) -> Any:
    """A field with a command-line flag: `help`, and its check: min= / max= (integers), lo= / hi= / lo_open=
    (numbers), choices=, flag= (the flag's name, when not --<field name>).

    default: the value when nothing sets it (for preset=True fields: when neither the caller, the paper preset, the
    meta form nor the algorithm sets it). preset=True: the field starts as UNSET (resolve.resolve fills it).
    reads: the algorithms that read the setting (default: all); for the others the config records `inert` (default:
    `default`), and a different value set explicitly is refused (resolve.alg_error), whatever the entry. when=
    {setting: values}: a plug-in's own setting, read only when that setting takes one of those values (refused alike
    otherwise). registry=: the plug-in registry whose names the setting takes (meta.plugins)."""
    meta = {"help": help, "fallback": default, **check}
    if preset:
        meta["preset"] = True
    if reads is not None:
        meta["reads"] = reads
    meta["inert"] = default if inert is ... else inert
    return field(default=UNSET if preset else default, metadata=meta)


def bound_error(name: str, v: Any, meta: dict, shown: Optional[str] = None) -> Optional[str]:
    """The one bounds check of a number setting, for the flags (flags._int / _float) and for configs built in code
    (check_bounds): the error message naming `name`, or None. meta holds the field's check: min= (an integer >= min:
    integers only, numpy's too; not bools, not 2.5 or inf) or lo= / hi= / lo_open= (a number in that range, not NaN).
    `shown` is how the value appears in the message (the typed string for a flag; repr(v) by default)."""
    shown = repr(v) if shown is None else shown
    if "min" in meta:
        kind = "a positive integer" if meta["min"] == 1 else "a non-negative integer"
        if "max" in meta:
            kind = f"an integer in [{meta['min']}, {meta['max']}]"
        if (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < meta["min"]  # (numpy's bool is no Integral)
                or ("max" in meta and v > meta["max"])):
            return f"{name} must be {kind}, got {shown}"
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    if math.isinf(v):  # no setting means anything at infinity: --critic_lr inf ran until its first NaN
        return f"{name} must be a finite number, got {shown}"
    if not {"lo", "hi"} & set(meta):
        return None
    lo, hi, lo_open = meta.get("lo"), meta.get("hi"), meta.get("lo_open", False)
    if math.isnan(v) or (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
        return f"{name} must be in {'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}], got {shown}"
    return None


def type_error(name: str, v: Any, hint: Any, meta: dict) -> Optional[str]:
    """The type check of a setting built in code (the flags convert their strings first): the message naming `name`,
    or None. bool fields take True / False, str fields a string, Literal fields (and choices=) one of their values, int
    and float fields a number (bound_error checks integers and ranges)."""
    base, optional = hint, False
    if typing.get_origin(hint) is typing.Union:
        args = [t for t in typing.get_args(hint) if t is not type(None)]
        base, optional = args[0], len(args) < len(typing.get_args(hint))
    if v is None:
        return None if optional else f"{name} needs a value, got None"
    choices = typing.get_args(base) if typing.get_origin(base) is typing.Literal else meta.get("choices")
    if choices is not None:
        return None if isinstance(v, str) and v in choices else f"{name} must be one of {', '.join(choices)}, got {v!r}"
    if base is bool:
        return None if isinstance(v, bool) else f"{name} must be True or False, got {v!r}"
    if base is str:
        return None if isinstance(v, str) and v else f"{name} must be a non-empty string, got {v!r}"
    if base in (int, float) and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
        return f"{name} must be a number, got {v!r}" if "min" not in meta else None  # (bound_error names integers)
    return None


_HINTS: dict = {}


def check_bounds(obj, prefix: str = "") -> None:
    """The types and bounds of obj's `opt` fields, for a config built in code rather than from flags: UsageError naming
    the flag (--<prefix><field>, or its flag=). UNSET fields are left to the resolver. eval_interval=0 would evaluate
    forever; the flags check the same first, with the same bound_error."""
    cls = type(obj)
    hints = _HINTS.setdefault(cls, typing.get_type_hints(cls))
    for f in dataclasses.fields(obj):
        m, v = f.metadata, getattr(obj, f.name)
        if v is UNSET or "help" not in m:
            continue
        if isinstance(v, np.bool_):  # a numpy comparison's result: a bool
            v = bool(v)
            object.__setattr__(obj, f.name, v)
        name = m.get("flag", f"--{prefix}{f.name}")
        err = type_error(name, v, hints[f.name], m) or (None if v is None else bound_error(name, v, m))
        if err:
            raise UsageError(err)
        if hints[f.name] is float and isinstance(v, numbers.Real) and not isinstance(v, float):
            object.__setattr__(obj, f.name, float(v))  # 1 -> 1.0: config.json records a float field as a float
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, int)):
            object.__setattr__(obj, f.name, int(v))  # numpy's integers -> int (config.json, equality)


@dataclass(frozen=True)
class NetworkConfig:
    """Hidden sizes, LayerNorm and output initialisation of the actor, critic and teacher MLPs (baselines / paper 5.1)."""
    hidden: tuple[int, ...] = (64, 64)  # baselines / paper: two hidden layers of 64 units
    layer_norm: bool = opt(True, "LayerNorm in actor, critic and teacher (paper 5.1)")
    layer_norm_eps: float = 1e-12  # tf.contrib layer_norm's variance epsilon used by baselines
    final_init: float = 3e-3  # output layers U(-3e-3, 3e-3), as baselines


@dataclass(frozen=True)
class DDPGConfig:
    """The DDPG student's settings: learning rates, critic L2, discount, replay, normalisation, noise (baselines defaults)."""
    actor_lr: float = opt(1e-4, "actor Adam learning rate (baselines, paper 5.1)", lo=0, lo_open=True)
    critic_lr: float = opt(1e-3, "critic Adam learning rate (baselines, paper 5.1)", lo=0, lo_open=True)
    critic_l2_reg: float = opt(1e-2, "critic L2: reg * sum(w^2) / 2 over its kernels (tf.contrib l2_regularizer)", lo=0)
    # The paper's baselines (pre-refactor) penalised the output kernel too, having named no layer 'output'
    critic_l2_output: bool = opt(True, "critic L2 on the output kernel too (the paper's baselines); "
                                       "--no-critic_l2_output: hidden kernels only (baselines master after #733)")
    gamma: float = opt(0.99, "discount", lo=0, hi=1)
    tau: float = opt(0.01, "soft target update after every gradient step", lo=0, hi=1)
    batch_size: int = opt(64, "minibatch per worker", min=1)
    buffer_size: int = opt(1_000_000, "replay capacity per worker", min=1)
    normalize_observations: bool = opt(True, "running mean / std over all ranks, std floored at 0.1")
    obs_clip: float = opt(5.0, "normalised (or raw, without normalisation) observations clipped to +-obs_clip", lo=0,
                          lo_open=True)
    normalize_returns: bool = opt(False, "critic predicts normalised returns (statistics move only with --popart)")
    popart: bool = opt(False, "preserve the critic's outputs when the return statistics change")
    return_clip: float = math.inf  # clip of critic targets (baselines: +-inf)
    reward_scale: float = opt(1.0, "multiply rewards before storing", lo=0, lo_open=True)
    # baselines U.flatgrad: tf.clip_by_norm per tensor, not the global norm
    clip_norm: Optional[float] = opt(None, "clip each actor and critic gradient tensor to this norm (baselines); "
                                           "default: no clipping", lo=0, lo_open=True)
    noise_type: str = opt("adaptive-param_0.2", "none, normal_X, ou_X, adaptive-param_X, comma-combined (ddpg only: "
                                                "meta's teacher replaces the noise, and its config records none)",
                          preset=True, reads=("ddpg",), inert="none")
    param_noise_adaption_interval: int = opt(50, "train steps between param-noise adaptations", min=1)
    truncation_as_terminal: bool = opt(False, "treat time-limit truncation as terminal (baselines bug #436, for comparison)")
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self):
        check_bounds(self)
        if self.popart and not self.normalize_returns:
            raise UsageError("--popart needs --normalize_returns")
        if self.buffer_size < self.batch_size:
            raise UsageError(f"--buffer_size {self.buffer_size} is smaller than --batch_size {self.batch_size}: a "
                             f"minibatch is drawn from the replay buffer")


@dataclass(frozen=True)
class TeacherConfig:
    """The meta policy (teacher): its kind, Adam learning rate, log-std bounds and PPO clip of its repeated steps."""
    kind: Literal["independent", "variance"] = "independent"  # set by the algorithm: 'meta' / 'meta-variance'
    lr: float = opt(1e-4, "the meta policy's Adam learning rate (paper 5.1)", lo=0, lo_open=True, reads=META_ALGS)
    log_std_min: float = opt(-4.0, "log-std is squashed into [log_std_min, log_std_max] by tanh", reads=META_ALGS)
    log_std_max: float = opt(0.0, "upper bound of the log-std", reads=META_ALGS)
    init_log_std: float = opt(-2.0, "the teacher's initial log-std (inside the bounds; set through the output bias), "
                                    "in units of the unit action box: e^-2 = 0.135", reads=META_ALGS)
    # The first step on a D0 is the paper's REINFORCE step exactly
    clip: float = opt(0.2, "PPO ratio clip of the teacher's repeated steps on one D0 (the first step is REINFORCE); "
                           "0: plain REINFORCE every step (the paper's form; unstable with 100 steps)", lo=0, hi=1,
                      preset=True, reads=META_ALGS)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self):
        check_bounds(self, "teacher_")
        if self.log_std_min >= self.log_std_max:
            raise UsageError("--teacher_log_std_min must be below --teacher_log_std_max")
        if not self.log_std_min < self.init_log_std < self.log_std_max:
            raise UsageError("--teacher_init_log_std must lie strictly between --teacher_log_std_min and --teacher_log_std_max")


@dataclass(frozen=True)
class ScheduleConfig:
    """The baselines epoch / cycle schedule (paper Table 1) and the extra steps of Algorithm 1."""

    num_timesteps: int = opt(1_000_000, "env steps per worker, evaluation excluded; default: the paper budget under "
                                        "--preset paper, else 1e6", min=1, preset=True)
    nb_epoch_cycles: int = opt(20, "cycles per epoch (paper Table 1)", min=1)
    nb_rollout_steps: int = opt(200, "ddpg: env steps per cycle (paper Table 1)", min=1, reads=("ddpg",))
    nb_train_steps: int = opt(50, "gradient steps per cycle (meta: per student update)", min=0, preset=True)
    nb_explore_steps: int = opt(100, "meta: |D0| teacher steps per cycle", min=1, preset=True, reads=META_ALGS)
    nb_eval_steps: int = opt(200, "meta: |D1| look-ahead student steps per cycle (and of pi's rollout)", min=1,
                             preset=True, reads=META_ALGS)
    nb_teacher_steps: int = opt(1, "meta: teacher gradient steps per cycle", min=0, preset=True, reads=META_ALGS)
    # R of a policy (Algorithm 1 lines 2, 7, 10) from a rollout from a fresh reset (paper eq. 3)
    meta_form: Literal["ours", "literal"] = opt(
        "ours", "ours: our form of Algorithm 1 (the defaults below); literal: every setting the paper's text fixes "
                "(see META_FORMS: --teacher_clip 0, --meta_reward_norm none, --no-paired_starts, --meta_reward sum, "
                "--rollout_starts continue, --no-pi_in_replay); flags given explicitly override it", reads=META_ALGS)
    meta_reward: Literal["return", "step", "sum"] = opt(
        "return", "R of a policy from its rollout: return: mean return of its episodes from a fresh reset (an episode "
                  "cut at the end counts only if it is the first); step: mean reward per step (ignores falls; "
                  "ablation); sum: the sum of the rollout's rewards, resets included (the paper's literal form)",
        preset=True, reads=META_ALGS)
    meta_baseline: Literal["fresh", "previous"] = opt(
        "fresh", "R_pi of a cycle: fresh: roll pi out after the update on B (Algorithm 1 line 10); previous: reuse "
                 "the last R_pi' (ablation)", preset=True, reads=META_ALGS)
    paired_starts: bool = opt(True, "the rollouts behind R_pi and R_pi' of a cycle start from the same reset seeds "
                                    "(common random numbers; needs --rollout_starts reset)", preset=True, reads=META_ALGS)
    rollout_starts: Literal["reset", "continue"] = opt(
        "reset", "the rollouts behind R_pi and R_pi' (D_pi, D1): reset: each starts from a fresh reset; continue: each "
                 "continues its own env's episode across cycles, as a baselines evaluation env does (literal form)",
        preset=True, reads=META_ALGS)
    pi_in_replay: bool = opt(True, "D_pi, the rollout behind R_pi, joins B; --no-pi_in_replay: only the first one does "
                                   "(Algorithm 1 line 3: B = D1 of pi) and later ones only measure R_pi (line 9 adds "
                                   "D0 and D1)", preset=True, reads=META_ALGS)
    meta_reward_norm: Literal["window", "none"] = opt(
        "window", "window: standardise the meta reward by the mean / std of the last nb_epoch_cycles ones (our "
                  "choice; the first one of a run, alone in its window, gives its sign); none: the paper's raw form",
        preset=True, reads=META_ALGS)
    teacher_start: str = opt(
        "reset", "where the teacher's D0 episodes start (meta/starts/): reset: from the env's resets (Algorithm 1); "
                 "student: each from a state of this cycle's R_pi rollout of the student (under --meta_baseline "
                 "previous: the last D1), at a step drawn uniformly, restored exactly; an episode still running when "
                 "D0 is full is cut (stored as truncated)", reads=META_ALGS, registry="teacher_start")
    teacher_reward: str = opt(
        "improvement", "what the teacher is rewarded with (meta/rewards/): improvement: Delta = R_pi' - R_pi "
                       "(Algorithm 1; --meta_reward and --meta_reward_norm shape it); progress: how much the student's "
                       "critic learned about D0 in the look-ahead (our extension); both: Delta + --progress_weight * "
                       "progress, each standardised", reads=META_ALGS, registry="teacher_reward")
    progress_weight: float = opt(1.0, "--teacher_reward both: the weight of the standardised progress beside the "
                                      "standardised Delta", lo=0, reads=META_ALGS, when={"teacher_reward": ("both",)})
    meta_reward_placebo: bool = opt(False, "control: the teacher gets its (standardised) meta reward times a random "
                                           "sign", reads=META_ALGS)
    lookahead: Literal["inplace", "copy"] = opt(
        "inplace", "inplace: pi' replaces pi (Algorithm 1); copy: evaluate a discarded copy (ablation)", preset=True, reads=META_ALGS)
    d0_in_replay: bool = opt(True, "meta: D0 joins the replay buffer B (Algorithm 1 line 9); --no-d0_in_replay keeps "
                                   "it out (ablation)", preset=True, reads=META_ALGS)
    eval_interval: int = opt(4000, "env steps per worker between evaluations", min=1)
    eval_episodes: int = opt(10, "deterministic evaluation episodes (split over ranks)", min=0)

    def __post_init__(self):
        check_bounds(self)


# What `--meta_form` sets, by config section and field, where a flag was not given. 'literal' is every setting the
# paper's text fixes (README, "The paper's literal form"): plain REINFORCE on every teacher step (no clip), the raw
# Delta, no pairing, R = the sum of a rollout's nb_eval_steps rewards, D1 and the R_pi rollout continuing their
# episodes across cycles (a baselines evaluation env), only D0 and D1 entering B (line 9), pi' replacing pi (line 6)
# and R_pi computed anew after the update on B (line 10: "Compute the new R_pi"). 'ours' is the defaults.
META_FORMS: dict[str, dict[str, dict[str, Any]]] = {
    "ours": {},
    "literal": {
        "teacher": {"clip": 0.0},
        "schedule": {"meta_reward_norm": "none", "paired_starts": False, "meta_reward": "sum",
                     "rollout_starts": "continue", "pi_in_replay": False, "meta_baseline": "fresh",
                     "lookahead": "inplace", "d0_in_replay": True},
    },
}


@dataclass(frozen=True)
class RunConfig:
    """One run's whole configuration: algorithm, env, seed, logging and MPI settings, and the component sections."""
    alg: str = opt("meta", "meta: independent Gaussian teacher; meta-variance: actor mean + learned std; ddpg: "
                           "baseline", choices=ALGS)
    env_id: str = opt("Pendulum-v1", "gymnasium env id with a bounded Box action space", flag="--env")
    seed: int = opt(0, "base seed; rank r uses seed + 1000000*r (every rank's below 2**32)", min=0, max=MAX_SEED)
    preset: Literal["paper", "none"] = opt("paper", "paper: per-task budget and Algorithm-1 schedule of Section 5.1")
    log_path: Optional[str] = opt(None, "run directory (else $OPENAI_LOGDIR, else ./logs/<env>-<alg>-seed<seed>-<time>)")
    log_formats: Optional[str] = opt(None, "comma list of stdout,log,csv,json,tensorboard (else $OPENAI_LOG_FORMAT, "
                                           "else stdout,log,csv)")
    progress_bar: bool = opt(True, "progress bar on rank 0 when stdout is a terminal")
    sync_check_interval: int = opt(1, "epochs between MPI weight-equality checks (0: never)", min=0)
    deterministic_ops: bool = opt(True, "TF op determinism (seeded runs repeat exactly)")
    save_interval: Optional[int] = opt(None, "env steps per worker between checkpoints (default: every epoch)", min=1)
    record_states: bool = opt(False, "keep the observations of the first and last 50 episodes of the exploring "
                                     "rollouts (ddpg; meta: the teacher's D0 and the student's R_pi rollouts) in "
                                     "states.npz (rank 0) at the end of the run, for state-visitation plots")
    tf_threads: int = opt(1, "TF threads per worker (0: TF's default, all cores); the 64-64 networks' steps are "
                             "faster on one thread", min=0)
    # The two give the same updates (to float rounding, tested); which is faster depends on N (baselines_meta.common.exchange)
    mpi_exchange: Literal["auto", "batches", "grads"] = opt(
        "auto", "how MPI ranks combine their updates: batches: one Allgather of every rank's minibatches per group of "
                "gradient steps, then every rank runs the same fused steps on their union; grads: an Allreduce of "
                "the gradients at every step; auto: the faster by the cost model fitted on the project's 2-core machine (results/bench/"
                "mpi_scaling.md)")
    ddpg: DDPGConfig = field(default_factory=DDPGConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self):
        """The algorithm decides the teacher's kind: 'meta-variance' trains the actor-mean teacher, the others the
        independent one (a RunConfig built in code cannot pair them otherwise). What a preset, a meta form or the
        algorithm fills is resolve.resolve's."""
        for name, cls in (("ddpg", DDPGConfig), ("teacher", TeacherConfig), ("schedule", ScheduleConfig)):
            if not isinstance(getattr(self, name), cls):
                raise UsageError(f"RunConfig.{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        check_bounds(self)
        kind = "variance" if self.alg == "meta-variance" else "independent"
        if self.teacher.kind != kind:
            object.__setattr__(self, "teacher", dataclasses.replace(self.teacher, kind=kind))
        s = self.schedule
        if s.paired_starts is True and s.rollout_starts == "continue":
            raise UsageError("--paired_starts needs --rollout_starts reset (continued rollouts have no common start); "
                             "add --no-paired_starts")

    def cycle_env_steps(self, first: bool = False) -> int:
        """Env steps of one full cycle (every rollout counted): ddpg nb_rollout_steps; meta D_pi + D0 + D1, where D_pi
        (nb_eval_steps) is 0 under --meta_baseline previous but in a run's first cycle (first=True)."""
        s = self.schedule
        if self.alg == "ddpg":
            return s.nb_rollout_steps
        return self.pi_steps(first) + s.nb_explore_steps + s.nb_eval_steps

    def pi_steps(self, first: bool) -> int:
        """|D_pi|, the rollout of pi behind R_pi: nb_eval_steps, or 0 under 'previous' once an R_pi' exists."""
        return self.schedule.nb_eval_steps if first or self.schedule.meta_baseline == "fresh" else 0

    def to_dict(self) -> dict:
        """The config as nested plain dicts (written to config.json; `from_dict` reads it back)."""
        return dataclasses.asdict(self)
