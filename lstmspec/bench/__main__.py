"""``python -m lstmspec.bench ARGS`` is ``lstmspec bench ARGS``."""
import sys

from .command import main

sys.exit(main())
