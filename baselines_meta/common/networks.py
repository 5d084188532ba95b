"""Actor, critic and teacher networks (tf_keras + TensorFlow Probability).

Architecture of the pre-refactor baselines DDPG that the paper used: 64-64 ReLU MLPs with LayerNorm before each
ReLU, the critic takes the action at its second layer, output layers initialised U(-3e-3, 3e-3). All policies act in
the unit box [-1, 1]^A; the env-facing action is the unit action scaled to the action bounds (envs.ActionScaler),
exactly as baselines multiplied its tanh output by `action_space.high`.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import tensorflow as tf
import tf_keras

from baselines_meta.config import NetworkConfig, TeacherConfig

if TYPE_CHECKING:  # TensorFlow Probability is imported by the teacher's distribution alone: a ddpg run never needs it
    import tensorflow_probability as tfp


def _final_init(cfg: NetworkConfig):
    return tf_keras.initializers.RandomUniform(-cfg.final_init, cfg.final_init)


class MLPTrunk(tf_keras.layers.Layer):
    """Dense -> LayerNorm -> ReLU, repeated; `extra` is concatenated to the input of the second layer."""

    def __init__(self, cfg: NetworkConfig, name: str = "trunk"):
        super().__init__(name=name)
        self.denses = [tf_keras.layers.Dense(h, name=f"dense_{i}") for i, h in enumerate(cfg.hidden)]
        self.norms = (
            [tf_keras.layers.LayerNormalization(epsilon=cfg.layer_norm_eps, name=f"layer_norm_{i}") for i in range(len(cfg.hidden))]
            if cfg.layer_norm
            else []
        )

    def call(self, x, extra=None):
        """x [B, O] (and extra [B, E] joined at the second layer) -> features [B, H]."""
        for i, dense in enumerate(self.denses):
            if i == 1 and extra is not None:
                x = tf.concat([x, extra], axis=-1)
            x = dense(x)
            if self.norms:
                x = self.norms[i](x)
            x = tf.nn.relu(x)
        return x


class Actor(tf_keras.Model):
    """mu(s) in [-1, 1]^A: trunk -> Dense(A, U(+-3e-3)) -> tanh."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: NetworkConfig, name: str = "actor"):
        super().__init__(name=name)
        self.trunk = MLPTrunk(cfg)
        self.out = tf_keras.layers.Dense(act_dim, kernel_initializer=_final_init(cfg), name="output")
        self(tf.zeros([1, obs_dim]))  # build variables eagerly

    def call(self, obs):  # [B, O] -> [B, A]
        """obs [B, O] -> unit-box actions [B, A]."""
        return tf.tanh(self.out(self.trunk(obs)))

    def perturbable_variables(self) -> list[tf.Variable]:
        """Variables that parameter noise perturbs: all but LayerNorm's (baselines `get_perturbable_vars`)."""
        ln = {id(v) for layer in self.trunk.norms for v in layer.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in ln]


class Critic(tf_keras.Model):
    """Q(s, a): obs -> Dense/LN/ReLU -> concat(action) -> Dense/LN/ReLU -> Dense(1, U(+-3e-3))."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: NetworkConfig, name: str = "critic"):
        super().__init__(name=name)
        self.trunk = MLPTrunk(cfg)
        self.out = tf_keras.layers.Dense(1, kernel_initializer=_final_init(cfg), name="output")
        self(tf.zeros([1, obs_dim]), tf.zeros([1, act_dim]))

    def call(self, obs, action):  # [B, O], [B, A] -> [B, 1]
        """obs [B, O], action [B, A] -> Q values [B, 1]."""
        return self.out(self.trunk(obs, extra=action))

    def l2_variables(self, include_output: bool = True) -> list[tf.Variable]:
        """The kernels baselines' critic L2 applies to: every kernel whose name lacks 'output'. The pre-refactor
        code (the paper's) named no critic layer 'output', so all three kernels (include_output=True); baselines
        master after #733 named the last layer and penalises the hidden kernels only (include_output=False)."""
        return [d.kernel for d in self.trunk.denses] + ([self.out.kernel] if include_output else [])


class Teacher(tf_keras.Model):
    """Gaussian exploration policy pi_e(a|s) = N(mean(s), diag(exp(log_std(s)))^2) on the unit action box.

    independent ('meta'): mean = tanh MLP 64-64 of its own (paper 4.2 ii).
    variance ('meta-variance'): mean = the student's actor output with no gradient into the actor (paper 4.2 i).
    The log-std MLP is 64-64 with LayerNorm; its output is squashed into [log_std_min, log_std_max] by tanh so the
    std can neither collapse to zero nor explode under the high-variance meta gradient.
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg: TeacherConfig, actor: Actor | None = None, name: str = "teacher"):
        super().__init__(name=name)
        self.cfg = cfg
        self.actor = actor if cfg.kind == "variance" else None
        if cfg.kind == "variance" and actor is None:
            raise ValueError("the 'variance' teacher needs the student's actor")
        self.mean_net = Actor(obs_dim, act_dim, cfg.network, name="mean") if cfg.kind == "independent" else None
        self.log_std_trunk = MLPTrunk(cfg.network, name="log_std_trunk")
        lo, hi = cfg.log_std_min, cfg.log_std_max
        # (config.TeacherConfig checks lo < init_log_std < hi)
        # log_std = lo + (hi - lo) (tanh(z) + 1) / 2 with z = small kernel term + bias: the bias sets the start
        bias = math.atanh(2.0 * (cfg.init_log_std - lo) / (hi - lo) - 1.0)
        self.log_std_out = tf_keras.layers.Dense(act_dim, kernel_initializer=_final_init(cfg.network),
                                                 bias_initializer=tf_keras.initializers.Constant(bias), name="log_std_out")
        self.log_std_out(self.log_std_trunk(tf.zeros([1, obs_dim])))

    def mean_and_log_std(self, obs, sample_mean=None):  # [B, O] -> [B, A], [B, A]
        """sample_mean [B, A]: the variance teacher's mean at the time D0 was sampled (the actor's output then, which
        the look-ahead has since moved); ignored by the independent teacher, whose mean is its own network."""
        if self.mean_net is not None:
            mean = self.mean_net(obs)
        elif sample_mean is not None:
            mean = tf.stop_gradient(sample_mean)
        else:
            mean = tf.stop_gradient(self.actor(obs))
        raw = tf.tanh(self.log_std_out(self.log_std_trunk(obs)))
        lo, hi = self.cfg.log_std_min, self.cfg.log_std_max
        log_std = lo + 0.5 * (hi - lo) * (raw + 1.0)
        return mean, log_std

    def distribution(self, obs, sample_mean=None) -> tfp.distributions.Distribution:
        """obs [B, O] -> pi_e(.|s), a batch [B] of diagonal Gaussians over A-dim actions; sample_mean as in `mean_and_log_std`."""
        import tensorflow_probability as tfp  # here, not at the top: about 0.5 s of every ddpg run's start-up

        mean, log_std = self.mean_and_log_std(obs, sample_mean)
        return tfp.distributions.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(log_std))

    def own_variables(self) -> list[tf.Variable]:
        """The teacher's parameters theta_e (never the student's actor, even in the 'variance' form)."""
        out = list(self.mean_net.trainable_variables) if self.mean_net is not None else []
        return out + list(self.log_std_trunk.trainable_variables) + list(self.log_std_out.trainable_variables)
