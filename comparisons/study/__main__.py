"""``python -m mixcompare.comparisons.study CONFIG ...`` is ``mixcompare study CONFIG ...``."""

import sys

from mixcompare.comparisons.cli import app

if __name__ == "__main__":
    sys.exit(app(["study", *sys.argv[1:]]))
