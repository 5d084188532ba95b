"""The teacher pi_e and its meta-policy-gradient update (paper eq. 5, Algorithm 1 line 8).

    theta_e <- theta_e + eta * R(D0) * sum_t grad log pi_e(a_t | s_t)

implemented as Adam (lr 1e-4, paper 5.1) descending loss = -R(D0) * sum_t log pi_e(a_t | s_t) over D0. The sum over
t (not a mean) is the paper's; with Adam the overall scale mostly cancels.

Which action's log-probability: the teacher's Gaussian sample a_t is clipped to the unit box before the env executes
it, and the replay stores the clipped action. The REINFORCE term uses the log-density of the sample actually drawn
(before clipping): that is the random variable whose distribution theta_e controls, so its score function is the
unbiased gradient of E[R]; the clipped action has a point mass on the box faces that the Gaussian density does not
describe.

Under which density: the log-probabilities of D0, in every step of the update, are those of the policy that sampled
it. The variance teacher's mean is the student's actor, which the look-ahead pi -> pi' moves between sampling D0 and
the teacher's update; so D0 carries the means it was sampled around (`Sampled`), and the update scores each action
under N(that mean, sigma_theta(s)^2). Scoring it under pi''s mean instead (the bug this replaced) gives the score a
non-zero expectation, about (mu - mu')^2 / sigma^2 - 1 per dimension for the log-std, so a meta reward that does not
depend on D0 still pushed the std. The clipped steps' logp_old is the sampler's own density (`TeacherPolicy.density`).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

from baselines_meta.common.fastpolicy import NumpyActor, NumpyHead, NumpyNormalizer, NumpyTrunk
from baselines_meta.common.networks import Actor, Teacher
from baselines_meta.common.normalizer import RunningMeanStd, normalize
from baselines_meta.common.tf_util import assign_all, make_adam
from baselines_meta.common.trainer import Trainer
from baselines_meta.config import TeacherConfig
from baselines_meta.resolve import completed


class Sampled(NamedTuple):
    """How D0 was drawn: the sampler's mean and the log-density of each raw action under the sampler."""

    means: np.ndarray  # [T, A] the Gaussian's mean at sampling (variance teacher: the actor pi's output then)
    logp: np.ndarray  # [T] log pi_e(a_t | s_t) of the sampler


class TeacherBatch(NamedTuple):
    """One D0 as the teacher's update takes it (one rank's; [N, T, ...] for every rank's union)."""

    obs: tf.Tensor  # [T, O] raw observations
    actions: tf.Tensor  # [T, A] the raw Gaussian samples
    means: tf.Tensor  # [T, A] the sampler's means
    logp_old: tf.Tensor  # [T] the sampler's log-densities
    reward: tf.Tensor  # [T] the meta reward this D0 earned, on every row


class TeacherLoss(NamedTuple):
    """The teacher's loss of one step: the surrogate it descends (REINFORCE's -R * sum_t log pi_e at its first)."""

    loss: tf.Tensor  # scalar


class TeacherStats(NamedTuple):
    """The teacher's statistics on one D0 (teacher/* of the epoch row); all scalars."""
    loss: tf.Tensor  # scalar: -R * sum_t log pi_e(a_t|s_t) before the last step
    entropy: tf.Tensor  # mean entropy of pi_e(.|s) over D0's states
    log_std_mean: tf.Tensor
    action_mean: tf.Tensor  # mean of the teacher's mean action
    action_std: tf.Tensor  # mean of exp(log_std)


