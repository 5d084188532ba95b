"""baselines_meta: OpenAI baselines' DDPG in TensorFlow 2 with a meta-policy-gradient exploration teacher (Xu et al.,
ICML 2018). The Python API (api.py): `train(config=None, **overrides)` and `load_policy(path).predict(obs)`.

Importing the package imports no TensorFlow and has no side effects; `train` imports what it needs."""
from baselines_meta.api import Policy, TrainResult, load_policy, make_config, register_envs, train

__all__ = ["train", "load_policy", "make_config", "register_envs", "Policy", "TrainResult"]
