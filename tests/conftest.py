import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # as api.quiet_tf: no Keras 3 import (the runs the tests start inherit it)
# One TF thread in the test processes, as every run has by default (--tf_threads 1): the workers of run/test share the
# cores, and TensorFlow's default pools (one thread per core each) only contend for them
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs in subprocesses (seconds each); the fast tier is "
                                       "`run/test -m 'not slow'`")
    config.addinivalue_line("markers", "long: more variants of tests the default suite already runs once, kept out of "
                                       "it for time (`run/test -m long` runs them, `run/test -m ''` everything)")
