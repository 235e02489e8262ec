#!/usr/bin/env bash
# The mlx-lm reference venv for golden fixtures: mlx-lm pinned, in a venv of its own (never imported
# by Glassbox). Idempotent. Prints the venv's python, so:
#   "$(bash scripts/make_reference_mlxlm_venv.sh)" scripts/make_golden_mlxlm.py --checkpoints DIR
# (the same pins as ../shared/bench/peers.sh's mlxlm venv; GLASSBOX_MLXLM_VENV=/tmp/glassbox-peers/mlxlm reuses it)
set -euo pipefail
DIR=${GLASSBOX_MLXLM_VENV:-/tmp/glassbox-models-mlxlm}
SPEC="mlx-lm==0.32.2 mlx[cpu]==0.32.4 numpy"
if ! [ -x "$DIR/bin/python" ] || ! "$DIR/bin/python" -c "import mlx_lm.utils" 2>/dev/null; then
  python3 -m venv "$DIR"
  # shellcheck disable=SC2086
  "$DIR/bin/pip" install --disable-pip-version-check $SPEC >&2
fi
echo "$DIR/bin/python"