class TeacherLearner(tf.Module):
    """Owns the teacher's parameters and optimizer; reads (never writes) the student's observation statistics."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: TeacherConfig, obs_rms: Optional[RunningMeanStd],
                 obs_clip: float, actor: Optional[Actor] = None, exchange: str = "batches"):
        """exchange: how several MPI ranks combine their updates (see `train`): 'batches' or 'grads'."""
        super().__init__(name="teacher_learner")
        self.cfg = cfg = completed(cfg)  # (a config alone: UNSET settings take their defaults)
        self.exchange = exchange
        self.obs_rms, self.obs_clip = obs_rms, obs_clip
        self.net = Teacher(obs_dim, act_dim, cfg, actor=actor)
        self.opt = make_adam(cfg.lr)
        self.opt.build(self.net.own_variables())
        self.teacher_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="teacher_steps")
        O, A = obs_dim, act_dim
        # obs [T, O], actions [T, A], means [T, A] (the sampler's), logp_old [T] (the sampler's), meta reward [T]
        d0 = [tf.TensorSpec([None, O]), tf.TensorSpec([None, A]), tf.TensorSpec([None, A]), tf.TensorSpec([None])]
        self.step_spec = TeacherBatch(*d0, tf.TensorSpec([None]))  # (common.trainer's protocol)
        self.before_step = None
        self.steps = Trainer(self, exchange)
        self.log_prob = tf.function(self._log_prob, autograph=False, input_signature=d0[:2])
        self.log_prob_at = tf.function(self._log_prob_at, autograph=False, input_signature=d0[:3])
        self.stats = tf.function(self._stats, autograph=False, input_signature=d0[:3] + [tf.TensorSpec([])])

    def _log_prob(self, obs, actions):  # [T, O], [T, A] -> [T]: under the teacher as it is now
        return self.net.distribution(normalize(obs, self.obs_rms, self.obs_clip)).log_prob(actions)

    def _log_prob_at(self, obs, actions, means):  # [T, O], [T, A], [T, A] -> [T]: the variance teacher around `means`
        return self.net.distribution(normalize(obs, self.obs_rms, self.obs_clip), means).log_prob(actions)

    def _loss(self, obs, actions, means, meta_reward):
        """The paper's REINFORCE loss -R * sum_t log pi_e(a_t|s_t) (logged as teacher/loss)."""
        return -meta_reward * tf.reduce_sum(self._log_prob_at(obs, actions, means))

    def _surrogate(self, obs, actions, means, meta_reward, logp_old):
        """What the update descends. clip 0: the REINFORCE loss. clip eps > 0: -sum_t min(rho_t R, clip(rho_t, 1 - eps,
        1 + eps) R) with rho_t = pi_e(a_t|s_t) / pi_e_old(a_t|s_t), the teacher that drew D0. Its gradient at the first
        step (rho = 1) is REINFORCE's exactly; the later steps on the same D0 are importance-weighted and stop once a
        sample's probability has moved by eps, where repeated REINFORCE steps would fit the teacher to D0's own noise
        (its std collapses to the lower bound within a few InvertedPendulum cycles of 100 steps)."""
        if self.cfg.clip <= 0:
            return self._loss(obs, actions, means, meta_reward)
        return -tf.reduce_sum(self._terms(obs, actions, means, meta_reward, logp_old))

    def _terms(self, obs, actions, means, meta_reward, logp_old):  # [T]: the surrogate is minus their sum
        """meta_reward: a scalar, or [T], one per row (the union of several ranks' D0s)."""
        logp = self._log_prob_at(obs, actions, means)
        if self.cfg.clip <= 0:
            return meta_reward * logp
        ratio = tf.exp(logp - logp_old)
        eps = self.cfg.clip
        return tf.minimum(ratio * meta_reward, tf.clip_by_value(ratio, 1.0 - eps, 1.0 + eps) * meta_reward)

    # ------------------------------------------------------------------ the math of one update (graph code)
    Losses = TeacherLoss

    def trained_variables(self) -> list[tf.Variable]:
        """theta_e: the order of the gradient list."""
        return self.net.own_variables()

    def losses_and_grads(self, batch: TeacherBatch) -> tuple[TeacherLoss, list]:
        """The surrogate on one D0 (its one meta reward, batch.reward[0]) and its gradient."""
        with tf.GradientTape() as tape:
            loss = self._surrogate(batch.obs, batch.actions, batch.means, batch.reward[0], batch.logp_old)
        return TeacherLoss(loss), tape.gradient(loss, self.net.own_variables())

    def union_losses_and_grads(self, batch: TeacherBatch) -> tuple[TeacherLoss, list]:
        """The same on every rank's D0 [N, T, ...], each row with its own rank's meta reward: the mean over ranks.

        The MPI Allreduce path averages the ranks' gradients of their own surrogates, each a sum over its T rows; the
        gradient of (1/N) * (the sum of the surrogates) is that average, and this sum is one sum over the union's
        N*T rows with each row weighted by its own rank's meta reward."""
        nf = tf.cast(tf.shape(batch.obs)[0], tf.float32)
        o, a, mu = (tf.reshape(x, [-1, x.shape[-1]]) for x in (batch.obs, batch.actions, batch.means))
        lp, r = tf.reshape(batch.logp_old, [-1]), tf.reshape(batch.reward, [-1])
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(self._terms(o, a, mu, r, lp)) / nf
        return TeacherLoss(loss), tape.gradient(loss, self.net.own_variables())

    def apply_gradients(self, grads: list) -> None:
        """Adam on theta_e; counts the step."""
        self.opt.apply_gradients(zip(grads, self.net.own_variables(), strict=True))
        self.teacher_steps.assign_add(1)

    def _stats(self, obs, actions, means, meta_reward) -> TeacherStats:
        nobs = normalize(obs, self.obs_rms, self.obs_clip)
        mean, log_std = self.net.mean_and_log_std(nobs, means)
        ent = self.net.distribution(nobs, means).entropy()
        return TeacherStats(self._loss(obs, actions, means, meta_reward), tf.reduce_mean(ent), tf.reduce_mean(log_std),
                            tf.reduce_mean(mean), tf.reduce_mean(tf.exp(log_std)))

    def current(self, obs: np.ndarray, raw_actions: np.ndarray) -> Sampled:
        """The density of the teacher as it is now (right for D0 only while the teacher, and for the variance teacher
        the actor, are unchanged since it was sampled; the meta cycle passes the sampler's `TeacherPolicy.density`)."""
        nobs = normalize(tf.constant(obs), self.obs_rms, self.obs_clip)
        means = self.net.mean_and_log_std(nobs)[0].numpy()
        return Sampled(means, self.log_prob_at(obs, raw_actions, means).numpy())

    def train(self, obs: np.ndarray, raw_actions: np.ndarray, meta_reward: float, n_steps: int,
              sampled: Optional[Sampled] = None) -> float:
        """n_steps meta-policy-gradient steps on D0 (common.trainer.Trainer: fused for one worker; under MPI every
        rank's D0 and meta reward gathered once and the same steps on their union, or the gradients Allreduced at
        every step). Returns the loss before them. sampled: the sampler's means and log-densities of D0 (default:
        `current`, the teacher as it is now)."""
        if n_steps <= 0:
            return float("nan")
        sampled = sampled if sampled is not None else self.current(obs, raw_actions)
        batch = TeacherBatch(np.asarray(obs, np.float32), np.asarray(raw_actions, np.float32),
                             np.asarray(sampled.means, np.float32), np.asarray(sampled.logp, np.float32),
                             np.full(len(obs), meta_reward, np.float32))
        return self.steps.run(TeacherBatch(*[x[None] for x in batch]), n_steps)[0].loss

    def sync_variables(self) -> list[tf.Variable]:
        """The teacher's own parameters theta_e, which every MPI rank must hold identically."""
        return self.net.own_variables()

    def state_variables(self) -> list[tf.Variable]:
        """Every TF variable a resumed run needs: theta_e, the Adam slots and the step counter."""
        return self.net.own_variables() + list(self.opt.variables) + [self.teacher_steps]

    def get_state(self) -> dict:
        """The teacher's state for the checkpoint: every state variable's value."""
        return {"vars": [v.numpy() for v in self.state_variables()]}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave."""
        assign_all(self.state_variables(), st["vars"])


class TeacherPolicy:
    """The teacher's sampler for the env loop: a numpy snapshot, Gaussian noise from the rank's Generator.

    Returns the raw Gaussian sample; the env runner clips it to the unit box for execution.
    """

    def __init__(self, tl: TeacherLearner, rng: np.random.Generator):
        self.tl = tl
        self.rng = rng
        net = tl.net
        self.norm = NumpyNormalizer(tl.obs_rms, tl.obs_clip)
        self.mean = NumpyActor(net.mean_net if net.mean_net is not None else net.actor)
        self.log_std_trunk = NumpyTrunk(net.log_std_trunk)
        self.log_std_head = NumpyHead(net.log_std_out, tanh=True)
        self.lo, self.hi = tl.cfg.log_std_min, tl.cfg.log_std_max

    def refresh(self) -> None:
        """Snapshot the teacher's current weights and the observation normaliser."""
        self.norm.refresh()
        self.mean.refresh()
        self.log_std_trunk.refresh()
        self.log_std_head.refresh()

    def mean_and_log_std(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """obs [T, O] -> the Gaussian's mean [T, A] and log-std [T, A], the log-std squashed into its bounds."""
        nobs = self.norm(obs)
        raw = self.log_std_head(self.log_std_trunk(nobs))
        return self.mean(nobs), self.lo + 0.5 * (self.hi - self.lo) * (raw + 1.0)

    def sample(self, obs: np.ndarray) -> np.ndarray:
        """obs [T, O] -> raw Gaussian actions [T, A] (float32, not clipped: the env runner clips them)."""
        mean, log_std = self.mean_and_log_std(obs)
        return (mean + np.exp(log_std) * self.rng.standard_normal(mean.shape)).astype(np.float32)

    def density(self, obs: np.ndarray, raw_actions: np.ndarray) -> Sampled:
        """The means and log-densities of D0's raw actions under this sampler as it drew them (call it before the
        snapshot is refreshed): obs [T, O], raw_actions [T, A] -> Sampled([T, A], [T])."""
        mean, log_std = self.mean_and_log_std(obs)
        z = (np.asarray(raw_actions, np.float64) - mean) / np.exp(log_std)
        logp = np.sum(-0.5 * z * z - log_std - 0.5 * math.log(2.0 * math.pi), axis=-1)
        return Sampled(mean.astype(np.float32), logp.astype(np.float32))


class TeacherDiagnostics:
    """How far the teacher has moved from where it started: teacher/drift, the Euclidean distance of theta_e from its
    initial value, and teacher/kl_init, the mean KL(pi_e || pi_e at the start) over a fixed batch of states (the first
    D0's), both policies under the current observation normaliser, so that a frozen teacher shows exactly 0."""

    def __init__(self, tl: TeacherLearner):
        self.tl = tl
        self.init_vars = [v.numpy().copy() for v in tl.net.own_variables()]
        self.init = TeacherPolicy(tl, None)  # a numpy snapshot that is never refreshed (but for its normaliser)
        self.now = TeacherPolicy(tl, None)
        self.states: Optional[np.ndarray] = None

    def see(self, obs: np.ndarray) -> None:
        """Keep the first batch of states it is shown as the fixed batch."""
        if self.states is None:
            self.states = np.array(obs, np.float32)

    def __call__(self) -> dict:
        """teacher/drift and teacher/kl_init for the epoch row (kl_init NaN until a batch of states was seen)."""
        drift = math.sqrt(sum(float(np.sum(np.square(v.numpy().astype(np.float64) - v0)))
                              for v, v0 in zip(self.tl.net.own_variables(), self.init_vars, strict=True)))
        out = {"teacher/drift": drift, "teacher/kl_init": float("nan")}
        if self.states is not None:
            self.now.refresh()
            self.init.norm.refresh()
            m1, ls1 = self.now.mean_and_log_std(self.states)
            m0, ls0 = self.init.mean_and_log_std(self.states)
            if self.tl.net.mean_net is None:  # 'variance': both means are the current actor's
                m0 = m1
            kl = np.sum(ls0 - ls1 + (np.exp(2 * ls1) + np.square(m1 - m0)) / (2 * np.exp(2 * ls0)) - 0.5, axis=-1)
            out["teacher/kl_init"] = float(np.mean(kl))
        return out

    def get_state(self) -> dict:
        """The initial parameters, the fixed states and the initial snapshot, for the checkpoint."""
        return {"init_vars": self.init_vars, "states": self.states, "mean": self.init.mean.arrays(""),
                "trunk": self.init.log_std_trunk.arrays(""), "head": self.init.log_std_head.arrays("")}

    def set_state(self, st: dict) -> None:
        """Restore the state `get_state` gave."""
        self.init_vars = [np.array(v) for v in st["init_vars"]]
        self.states = st["states"]
        self.init.mean = NumpyActor.from_arrays(st["mean"], "")
        self.init.log_std_trunk = NumpyTrunk.from_arrays(st["trunk"], "")
        self.init.log_std_head = NumpyHead.from_arrays(st["head"], "", tanh=True)
