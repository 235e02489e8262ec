"""Screenshot of Model → Manage Models… (docs/model-manager.png) on a made-up machine: the real
models in Glassbox's models dir (the default model, and Gemma 3 270M once fetched), and tiny checkpoints in the Hugging Face, LM Studio, Ollama and
GPT4All layouts (one of an architecture Glassbox does not know). Run under a display, e.g.

    Xvfb :59 -screen 0 1400x900x24 & DISPLAY=:59 .venv/bin/python scripts/screenshot_model_manager.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import gguf

    from tests.app.test_model_library import _gguf_of_arch, _ollama_store
    from tests.engine.checkpoints import write_gguf, write_hf

    out = Path(__file__).resolve().parents[1] / "docs" / "model-manager.png"
    home = Path(tempfile.mkdtemp(prefix="glassbox-shot-"))
    write_hf("gemma3", home / ".cache/huggingface/hub/models--example--gemma-3-tiny/snapshots/0123abc")
    lmstudio = home / ".lmstudio/models/lmstudio-community/Qwen3-tiny-GGUF"
    lmstudio.mkdir(parents=True)
    write_gguf("qwen3", lmstudio / "Qwen3-tiny-Q8_0.gguf", tensor_type=gguf.GGMLQuantizationType.Q8_0)
    _ollama_store(home / ".ollama/models", write_gguf("mistral", home / "mistral.gguf"), "library", "mistral-tiny", "latest")
    _ollama_store(home / ".ollama/models", _gguf_of_arch(home / "mamba.gguf", "mamba"), "library", "mamba", "latest")
    (home / ".local/share/nomic.ai/GPT4All").mkdir(parents=True)
    write_gguf("phi3", home / ".local/share/nomic.ai/GPT4All/phi3-tiny.Q4_0.gguf", tensor_type=gguf.GGMLQuantizationType.Q4_0)
    for name in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "XDG_DATA_HOME"):
        os.environ.pop(name, None)
    from engine import default_model

    os.environ["GLASSBOX_MODELS_DIR"] = str(default_model.models_dir())  # the real models, before HOME moves
    os.environ["HOME"] = str(home)

    from app.library_actions import LibraryActions
    from app.settings import Settings
    from ui.application import create_application
    from ui.model_manager import ModelManagerDialog

    app = create_application()
    state = {"settings": Settings()}
    actions = LibraryActions(lambda: state["settings"], lambda s: None, lambda s: state.update(settings=s))
    dialog = ModelManagerDialog(actions)
    dialog.resize(1380, 520)
    dialog.show()
    deadline = time.monotonic() + 120
    while dialog.scanning and time.monotonic() < deadline:  # the scan runs on its own thread
        app.processEvents()
        time.sleep(0.02)
    dialog.table.setCurrentCell(0, 0)
    for _ in range(20):
        app.processEvents()
    dialog.grab().save(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
