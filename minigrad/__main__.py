"""``python -m minigrad``: the same command line as the ``minigrad`` console script."""

import sys

from minigrad.cli import main

if __name__ == "__main__":
    sys.exit(main())
