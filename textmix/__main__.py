"""``python -m textmix``: the ``textmix`` command."""

import sys

from textmix.cli import main

sys.exit(main())
