"""``python -m benchmarks.soak``: run the soak test (see the package's docstring)."""

import sys

from .cli import main

sys.exit(main())
