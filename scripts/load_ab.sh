#!/bin/bash
# Load time of two checkouts, alternating run by run (one fresh process per load, under the bench lock).
#
#   bash scripts/load_ab.sh ROUNDS first|kept CHECKOUT_A CHECKOUT_B
#
# Each run is `engine.loading.load` of the default model in a fresh process started in that checkout's
# root (so that checkout's engine is timed), printing: round, checkout, wall s, CPU s (all threads,
# `time.process_time`, up to load's return), the 1-minute load average. `first`: a fresh
# converted-weights folder for every run (the load converts and keeps its weights); `kept`: one
# folder per checkout, kept across its runs (after the first run of each, loads map kept weights).
# Used for docs/benchmarks.md, "Load, cpu-7". The venv is $PYTHON (default /work/main/.venv/bin/python).
set -euo pipefail
ROUNDS=$1; MODE=$2; A=$3; B=$4
PY=${PYTHON:-/work/main/.venv/bin/python}
CHILD='
import time
from engine.default_model import resolve
from engine.loading import load
p = resolve("default")
w0, c0 = time.perf_counter(), time.process_time()
load(p)
print(f"{time.perf_counter() - w0:.3f} {time.process_time() - c0:.3f}")
'
for r in $(seq "$ROUNDS"); do
  for co in "$A" "$B"; do
    folder=/tmp/glassbox-load-ab/$(echo "$co" | tr / _)
    [ "$MODE" = first ] && rm -rf "$folder"
    out=$(cd "$co" && GLASSBOX_WEIGHTS_CACHE=$folder flock /tmp/glassbox-bench.lock "$PY" -c "$CHILD" 2>/dev/null | tail -1)
    echo "$r $co $out $(cut -d' ' -f1 /proc/loadavg)"
  done
done
