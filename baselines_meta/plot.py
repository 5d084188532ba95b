"""`python -m baselines_meta.plot`: the entry point of baselines_meta.analysis.plot (kept where users type it)."""
import sys

from baselines_meta.analysis.plot import main

if __name__ == "__main__":
    sys.exit(main())
