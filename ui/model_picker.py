"""The file dialogs that pick a model: a GGUF file or a Hugging Face / MLX model folder."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"


def ask_model_file(parent: QWidget) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a GGUF model file", "", GGUF_FILTER)
    return path or None


def ask_model_folder(parent: QWidget) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Choose a model folder (config.json + *.safetensors)")
    return path or None
