import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs in subprocesses (seconds each); the fast tier is "
                                       "`run/test -m 'not slow'`, the default suite runs everything")
