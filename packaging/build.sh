#!/usr/bin/env bash
# Build the desktop bundle into dist/ (dist/Glassbox.app on macOS, dist/Glassbox/ elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m PyInstaller --noconfirm --clean --distpath dist --workpath build packaging/glassbox.spec
echo "built: $(ls -d dist/Glassbox* | tr '\n' ' ')"
