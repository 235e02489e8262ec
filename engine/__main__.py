"""`python -m engine …`: the headless CLI (see engine/cli.py)."""

import sys

from engine.cli import main

sys.exit(main())
