"""``python -m sua``: the same command as the ``sua`` console script."""

import sys

from sua.cli import main

sys.exit(main())
