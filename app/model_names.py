"""One name for a model everywhere it is shown (status bar, Manage Models, About, the model picker,
the server's model id): made from where the model lies on disk, the way the stores that hold it
name it, never from the metadata inside it (two quantizations of one model carry the same metadata
name; their files differ).

- the default model: `engine.default_model.DISPLAY_NAME`;
- the Hugging Face hub cache (`models--org--repo/snapshots/<rev>/…`): "org/repo" (a GGUF in it:
  "org/repo/<file stem>");
- LM Studio (`.lmstudio/models/<publisher>/<repo>/…`, `lm-studio/models/…`): "publisher/repo" (a
  GGUF in it: "publisher/repo/<file stem>");
- Ollama (`<root>/blobs/sha256-…`): "model:tag" from the manifest that names the blob
  ("namespace/model:tag" outside the library namespace);
- anything else: a GGUF file's stem, a folder's name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine import default_model

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
LM_STUDIO_ROOTS = ((".lmstudio", "models"), ("lm-studio", "models"))


def display_name(spec: str | Path) -> str:
    """The name to show for the model a spec loads ("default", a GGUF file or a model folder)."""
    if str(spec) == "default":
        return default_model.DISPLAY_NAME
    path = Path(spec).expanduser()
    if _same_file(path, default_model.default_model_path()):
        return default_model.DISPLAY_NAME
    parts = path.parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":  # …/<rev>/[file]
            return _within(part.removeprefix("models--").replace("--", "/"), parts[i + 3 :])
    for i in range(len(parts) - 3):
        if (parts[i], parts[i + 1]) in LM_STUDIO_ROOTS:
            return _within(f"{parts[i + 2]}/{parts[i + 3]}", parts[i + 4 :])
    if path.parent.name == "blobs" and (named := ollama_name_of_blob(path)) is not None:
        return named
    return path.stem if path.suffix.lower() == ".gguf" else path.name


def ollama_name(manifest_parts: tuple[str, ...]) -> str | None:
    """`model:tag` for a manifest at manifests/<host>/<namespace>/<model>/<tag> (None: not one)."""
    if len(manifest_parts) != 4:
        return None
    _, namespace, model, tag = manifest_parts
    return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"


def ollama_blob_of(manifest: Path) -> str | None:
    """The digest of a manifest's model layer ("sha256:…"), or None when it names none."""
    try:
        layers = json.loads(manifest.read_text()).get("layers") or []
        return str(next(layer["digest"] for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER))
    except (OSError, ValueError, AttributeError, KeyError, TypeError, StopIteration):
        return None


def ollama_name_of_blob(blob: Path) -> str | None:
    """The `model:tag` whose manifest names this blob (the first, in sorted order), or None."""
    manifests = blob.parent.parent / "manifests"
    for manifest in sorted(manifests.rglob("*")) if manifests.is_dir() else []:
        name = ollama_name(manifest.relative_to(manifests).parts) if manifest.is_file() else None
        if name is not None and (ollama_blob_of(manifest) or "").replace(":", "-") == blob.name:
            return name
    return None


def _within(name: str, rest: tuple[str, ...]) -> str:
    """A store's model name, and the GGUF file inside it that is loaded (if one is)."""
    if rest and rest[-1].lower().endswith(".gguf"):
        return f"{name}/{Path(rest[-1]).stem}"
    return name


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
