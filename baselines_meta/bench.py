"""`python -m baselines_meta.bench`: the entry point of baselines_meta.experiments.bench (kept where users type it)."""
import sys

from baselines_meta.experiments.bench import main

if __name__ == "__main__":
    sys.exit(main())
