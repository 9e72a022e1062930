"""`python -m bench`: the same as `python -m bench.run_all` (every benchmark, then one table)."""

import sys

from bench.run_all import main

sys.exit(main())
