"""`python -m ui` runs the desktop app (what `make run` does)."""

import sys

from ui.main import main

sys.exit(main())
