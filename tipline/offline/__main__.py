"""Allow `python -m tipline.offline` on a machine without the console script."""

import sys

from .cli import main

sys.exit(main())
