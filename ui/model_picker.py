"""The file dialogs that pick a model: a GGUF file or a Hugging Face / MLX model folder. Both open
where the user is likely to look (`ModelRegistry.browse_dir`: beside the last model chosen, else
the models dir, else home)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"


def ask_model_file(parent: QWidget, start: Path | None = None) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a GGUF model file", str(start or Path.home()), GGUF_FILTER)
    return path or None


def ask_model_folder(parent: QWidget, start: Path | None = None) -> str | None:
    path = QFileDialog.getExistingDirectory(
        parent, "Choose a model folder (config.json + *.safetensors)", str(start or Path.home())
    )
    return path or None
