"""`python -m baselines_meta.compare`: the entry point of baselines_meta.experiments.compare (kept where users type it)."""
import sys

from baselines_meta.experiments.compare import main

if __name__ == "__main__":
    sys.exit(main())
