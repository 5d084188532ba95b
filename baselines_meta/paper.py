"""The paper's six tasks in one place, and the hard-exploration suite's tasks (EXPLORATION)
("Learning to Explore with Meta-Policy Gradient", Xu et al., ICML 2018):
the gymnasium ids we run, the Section 5.1 budgets and Algorithm-1 schedules, and the Table 2 numbers.
Every other module (the `--preset paper` CLI, compare, bench, table, plot) reads them from here."""
from __future__ import annotations

from typing import NamedTuple, Optional


class Schedule(NamedTuple):
    """Algorithm 1's per-cycle step counts (Section 5.1)."""

    nb_explore_steps: int  # |D0|
    nb_eval_steps: int  # |D1|
    nb_train_steps: int  # student steps (each of the two updates)
    nb_teacher_steps: int


SHORT = Schedule(100, 200, 50, 1)  # most tasks
LONG = Schedule(1000, 2000, 500, 100)  # HalfCheetah and InvertedPendulum


class Task(NamedTuple):
    """One of the paper's tasks: its family, gymnasium id, Section 5.1 budget and schedule, and Table 2's numbers."""
    family: str
    env_id: str  # the gymnasium id we run (the paper used gym v1 ids)
    budget: int  # env steps (Section 5.1)
    schedule: Schedule
    table2_meta: tuple[float, float]  # Table 2, mean and std over 3 seeds
    table2_ddpg: tuple[float, float]


TASKS = (  # Table 2's order
    Task("InvertedDoublePendulum", "InvertedDoublePendulum-v4", 1_500_000, SHORT, (7718, 277), (2795, 1325)),
    Task("InvertedPendulum", "InvertedPendulum-v4", 1_500_000, LONG, (745, 27), (499, 23)),
    Task("Hopper", "Hopper-v4", 1_000_000, SHORT, (205, 41), (135, 42)),
    Task("Pendulum", "Pendulum-v1", 900_000, SHORT, (-123, 10), (-206, 31)),
    Task("HalfCheetah", "HalfCheetah-v4", 1_500_000, LONG, (2011, 339), (1594, 298)),
    Task("Reacher", "Reacher-v4", 700_000, SHORT, (-12.16, 1.19), (-11.67, 3.39)),
)
ENV_IDS = tuple(t.env_id for t in TASKS)
FAMILIES = tuple(t.family for t in TASKS)


def family(env_id: str) -> str:
    """'InvertedPendulum-v4' -> 'InvertedPendulum'; a namespaced 'ns/Hopper-v5' -> 'Hopper'."""
    return env_id.split("/")[-1].split("-v")[0]


def task(env_id: str) -> Optional[Task]:
    """The paper's task of this env's family (any version), or None."""
    fam = family(env_id)
    return next((t for t in TASKS if t.family == fam), None)


def order_key(env_id: str) -> tuple:
    """Sort key: the paper's tasks in Table 2's order, then the others by id."""
    fam = family(env_id)
    return (FAMILIES.index(fam) if fam in FAMILIES else len(FAMILIES), env_id)


def preset(env_id: str, alg: str) -> dict:
    """Schedule values that `--preset paper` sets for this task (explicit flags override them).

    The budget applies to every algorithm, so that curves are compared at the same number of env steps; the
    Algorithm-1 schedule is the teacher's (DDPG keeps Table 1's 200 rollout / 50 train steps).
    """
    t = task(env_id)
    if t is None:
        return {}
    out: dict = {"num_timesteps": t.budget}
    if alg != "ddpg":
        out.update(t.schedule._asdict())
    return out


class ExplorationTask(NamedTuple):
    """A task of the hard-exploration suite (sparse rewards; envs of runtime.tasks and dm_control's, via shimmy)."""

    env_id: str
    budget: int  # env steps per run
    bar: float  # solved: the last-10% mean deterministic evaluation return beats it
    seeds: int  # seeds 0..seeds-1
    discovery: str  # what a discovering transition is: "goal" (it terminates at the goal) or "reward" (reward 1)

    def discovered(self, rewards, terminated):
        """[T] bools: the transitions that found the task's reward."""
        return terminated if self.discovery == "goal" else rewards >= 1.0


EXPLORATION = (  # cheapest first
    ExplorationTask("MountainCarContinuous-v0", 300_000, 0.0, 10, "goal"),  # only an episode reaching the goal scores > 0
    ExplorationTask("SparseMountainCar-v0", 300_000, 0.5, 10, "goal"),
    ExplorationTask("dm_control/cartpole-swingup_sparse-v0", 500_000, 100.0, 10, "reward"),
    ExplorationTask("SparseHalfCheetah-v5", 1_000_000, 100.0, 5, "reward"),
)


def exploration_task(env_id: str) -> Optional[ExplorationTask]:
    """The suite's task of this env id, or None."""
    return next((t for t in EXPLORATION if t.env_id == env_id), None)
