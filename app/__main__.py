"""`python -m app` runs the desktop app (what `make run` does)."""

import sys

from app.main import main

sys.exit(main())
