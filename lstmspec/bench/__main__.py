"""``python -m lstmspec.bench ARGS`` is ``lstmspec bench ARGS`` (an entry point, like ``python -m lstmspec``)."""
import sys

from ..cli.bench import main

sys.exit(main())
