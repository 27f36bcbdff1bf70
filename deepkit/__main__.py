"""`python -m deepkit` runs the same command line as the `deepkit` console script."""

import sys

from deepkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
