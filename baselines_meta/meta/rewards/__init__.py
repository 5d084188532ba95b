"""What the teacher is rewarded with (`--teacher_reward`): a registry of plug-ins, each in its own module.

Every cycle measures Delta = R_pi' - R_pi (Algorithm 1 line 7) and each signal of SIGNALS (each logged as
meta/<name>, whatever the teacher gets); the reward plug-in, built as REWARDS[name](cfg, rng), turns them into the one
number the teacher's step takes (meta/reward_used), with get_state / set_state for what it keeps across cycles
(checkpointed as part 'shaper'). A signal has before(learner, d0) -> memo, called before the look-ahead pi -> pi' on
D0, and after(learner, d0, memo) -> float, called after it. Adding either is its module, one line here and its tests.
"""
from baselines_meta.meta.rewards.improvement import Improvement
from baselines_meta.meta.rewards.progress import Both, Progress, ProgressSignal

REWARDS = {
    "improvement": Improvement,  # Algorithm 1: Delta, standardised (meta/reward.py)
    "progress": Progress, "both": Both,  # what the student's critic learned from D0 (our extension)
}
SIGNALS: dict = {"progress": ProgressSignal}


def make_reward(cfg, rng):
    """The reward plug-in a run's config (RunConfig) names; rng: the meta stream (placebo signs)."""
    return REWARDS[cfg.schedule.teacher_reward](cfg, rng)
