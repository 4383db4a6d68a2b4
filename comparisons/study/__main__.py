"""Run a study: ``python -m comparisons.study CONFIG --out DIR`` (as ``comparisons.study.run``)."""

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())
