"""``python -m lpir``: the same command as ``lpir``."""

import sys

from lpir.cli import main

sys.exit(main())
