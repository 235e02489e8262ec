"""Load time of a model, each run in a fresh process (nothing in memory is kept between runs).

    flock /tmp/glassbox-bench.lock .venv/bin/python scripts/load_bench.py --model gemma3-270m --runs 5 [--policy auto] [--no-weights-cache]

Prints `uptime` before and after (the machine is shared), then per run the seconds `load` took
(ModelInfo.load_s: from the `load` call to a model ready to generate — reading, converting,
building the model and tokenizer; imports are outside it, as the peers measure theirs), the CPU
seconds it used in all threads (steadier than wall time on a busy machine) and how the weights
are held, and the median. A model's first load converts its weights and keeps them
(engine/weights_cache.py); later runs map them: `--no-weights-cache` converts every time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
from engine.default_model import resolve
from engine.loading import WeightPolicy, load
kept = []
try:  # whether the converted weights came from engine/weights_cache.py (where the checkout has it)
    from engine.weights_cache import WeightsCache
    real_get = WeightsCache.get
    WeightsCache.get = lambda self, key: kept.append(real_get(self, key)) or kept[-1]
except ImportError:
    pass
path, policy = resolve(sys.argv[1]), WeightPolicy(sys.argv[2])
cpu = time.process_time()
lm = load(path, policy)
cpu = time.process_time() - cpu
weights = "kept converted" if kept and kept[0] is not None else "converted"
print(json.dumps({"load_s": lm.info.load_s, "cpu_s": cpu, "held_as": lm.info.held_as, "weights": weights}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--policy", default="auto", choices=["auto", "float32", "stored"])
    ap.add_argument("--no-weights-cache", action="store_true",
                    help="convert from the file every run (GLASSBOX_WEIGHTS_CACHE=off): a first load's time")
    args = ap.parse_args()
    env = {**os.environ, **({"GLASSBOX_WEIGHTS_CACHE": "off"} if args.no_weights_cache else {})}
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    times = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, args.model, args.policy], capture_output=True, text=True,
                             check=True, env=env)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(run["load_s"])
        print(f"load {run['load_s']:.2f} s, {run['cpu_s']:.2f} s of CPU in all threads  ({run['held_as']}; "
              f"weights {run['weights']})")
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"median {statistics.median(times):.2f} s, min {min(times):.2f}, max {max(times):.2f} ({args.policy})")


if __name__ == "__main__":
    main()
