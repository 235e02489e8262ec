#!/usr/bin/env bash
# The reference venv for golden fixtures: llama-cpp-python pinned, in a venv of its own (never
# imported by Glassbox). Idempotent; compiles llama.cpp the first time (several minutes).
# Prints the venv's python, so:  "$(bash scripts/make_reference_venv.sh)" scripts/make_golden_gemma.py ...
set -euo pipefail
DIR=${GLASSBOX_REF_VENV:-/tmp/glassbox-models-ref}
SPEC="llama-cpp-python==0.3.36 numpy jinja2"
if ! [ -x "$DIR/bin/python" ] || ! "$DIR/bin/python" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv "$DIR"
  # shellcheck disable=SC2086
  "$DIR/bin/pip" install --disable-pip-version-check $SPEC >&2
fi
echo "$DIR/bin/python"
