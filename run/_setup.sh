# Sourced by run/train and run/test: create .venv (Python 3.11) and install the package with its test extra,
# once; later calls only check that it still imports.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY311="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PY311" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "run/: Python 3.11 is required (found $("$PY311" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import baselines_meta, tensorflow_probability, tf_keras, tensorboard, gymnasium, mujoco, mpi4py, pytest' 2>/dev/null; then
  echo "run/: setting up .venv (first time only)..." >&2
  "$PY311" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
fi
export PATH="$ROOT/.venv/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
