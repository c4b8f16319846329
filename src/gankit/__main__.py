"""``python -m gankit`` (also what torchrun launches)."""

import sys

from gankit.cli import main

sys.exit(main())
