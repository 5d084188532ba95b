"""Env runner: the state recorder behind --record_states keeps exactly the first and last n episodes' observations."""
import numpy as np

from baselines_meta.runtime.envs import EnvRunner, StateRecorder, make_env


def test_state_recorder_keeps_first_and_last_episodes_and_restarts_cut_episodes():
    rec = StateRecorder(n=2)
    runner = EnvRunner(make_env("Pendulum-v1"), seed=0, recorder=rec)  # Pendulum: 200-step episodes
    ro = runner.run(750, lambda o: np.zeros(1, np.float32))  # episodes 0, 1, 2 and 150 steps of episode 3
    assert rec.count == 3 and len(rec.current) == 150
    z = rec.arrays("x")
    np.testing.assert_array_equal(z["x_first_obs"], ro.obs0[:400])
    np.testing.assert_array_equal(z["x_first_episode"], np.repeat([0, 1], 200))
    np.testing.assert_array_equal(z["x_last_obs"], ro.obs0[200:600])
    np.testing.assert_array_equal(z["x_last_episode"], np.repeat([1, 2], 200))
    runner.restart(7)  # a restart ends the episode in progress: it is kept, cut at 150 steps
    assert rec.count == 4 and rec.current == []
    z = rec.arrays("x")
    np.testing.assert_array_equal(z["x_last_obs"], ro.obs0[400:750])
    np.testing.assert_array_equal(z["x_last_episode"], np.repeat([2, 3], [200, 150]))
    other = StateRecorder(n=2)
    other.set_state(rec.get_state())
    for k, v in other.arrays("x").items():
        np.testing.assert_array_equal(v, z[k])
