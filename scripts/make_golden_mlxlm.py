"""Golden logits of every architecture's tiny random-weight checkpoint, computed by mlx-lm.

Two steps, each in its own venv (mlx-lm is pinned in the reference venv and nowhere else):

    .venv/bin/python -m tests.engine.checkpoints /tmp/tiny-checkpoints
    "$(bash scripts/make_reference_mlxlm_venv.sh)" scripts/make_golden_mlxlm.py --checkpoints /tmp/tiny-checkpoints

The first writes each architecture's Hugging Face folder (config.json, model.safetensors with
Hugging Face's tensor names: per-expert MoE tensors, DeepSeek's kv_b_proj) and a manifest. This
script loads every folder with mlx-lm's own loader and model file, runs the manifest's probe
tokens through it in one forward pass (mlx-lm's prompt cache, as its generate does), and writes
tests/fixtures/golden_mlxlm/logits.npz (float32 (L, vocab) per architecture) and manifest.json
(versions, the weights' digests, what was told to mlx-lm). Only mlx, mlx_lm and numpy: nothing
from engine/.

Where mlx-lm spells a configuration differently, it is told so (`MLXLM_CONFIG`), and where its
implementation leaves out part of the architecture, the positions that part affects are not
compared (`COMPARE_POSITIONS`); both are recorded in the manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlx.core as mx
import mlx_lm
import numpy as np
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.utils import load_model

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden_mlxlm"

# mlx-lm's spelling: Gemma 3's text model is "gemma3_text" ("gemma3" is its multimodal wrapper).
MLXLM_CONFIG = {"gemma3": lambda c: {"model_type": "gemma3_text"}}
# mlx-lm runs Mistral with its llama.py, which ignores a window every layer shares (it needs one
# full-attention layer), and its phi3.py has no sliding window: for those two only the positions
# inside the window (8) mean the same in both, so only those are kept.
COMPARE_POSITIONS = {"mistral": "sliding_window", "phi3": "sliding_window"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", type=Path, required=True, help="what tests.engine.checkpoints wrote")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    manifest = json.loads((args.checkpoints / "manifest.json").read_text())
    tokens = mx.array([manifest["tokens"]])
    logits, cases = {}, {}
    for name, entry in manifest["architectures"].items():
        told = MLXLM_CONFIG.get(name, lambda c: {})(entry["config"])
        model, _ = load_model(args.checkpoints / name, model_config=told)
        out = model(tokens, cache=make_prompt_cache(model))[0].astype(mx.float32)  # (L, vocab)
        positions = len(manifest["tokens"])
        if name in COMPARE_POSITIONS:
            positions = int(entry["config"][COMPARE_POSITIONS[name]])
        logits[name] = np.array(out)[:positions]
        cases[name] = {
            "weights_sha256": entry["weights_sha256"], "mlxlm_module": type(model).__module__,
            "told_mlxlm": told, "positions": positions,
        }
        print(f"{name:>12}: {type(model).__module__}, {positions} positions, "
              f"next token after the probe {int(mx.argmax(out[-1]))}")
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "logits.npz", **logits)
    doc = {
        "generator": "scripts/make_golden_mlxlm.py", "mlx_lm": mlx_lm.__version__, "mlx": mx.__version__,
        "tokens": manifest["tokens"], "logits": "float32 logits of every probe position, one forward pass",
        "cases": cases,
    }
    (args.out / "manifest.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}: {len(logits)} architectures")


if __name__ == "__main__":
    main()
