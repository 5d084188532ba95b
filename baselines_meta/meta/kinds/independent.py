"""`--alg meta`: the independent teacher, whose mean is a tanh MLP of its own (paper 4.2 ii)."""


def own_mean(learner):
    """No actor: the teacher builds its own mean network."""
    return None
