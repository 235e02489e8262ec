"""The models already on this machine: found in the folders other apps download to, described from
their metadata only (never loading weights), with a memory estimate and, when Glassbox cannot open
one, the reason.

Sources, one function each (each takes its root folder and returns `LibraryRow`s; a missing root
gives no rows):
- `scan_hf_hub`: the Hugging Face hub cache, `models--org--name/snapshots/<rev>/` holding
  config.json + *.safetensors, or *.gguf files (root: $HF_HUB_CACHE, else $HF_HOME/hub, else
  ~/.cache/huggingface/hub).
- `scan_lmstudio`: LM Studio's `<publisher>/<repo>/*.gguf` (or an MLX folder there); roots
  ~/.lmstudio/models and the older ~/.cache/lm-studio/models.
- `scan_ollama`: Ollama's `manifests/registry.ollama.ai/<ns>/<model>/<tag>` JSON manifests, whose
  layer of mediaType application/vnd.ollama.image.model names `blobs/sha256-<hex>`, a GGUF
  (root: $OLLAMA_MODELS, else ~/.ollama/models).
- `scan_folder`: GPT4All's folder, Glassbox's models dir and folders the user added: *.gguf files
  and model folders (config.json) directly inside, or the folder itself when it is a model folder.

`default_locations` lists the roots for this machine; `scan` walks them all. Paths are data, never
markup: the window shows them as plain text.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.byte_sizes import format_bytes
from app.model_names import display_name, ollama_blob_of, ollama_name
from engine.gguf import GGUFCorrupt, GGUFError, GGUFTruncated, GGUFUnsupported, NotGGUF, read_header
from engine.loading import GGUF_FILE_TYPES, WeightPolicy
from engine.models import UnsupportedArchitecture, get_architecture
from engine.models.base import ConfigError, GGUFMeta

# The memory estimate counts the KV cache of this many tokens (float32, the plain cache) beside
# the weights as held, plus a fixed allowance for the runtime and activations (a guess, not measured).
KV_ESTIMATE_TOKENS = 4096
RUNTIME_BYTES = 512 * 1024**2
SAFETENSORS_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "U8": 1, "I8": 1, "F64": 8, "I64": 8}
READABLE_SAFETENSORS = {"F32", "F16", "BF16", "U32"}
FLOAT_TYPES = {"F32", "F16", "BF16"}


@dataclass(frozen=True)
class LibraryRow:
    """One model found on disk.

    spec: what Glassbox loads (a GGUF file path or a model folder path). file_bytes: the weights on
    disk. memory_bytes: the estimate of what holding it takes here (0 when unknown). problem: why
    Glassbox cannot open it (None: it can).
    """

    name: str
    spec: str
    source: str  # "Hugging Face", "LM Studio", "Ollama", "GPT4All", "Glassbox", "Added folder"
    format: str  # "gguf" or "safetensors"
    architecture: str = "unknown"
    parameters: int = 0
    quantization: str = ""
    file_bytes: int = 0
    context_length: int = 0
    memory_bytes: int = 0
    problem: str | None = None

    @property
    def supported(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Location:
    """A root folder to scan and how: kind is "hf", "lmstudio", "ollama" or "folder"."""

    source: str
    root: Path
    kind: str = "folder"


# ---------------------------------------------------------------------------------------------
# Describing one model from its metadata


def _kv_bytes(config: Mapping[str, Any], tokens: int) -> int:
    """Plain float32 cache bytes for `tokens` tokens, as the model's architecture file lays its
    cache out (`Architecture.cached_token`: MLA caches the latent, sliding-window layers stop at
    their window); 0 when the architecture or a width is unknown (such a row already says why it
    cannot be opened)."""
    try:
        return get_architecture(str(config.get("model_type"))).cached_token(config).held_bytes(tokens)
    except (UnsupportedArchitecture, ConfigError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return 0


def memory_estimate(weight_bytes: int, config: Mapping[str, Any], parameters: int = 0, quantized: bool = False) -> int:
    """Bytes to hold a model here: its weights as the loader will hold them (as stored, or float32
    where engine.loading's CPU policy expands them: `WeightPolicy().expand`), a KV cache of
    KV_ESTIMATE_TOKENS (or its whole context when shorter), and RUNTIME_BYTES."""
    held = parameters * 4 if parameters and WeightPolicy().expand(parameters * 4, quantized) else weight_bytes
    context = int(config.get("max_position_embeddings") or KV_ESTIMATE_TOKENS)
    return held + _kv_bytes(config, min(context, KV_ESTIMATE_TOKENS)) + RUNTIME_BYTES


# (real path, size, mtime_ns) -> the header's (metadata, tensors): a large vocabulary takes a
# noticeable time to parse, and the dialog scans again on every open and Refresh. A file whose
# size or timestamp changed is read again, so the cache never changes a row.
_HEADERS: dict[tuple[str, int, int], Any] = {}
_HEADER_CACHE_LIMIT = 256


def _header(path: Path):
    stat = path.stat()
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HEADERS:
        if len(_HEADERS) >= _HEADER_CACHE_LIMIT:
            _HEADERS.pop(next(iter(_HEADERS)))
        _HEADERS[key] = read_header(path)
    return _HEADERS[key]


def describe_gguf(path: Path, source: str) -> LibraryRow:
    """A row for a GGUF file, from its header alone (no tensor is read), named as everywhere else
    (`app.model_names.display_name`)."""
    row = LibraryRow(display_name(path), str(path), source, "gguf", file_bytes=_size(path))
    try:
        header = _header(path)
    except GGUFUnsupported as e:
        return _with(row, problem=f"unsupported: {e}")
    except (NotGGUF, GGUFTruncated) as e:  # says what it is: never "corrupt" for a file of another kind
        return _with(row, problem=str(e))
    except (GGUFCorrupt, GGUFError) as e:
        return _with(row, problem=f"corrupt or truncated header: {e}")
    except OSError as e:
        return _with(row, problem=f"cannot read the file: {e.strerror or e}")
    meta = header.metadata
    architecture = str(meta.get("general.architecture", "unknown"))
    kinds = Counter(t.type_name for t in header.tensors if len(t.shape) >= 2)
    file_type = meta.get("general.file_type")
    quant = GGUF_FILE_TYPES.get(int(file_type), "") if file_type is not None else ""
    row = _with(
        row,
        architecture=architecture,
        parameters=sum(t.n_elements for t in header.tensors),
        quantization=quant or (kinds.most_common(1)[0][0] if kinds else ""),
    )
    try:
        arch = get_architecture(architecture)
        config = arch.config_from_gguf(GGUFMeta(meta, {t.name for t in header.tensors}))
    except UnsupportedArchitecture:
        return _with(row, problem=f"unknown architecture {architecture!r}")
    except (ConfigError, KeyError, ValueError, TypeError) as e:
        return _with(row, problem=f"incomplete metadata: {e}")
    return _with(
        row,
        context_length=int(config.get("max_position_embeddings") or 0),
        memory_bytes=memory_estimate(row.file_bytes, config, row.parameters, quantized=bool(set(kinds) - FLOAT_TYPES)),
    )


def _safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError("too short to be a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > min(_size(path) - 8, 100 * 1024**2):
            raise ValueError("its header length is impossible")
        header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    header.pop("__metadata__", None)
    return header


def describe_folder(path: Path, source: str) -> LibraryRow:
    """A row for a Hugging Face / MLX folder, from config.json and the safetensors headers."""
    files = sorted(path.glob("*.safetensors"))
    row = LibraryRow(display_name(path), str(path), source, "safetensors", file_bytes=sum(_size(f) for f in files))
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        return _with(row, problem=f"config.json cannot be read: {e}")
    if not isinstance(config, dict):
        return _with(row, problem="config.json is not a JSON object")
    architecture = str(config.get("model_type", "unknown"))
    quantization = config.get("quantization") or config.get("quantization_config") or {}
    bits = int(quantization.get("bits") or 0) if isinstance(quantization, dict) else 0
    row = _with(row, architecture=architecture, context_length=int(config.get("max_position_embeddings") or 0))
    if not files:
        return _with(row, problem="no *.safetensors weight files")
    dtypes: Counter[str] = Counter()
    params = 0
    try:
        for f in files:
            for key, t in _safetensors_header(f).items():
                count = 1
                for d in t["shape"]:
                    count *= int(d)
                dtypes[t["dtype"]] += count
                if bits and t["dtype"] == "U32" and key.endswith(".weight"):
                    params += count * 32 // bits  # packed quantized weights
                elif not (bits and key.endswith((".scales", ".biases"))):
                    params += count
    except (OSError, ValueError, KeyError, TypeError) as e:
        return _with(row, problem=f"a safetensors header cannot be read: {e}")
    stored = f"MLX {bits}-bit" if bits else (dtypes.most_common(1)[0][0] if dtypes else "")
    row = _with(row, parameters=params, quantization=stored)
    if unreadable := sorted(set(dtypes) - READABLE_SAFETENSORS):
        return _with(row, problem=f"unsupported tensor type {', '.join(unreadable)}")
    try:
        get_architecture(architecture)
    except UnsupportedArchitecture:
        return _with(row, problem=f"unknown architecture {architecture!r}")
    return _with(row, memory_bytes=memory_estimate(row.file_bytes, config, params, quantized=bool(bits)))


def _with(row: LibraryRow, **changes: Any) -> LibraryRow:
    from dataclasses import replace

    return replace(row, **changes)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------------
# Sources


def _models_in(folder: Path, source: str) -> list[LibraryRow]:
    """GGUF files and model folders directly in `folder` (the folder itself if it is a model)."""
    if (folder / "config.json").is_file():
        return [describe_folder(folder, source)]
    rows = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() == ".gguf" and p.is_file() and not p.name.startswith("mmproj"):
            rows.append(describe_gguf(p, source))
        elif p.is_dir() and (p / "config.json").is_file():
            rows.append(describe_folder(p, source))
    return rows


def scan_hf_hub(root: Path) -> list[LibraryRow]:
    """The hub cache: one snapshot per repository (the one refs/main names, else the newest)."""
    rows: list[LibraryRow] = []
    for repo in sorted(root.glob("models--*")) if root.is_dir() else []:
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        chosen = snapshots / ref.read_text().strip() if ref.is_file() else None
        if chosen is None or not chosen.is_dir():
            candidates = [s for s in snapshots.iterdir() if s.is_dir()]
            if not candidates:
                continue
            chosen = max(candidates, key=lambda s: s.stat().st_mtime)
        rows.extend(_models_in(chosen, "Hugging Face"))
    return rows


def scan_lmstudio(root: Path) -> list[LibraryRow]:
    """LM Studio's models folder: <publisher>/<repo>/ holding *.gguf files or an MLX folder."""
    rows: list[LibraryRow] = []
    for publisher in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for repo in sorted(p for p in publisher.iterdir() if p.is_dir()):
            rows.extend(_models_in(repo, "LM Studio"))
    return rows


def scan_ollama(root: Path) -> list[LibraryRow]:
    """Ollama's store: each manifest's model layer is a GGUF blob, named `model:tag`."""
    manifests = root / "manifests"
    rows: list[LibraryRow] = []
    for manifest in sorted(manifests.rglob("*")) if manifests.is_dir() else []:
        if not manifest.is_file():
            continue
        name = ollama_name(manifest.relative_to(manifests).parts)  # host, namespace, model, tag
        if name is None:
            continue
        digest = ollama_blob_of(manifest)
        if digest is None:
            rows.append(LibraryRow(name, str(manifest), "Ollama", "gguf", problem="the manifest names no model layer"))
            continue
        blob = root / "blobs" / digest.replace(":", "-")
        if not blob.is_file():
            rows.append(LibraryRow(name, str(blob), "Ollama", "gguf", problem="the model blob is missing"))
            continue
        rows.append(describe_gguf(blob, "Ollama"))
    return rows


def scan_folder(root: Path, source: str) -> list[LibraryRow]:
    """A plain folder of models (GPT4All's, Glassbox's own, or one the user added)."""
    return _models_in(root, source) if root.is_dir() else []


SCANNERS: dict[str, Callable[[Location], list[LibraryRow]]] = {
    "hf": lambda loc: scan_hf_hub(loc.root),
    "lmstudio": lambda loc: scan_lmstudio(loc.root),
    "ollama": lambda loc: scan_ollama(loc.root),
    "folder": lambda loc: scan_folder(loc.root, loc.source),
}


def default_locations(
    models_dir: Path, added: Iterable[str] = (), env: Mapping[str, str] | None = None, home: Path | None = None
) -> list[Location]:
    """Where to look on this machine, honouring HF_HUB_CACHE / HF_HOME and OLLAMA_MODELS."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    hf = env.get("HF_HUB_CACHE") or (str(Path(env["HF_HOME"]) / "hub") if env.get("HF_HOME") else None)
    ollama = env.get("OLLAMA_MODELS")
    gpt4all = (
        home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"
        if sys.platform == "darwin"
        else Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "nomic.ai" / "GPT4All"
    )
    return [
        Location("Glassbox", models_dir),
        Location("Hugging Face", Path(hf).expanduser() if hf else home / ".cache" / "huggingface" / "hub", "hf"),
        Location("LM Studio", home / ".lmstudio" / "models", "lmstudio"),
        Location("LM Studio", home / ".cache" / "lm-studio" / "models", "lmstudio"),
        Location("Ollama", Path(ollama).expanduser() if ollama else home / ".ollama" / "models", "ollama"),
        Location("GPT4All", gpt4all),
        *(Location("Added folder", Path(folder).expanduser()) for folder in added),
    ]


ScanProgress = Callable[[int, int, Location], None]


def scan(
    locations: Iterable[Location], progress: ScanProgress | None = None, cancelled: Callable[[], bool] | None = None,
) -> list[LibraryRow]:
    """Every model in every location, each path once (the first source that found it names it).

    progress(done, total, location) is called before each location is read (done: how many were
    read already). cancelled() is asked before each location: once it says True the scan stops
    and returns what it found so far.
    """
    locations = list(locations)
    seen: set[str] = set()
    rows = []
    for done, location in enumerate(locations):
        if cancelled is not None and cancelled():
            break
        if progress is not None:
            progress(done, len(locations), location)
        try:
            found = SCANNERS[location.kind](location)
        except OSError:  # a folder that vanished or cannot be listed: nothing found there
            continue
        for row in found:
            key = os.path.realpath(row.spec)
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# Memory


def available_memory() -> int:
    """Bytes of memory free for a new model now: MemAvailable from /proc/meminfo, else the free
    physical pages (os.sysconf), else 0 (unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def fit_problem(row: LibraryRow, available: int) -> str | None:
    """Why `row` cannot be opened now (unsupported, or too big for the free memory), else None."""
    if row.problem:
        return f"{row.name} cannot be opened: {row.problem}."
    if available and row.memory_bytes > available:
        return (
            f"{row.name} needs about {format_bytes(row.memory_bytes)} of memory, but only "
            f"{format_bytes(available)} is free on this machine. Close other programs or choose a "
            "smaller (more quantized) model."
        )
    return None


def format_count(n: int) -> str:
    """Parameters as people write them: 270M, 1.2B, 35K."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n) if n else ""
