"""`--teacher_reward progress` and `both`: reward the teacher for how much the student *learned* from its D0.

Progress of a D0 is how much the student's critic learned about D0's own transitions in the look-ahead update
pi -> pi' (Algorithm 1 line 5): with the targets y = r + gamma (1 - d) Q'(s', mu'(s')) of the target networks fixed as
they are before the update (normalised as the critic's loss normalises them),

    progress = mean over D0 of (y - Q_before(s, a))^2 - (y - Q_after(s, a))^2,

Q_before and Q_after the critic before and after the update. It exists from the first cycle, before any reward was
seen: on a sparse task Delta = R_pi' - R_pi is exactly 0 until the student already scores, and the teacher gets no
signal (results/exploration). It is in the spirit of Algorithm 1, whose teacher is rewarded for data that improves
the student: here, improves the student's critic on that data. It is our extension, not the paper's (its Section 2
cites learning progress as an intrinsic signal and sets it aside for its hand-set weight).

Every cycle with a look-ahead measures it, whatever the teacher gets (meta/progress); `progress` gives the teacher the standardised
progress in place of Delta, `both` standardised Delta plus --progress_weight times standardised progress; each is
standardised by its own window as Delta is (meta.reward.MetaRewardShaper), the placebo's random sign applied once.
"""
from __future__ import annotations

import numpy as np

from baselines_meta.common.replay import Batch
from baselines_meta.meta.reward import MetaRewardShaper


class ProgressSignal:
    """Measures progress around the look-ahead (meta.rewards' signal protocol: before, after)."""

    def __init__(self, cfg):
        self._fns = None

    def _compiled(self, learner):
        if self._fns is None:  # the learner's critic, target and normaliser, read-only; one call before, one after
            import tensorflow as tf  # (here: importing the plug-in registry, e.g. for the flags, imports no TensorFlow)

            O, A = learner.obs_dim, learner.act_dim
            spec = Batch(tf.TensorSpec([None, O]), tf.TensorSpec([None, A]), tf.TensorSpec([None, 1]),
                         tf.TensorSpec([None, O]), tf.TensorSpec([None, 1]))
            both = tf.function(lambda b: (learner.critic_target(b), learner.critic_output(b.obs0, b.actions)),
                               autograph=False, input_signature=[spec])
            output = tf.function(learner.critic_output, autograph=False,
                                 input_signature=[tf.TensorSpec([None, O]), tf.TensorSpec([None, A])])
            self._fns = (both, output)
        return self._fns

    def before(self, learner, d0: Batch) -> tuple:
        """y and Q_before on D0 ([T, 1] each), before pi -> pi', and the return statistics they are normalised by."""
        y, q = self._compiled(learner)[0](d0)
        return y.numpy(), q.numpy(), _ret_stats(learner)

    def after(self, learner, d0: Batch, memo: tuple) -> float:
        """progress: the drop of D0's mean squared TD error against the fixed y, from before the update to after.
        Q_after is read in the units y and Q_before were (PopArt moves the return statistics during the update)."""
        y, q_before, before = memo
        q_after = self._compiled(learner)[1](d0.obs0, d0.actions).numpy().astype(np.float64)
        if before is not None:
            (m0, s0), (m1, s1) = before, _ret_stats(learner)
            q_after = (q_after * s1 + m1 - m0) / s0
        y, q_before = y.astype(np.float64), q_before.astype(np.float64)
        return float(np.mean((y - q_before) ** 2) - np.mean((y - q_after) ** 2))


def _ret_stats(learner):
    """(mean, std) of the learner's return normaliser (--normalize_returns), or None."""
    rms = learner.ret_rms
    return None if rms is None else (rms.mean.numpy().astype(np.float64), rms.std.numpy().astype(np.float64))


class _Standardised:
    """Shapers without the placebo, one a signal; the placebo's sign once on their sum (as Improvement's shaper)."""

    def __init__(self, cfg, rng, names: tuple):
        s = cfg.schedule
        self.shapers = {n: MetaRewardShaper(s.meta_reward_norm, s.nb_epoch_cycles, False, rng) for n in names}
        self.placebo, self.rng = s.meta_reward_placebo, rng

    def signed(self, x: float) -> float:
        return x * (1.0 if self.rng.random() < 0.5 else -1.0) if self.placebo else x

    def get_state(self) -> dict:
        return {n: sh.get_state() for n, sh in self.shapers.items()}

    def set_state(self, st: dict) -> None:
        for n, sh in self.shapers.items():
            sh.set_state(st[n])


class Progress(_Standardised):
    """The teacher gets the standardised progress (Delta is still measured and logged)."""

    def __init__(self, cfg, rng):
        super().__init__(cfg, rng, ("progress",))

    def __call__(self, delta: float, signals: dict) -> float:
        return float(self.signed(self.shapers["progress"](signals["progress"])))


class Both(_Standardised):
    """The teacher gets standardised Delta + --progress_weight * standardised progress."""

    def __init__(self, cfg, rng):
        super().__init__(cfg, rng, ("delta", "progress"))
        self.weight = cfg.schedule.progress_weight

    def __call__(self, delta: float, signals: dict) -> float:
        x = self.shapers["delta"](delta) + self.weight * self.shapers["progress"](signals["progress"])
        return float(self.signed(x))
