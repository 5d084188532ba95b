"""Where the teacher's D0 episodes start (`--teacher_start`): a registry of plug-ins, each in its own module.

A start plug-in is built as STARTS[name](cfg) and offers:
    tape_for_pi() / tape_for_d1()   a runtime.branching.Tape to record the student's rollout on, or None
    keep(tape)                      the tape recorded for the next D0
    collect(runner, n, act, rng)    D0: (its rollout, the depth of each branch's start; [] when it does not branch)
    get_state() / set_state(st)     what it carries across cycles, checkpointed (part 'starts')
Adding one is its module, one line here and its tests.
"""
from baselines_meta.meta.starts.reset import ResetStart
from baselines_meta.meta.starts.student import StudentStart

STARTS = {
    "reset": ResetStart,  # Algorithm 1: from the env's resets
    "student": StudentStart,  # from states of the student's own rollout, restored exactly
}


def make_start(cfg):
    """The start plug-in a run's config (RunConfig) names."""
    return STARTS[cfg.schedule.teacher_start](cfg)
