"""`--alg meta-variance`: the teacher's mean is the student's actor, no gradient into it, with a learned std (paper
4.2 i)."""


def actor_mean(learner):
    """The student's actor."""
    return learner.actor
