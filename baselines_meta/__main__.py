import sys

from baselines_meta.run import main

sys.exit(main())
