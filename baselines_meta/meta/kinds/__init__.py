"""The teacher's kind: where its Gaussian's mean comes from. A registry of plug-ins, each in its own module; the
algorithm names the kind (`--alg meta`: independent, `--alg meta-variance`: variance; config.RunConfig).

A kind plug-in is a function of the student's learner giving the actor the teacher's mean is (None: the teacher's
own mean network). Adding one is its module, one line here and its tests.
"""
from baselines_meta.meta.kinds.independent import own_mean
from baselines_meta.meta.kinds.variance import actor_mean

KINDS = {
    "independent": own_mean,  # paper 4.2 ii: a tanh MLP of its own
    "variance": actor_mean,  # paper 4.2 i: the student's actor, with a learned std
}


def mean_actor(kind: str, learner):
    """The actor the teacher of this kind takes its mean from, or None."""
    return KINDS[kind](learner)
