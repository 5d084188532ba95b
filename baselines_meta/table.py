"""`python -m baselines_meta.table`: the entry point of baselines_meta.analysis.table (kept where users type it)."""
import sys

from baselines_meta.analysis.table import main

if __name__ == "__main__":
    sys.exit(main())
