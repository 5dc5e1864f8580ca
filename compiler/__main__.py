"""``python -m hcc``: the same as the ``hcc`` command."""

import sys

from hcc.cli import main

sys.exit(main())
