"""A run's edges keep its record true: a hand-edited config.json cannot change a resumed run, a refused or failed new
run leaves nothing that blocks its retry, and the API's errors speak the API's words."""
import json
import os

import pytest
from test_resolver import _one_line, _run, _tree

import baselines_meta
from baselines_meta.config import UsageError

SHORT = ["--alg", "ddpg", "--env", "Pendulum-v1", "--num_timesteps", "400", "--nb_epoch_cycles", "1",
         "--eval_interval", "200", "--eval_episodes", "1", "--log_formats", "csv", "--no-progress_bar"]


@pytest.mark.slow
def test_resume_refuses_a_hand_edited_config_json(tmp_path):
    d = str(tmp_path / "run")
    r = _run(*SHORT, "--log_path", d)
    assert r.returncode == 0, r.stderr[-2000:]
    path = os.path.join(d, "config.json")
    original = open(path).read()

    def edited(change, needle):
        cfg = json.loads(original)
        change(cfg)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        before = _tree(d)
        r = _run("--resume", "--log_path", d)
        assert r.returncode == 2 and needle in _one_line(r), r.stderr[-2000:]
        assert _tree(d) == before  # nothing written

    edited(lambda c: c.update(foo=1), "unknown key 'foo'")
    edited(lambda c: c["schedule"].update(nb_train_step=c["schedule"].pop("nb_train_steps")),
           "unknown key 'schedule.nb_train_step'")  # misspelt: it would have fallen back to the default
    edited(lambda c: c["schedule"].update(nb_train_steps=5),
           f"{path} has schedule.nb_train_steps = 5 but the checkpoint it was made with has 50")
    edited(lambda c: c["ddpg"].update(batch_size=32), "has ddpg.batch_size = 32 but the checkpoint")
    edited(lambda c: c["ddpg"].update(critic_lr="fast"), "--critic_lr must be a number")
    with open(path, "w") as f:
        f.write(original)
    r = _run("--resume", "--log_path", d)  # the record restored: the run is done, nothing to do
    assert r.returncode == 0 and "already reached its budget" in r.stderr
    # an output setting may change on resume, and a larger budget extends the run
    r = _run("--resume", "--log_path", d, "--num_timesteps", "600", "--log_formats", "csv,log")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.load(open(path))["schedule"]["num_timesteps"] == 600
    # the API's resume checks the config it is given against the run's
    with pytest.raises(UsageError, match="this call has ddpg.batch_size = 32 but"):
        baselines_meta.train(alg="ddpg", env="Pendulum-v1", batch_size=32, log_path=d, resume=True,
                             num_timesteps=800)


def test_a_refused_or_failed_new_run_leaves_nothing_behind(tmp_path, monkeypatch):
    from baselines_meta.runtime.envs import EnvError

    d = str(tmp_path / "run")
    with pytest.raises(EnvError):  # a Discrete env: refused before the directory is made
        baselines_meta.train(env="CartPole-v1", log_path=d)
    assert not os.path.exists(d)
    # a failure after the run directory was made, before the first epoch row: what this call made goes
    import baselines_meta.ddpg.learn as ddpg_learn

    def boom(ctx):
        assert os.path.exists(os.path.join(ctx.log_dir, "config.json"))
        raise RuntimeError("failed before the first epoch")

    monkeypatch.setattr(ddpg_learn, "learn", boom)
    with pytest.raises(RuntimeError, match="before the first epoch"):
        baselines_meta.train(alg="ddpg", env="Pendulum-v1", log_path=d, log_formats="csv")
    assert not os.path.exists(d)
    # in a folder that existed, with a file of the user's: only what the call made goes
    os.makedirs(d)
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("mine")
    with pytest.raises(RuntimeError):
        baselines_meta.train(alg="ddpg", env="Pendulum-v1", log_path=d, log_formats="csv")
    assert os.listdir(d) == ["notes.txt"]


def test_the_api_names_its_own_way_out(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    (d / "config.json").write_text("{}")
    with pytest.raises(Exception) as e:
        baselines_meta.train(alg="ddpg", env="Pendulum-v1", log_path=str(d))
    msg = str(e.value)
    assert "resume=True" in msg and "overwrite=True" in msg and "--" not in msg
    with pytest.raises(UsageError, match="resume and overwrite exclude each other"):
        baselines_meta.train(alg="ddpg", log_path=str(d), resume=True, overwrite=True)
    with pytest.raises(UsageError, match="save_path .* is a directory"):
        baselines_meta.train(alg="ddpg", log_path=str(tmp_path / "x"), save_path=str(tmp_path))
    assert not os.path.exists(tmp_path / "x")
