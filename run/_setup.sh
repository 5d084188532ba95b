# Sourced by run/train and run/test: create .venv (Python 3.11) and install the package with its test extra, pinned by
# run/constraints.txt (the exact versions the tests and results ran on). It installs again whenever setup.py or the
# constraints change (a stamp of their hash in .venv) or the package stops importing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY311="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PY311" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "run/: Python 3.11 is required (found $("$PY311" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
STAMP="$(cat setup.py run/constraints.txt | "$PY311" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.install-stamp 2>/dev/null)" != "$STAMP" ] \
   || ! .venv/bin/python -c 'import baselines_meta, tensorflow_probability, tf_keras, tensorboard, gymnasium, mujoco, mpi4py, pytest' 2>/dev/null \
   || [ ! -x .venv/bin/ruff ]; then
  echo "run/: installing into .venv (setup.py or run/constraints.txt changed, or first time)..." >&2
  [ -x .venv/bin/python ] || "$PY311" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # mujoco 4 split into mujoco-core and mujoco-studio, which install into the same mujoco/ folder: a .venv that had
  # mujoco 4 keeps their files beside 3.17's unless they go first (pip leaves packages nothing requires any more)
  .venv/bin/python -m pip uninstall -q -y mujoco mujoco-core mujoco-studio 2>/dev/null || true
  .venv/bin/python -m pip install -q -c run/constraints.txt -e ".[test]"
  echo "$STAMP" > .venv/.install-stamp
fi
export PATH="$ROOT/.venv/bin:$PATH"
