"""Run a study: ``python -m mixcompare.comparisons.study CONFIG --out DIR``."""

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())
