"""``python -m lstmspec.cli``: the same as the ``lstmspec`` console script."""
import sys

from . import main

sys.exit(main())
