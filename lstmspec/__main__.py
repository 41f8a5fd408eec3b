"""``python -m lstmspec``: the same as the ``lstmspec`` console script."""
import sys

from .cli import main

sys.exit(main())
