from baselines_meta.run import main
import sys

sys.exit(main())
