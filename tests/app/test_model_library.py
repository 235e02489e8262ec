"""The model library finds models where other apps keep them, from metadata alone, and says why it
cannot open the ones it cannot. Each test builds that app's folder layout in tmp_path with tiny
checkpoints (tests/engine/checkpoints.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest

from app.library_actions import LibraryActions
from app.model_library import (
    RUNTIME_BYTES,
    LibraryRow,
    Location,
    default_locations,
    describe_folder,
    describe_gguf,
    fit_problem,
    memory_estimate,
    scan,
    scan_folder,
    scan_hf_hub,
    scan_lmstudio,
    scan_ollama,
)
from app.settings import Settings
from tests.engine.checkpoints import tiny_config, tiny_model, write_gguf, write_hf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """One tiny GGUF (qwen3, Q8_0 matrices), one tiny HF folder (gemma3) and odd files, made once."""
    root = tmp_path_factory.mktemp("tiny")
    return {
        "gguf": write_gguf("qwen3", root / "qwen3.gguf", tensor_type=gguf.GGMLQuantizationType.Q8_0),
        "hf": write_hf("gemma3", root / "gemma3"),
        "unknown_arch": _gguf_of_arch(root / "mamba.gguf", "mamba"),
    }


def _gguf_of_arch(path: Path, arch: str) -> Path:
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny mamba")
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _n_params(name: str) -> int:
    """The tiny model's parameter count, from the model itself (not from any file)."""
    from mlx.utils import tree_flatten

    return sum(v.size for _, v in tree_flatten(tiny_model(name).parameters()))


def test_gguf_row_from_metadata(tiny):
    row = describe_gguf(tiny["gguf"], "Glassbox")
    assert row.supported, row.problem
    assert (row.name, row.architecture, row.format) == ("qwen3", "qwen3", "gguf")  # its file's name, not "tiny qwen3"
    assert row.quantization == "Q8_0"
    assert row.context_length == tiny_config("qwen3")["max_position_embeddings"] == 256
    assert row.file_bytes == tiny["gguf"].stat().st_size
    assert row.parameters == _n_params("qwen3")
    assert row.memory_bytes == memory_estimate(row.file_bytes, tiny_config("qwen3"), row.parameters, True)
    assert row.memory_bytes > row.file_bytes


def test_memory_estimate_follows_the_cpu_policy(monkeypatch):
    """Weights the loader expands to float32 on this CPU are counted as float32, else as stored."""
    import engine.loading

    config = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "head_dim": 8, "max_position_embeddings": 100}
    kv = 2 * 2 * 2 * 8 * 4 * 100
    monkeypatch.setattr(engine.loading.WeightPolicy, "expand", lambda self, n, quantized=True: True)
    assert memory_estimate(1000, config, 2000, True) == 8000 + kv + RUNTIME_BYTES
    monkeypatch.setattr(engine.loading.WeightPolicy, "expand", lambda self, n, quantized=True: False)
    assert memory_estimate(1000, config, 2000, True) == 1000 + kv + RUNTIME_BYTES


def test_memory_estimate_counts_the_cache_the_architecture_keeps(tmp_path):
    """DeepSeek's multi-head latent attention caches the compressed latent and the RoPE key
    (3 layers × (64 + 32) floats per token here), not 2 × heads × head_dim per layer."""
    row = describe_folder(write_hf("deepseek_v3", tmp_path / "ds"), "Added folder")
    assert row.supported, row.problem
    latent_cache = 256 * 3 * (64 + 32) * 4  # its whole 256-token context, float32
    assert memory_estimate(0, tiny_config("deepseek_v3")) == latent_cache + RUNTIME_BYTES
    assert row.memory_bytes == row.parameters * 4 + latent_cache + RUNTIME_BYTES  # float32 weights


def test_hf_folder_row_from_metadata(tiny):
    row = describe_folder(tiny["hf"], "Hugging Face")
    assert row.supported, row.problem
    assert (row.name, row.architecture, row.format, row.quantization) == (
        tiny["hf"].name, "gemma3", "safetensors", "F32")
    assert row.parameters == _n_params("gemma3")
    assert row.context_length == 256


def test_unknown_architecture_is_greyed_with_the_reason(tiny, tmp_path):
    row = describe_gguf(tiny["unknown_arch"], "Added folder")
    assert row.problem == "unknown architecture 'mamba'"
    folder = shutil.copytree(tiny["hf"], tmp_path / "rwkv")
    (folder / "config.json").write_text(json.dumps({**tiny_config("gemma3"), "model_type": "rwkv"}))
    assert describe_folder(folder, "Added folder").problem == "unknown architecture 'rwkv'"


def test_unsupported_tensor_type_is_greyed_not_called_corrupt(tmp_path):
    path = tmp_path / "odd.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = bytearray(path.read_bytes())
    # the tensor's type field (uint32 after its name, dims count and two dims) -> 99, a type that does not exist
    at = data.index(b"token_embd.weight") + len(b"token_embd.weight") + 4 + 16
    data[at : at + 4] = (99).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    row = describe_gguf(path, "Added folder")
    assert row.problem is not None and row.problem.startswith("unsupported:") and "type 99" in row.problem
    assert "corrupt" not in row.problem


def test_a_bad_file_is_greyed_with_what_is_wrong_with_it(tiny, tmp_path):
    """Trial 5, finding 28: never "corrupt" for a file that is simply not a GGUF; a cut copy says
    how much is missing."""
    data = tiny["gguf"].read_bytes()
    cut_header = tmp_path / "cut.gguf"
    cut_header.write_bytes(data[:2000])
    assert describe_gguf(cut_header, "Added folder").problem.startswith("corrupt or truncated header: ")
    header_end = tmp_path / "header.gguf"
    from engine.gguf import read_header

    header = read_header(tiny["gguf"])
    header_end.write_bytes(data[: header.data_offset + 64])
    problem = describe_gguf(header_end, "Added folder").problem
    assert problem.startswith("truncated: its header describes ") and " MB of tensors, the file has " in problem
    text = tmp_path / "notes.gguf"
    text.write_bytes(b"hello, world\n" * 4)
    assert describe_gguf(text, "Added folder").problem == 'not a GGUF file (it starts with "hell"; a GGUF file starts with "GGUF")'
    short = tmp_path / "short.gguf"  # verify 5: a 12-byte text file was "corrupt or truncated header"
    short.write_bytes(b"hello world\n")
    assert describe_gguf(short, "Added folder").problem == 'not a GGUF file (it starts with "hell"; a GGUF file starts with "GGUF")'
    binary = tmp_path / "random.gguf"
    binary.write_bytes(bytes([0xC1, 0x38, 0x32, 0xF2]) * 16)
    assert describe_gguf(binary, "Added folder").problem == "not a GGUF file (it starts with c1 38 32 f2 in hex; a GGUF file starts with \"GGUF\")"
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:10])
    assert describe_gguf(cut, "Added folder").problem == "truncated: 10 bytes, shorter than a GGUF header (24 bytes)"


def test_hugging_face_hub_layout(tiny, tmp_path):
    hub = tmp_path / "hub"
    repo = hub / "models--google--gemma-3-tiny"
    old, new = repo / "snapshots" / "aaa", repo / "snapshots" / "bbb"
    shutil.copytree(tiny["hf"], old)
    shutil.copytree(tiny["hf"], new)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("bbb")
    gguf_repo = hub / "models--Qwen--Qwen3-tiny-GGUF" / "snapshots" / "ccc"
    gguf_repo.mkdir(parents=True)
    shutil.copy(tiny["gguf"], gguf_repo / "qwen3-tiny-q8_0.gguf")
    (hub / "models--empty--repo").mkdir()
    rows = scan_hf_hub(hub)
    assert [(r.name, r.spec, r.source) for r in rows] == [
        ("Qwen/Qwen3-tiny-GGUF/qwen3-tiny-q8_0", str(gguf_repo / "qwen3-tiny-q8_0.gguf"), "Hugging Face"),
        ("google/gemma-3-tiny", str(new), "Hugging Face"),
    ]
    assert all(r.supported for r in rows)


def test_hf_home_and_hub_cache_are_honoured(tmp_path):
    def hf_root(env):
        return next(loc.root for loc in default_locations(tmp_path / "m", (), env, tmp_path) if loc.kind == "hf")

    assert hf_root({}) == tmp_path / ".cache" / "huggingface" / "hub"
    assert hf_root({"HF_HOME": "/x/hf"}) == Path("/x/hf/hub")
    assert hf_root({"HF_HOME": "/x/hf", "HF_HUB_CACHE": "/y/cache"}) == Path("/y/cache")
    ollama = [loc.root for loc in default_locations(tmp_path, (), {"OLLAMA_MODELS": "/o"}, tmp_path) if loc.kind == "ollama"]
    assert ollama == [Path("/o")]


def test_lm_studio_layout(tiny, tmp_path):
    models = tmp_path / ".lmstudio" / "models"
    repo = models / "lmstudio-community" / "Qwen3-tiny-GGUF"
    repo.mkdir(parents=True)
    shutil.copy(tiny["gguf"], repo / "Qwen3-tiny-Q8_0.gguf")
    (repo / "mmproj-Qwen3-tiny-F16.gguf").write_bytes(b"GGUF")  # a vision projector, not a model
    shutil.copytree(tiny["hf"], models / "mlx-community" / "gemma-3-tiny-bf16")
    rows = scan_lmstudio(models)
    assert [(r.name, r.architecture, r.source) for r in rows] == [
        ("lmstudio-community/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0", "qwen3", "LM Studio"),
        ("mlx-community/gemma-3-tiny-bf16", "gemma3", "LM Studio"),
    ]


def _ollama_store(root: Path, blob_source: Path, ns: str, model: str, tag: str) -> Path:
    import hashlib

    digest = hashlib.sha256(blob_source.read_bytes()).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    blob = root / "blobs" / f"sha256-{digest}"
    shutil.copy(blob_source, blob)
    manifest = root / "manifests" / "registry.ollama.ai" / ns / model / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:0", "size": 3},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": 1},
    ]}))
    return blob


def test_ollama_layout(tiny, tmp_path):
    root = tmp_path / ".ollama" / "models"
    blob = _ollama_store(root, tiny["gguf"], "library", "qwen3", "tiny")
    _ollama_store(root, tiny["unknown_arch"], "someone", "mamba", "latest")
    broken = root / "manifests" / "registry.ollama.ai" / "library" / "gone" / "latest"
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:ff"}]}))
    rows = {r.name: r for r in scan_ollama(root)}
    assert set(rows) == {"qwen3:tiny", "someone/mamba:latest", "gone:latest"}
    assert rows["qwen3:tiny"].spec == str(blob) and rows["qwen3:tiny"].supported
    assert rows["qwen3:tiny"].architecture == "qwen3" and rows["qwen3:tiny"].source == "Ollama"
    assert rows["someone/mamba:latest"].problem == "unknown architecture 'mamba'"
    assert rows["gone:latest"].problem == "the model blob is missing"


def test_gpt4all_glassbox_and_added_folders(tiny, tmp_path):
    home = tmp_path / "home"
    gpt4all = home / ".local" / "share" / "nomic.ai" / "GPT4All"
    gpt4all.mkdir(parents=True)
    shutil.copy(tiny["gguf"], gpt4all / "qwen3-tiny.Q8_0.gguf")
    (gpt4all / "localdocs_v2.db").write_bytes(b"not a model")
    mine = tmp_path / "glassbox-models"
    mine.mkdir()
    shutil.copy(tiny["unknown_arch"], mine / "mamba.gguf")
    added = tmp_path / "my models"
    shutil.copytree(tiny["hf"], added / "gemma")
    rows = scan(default_locations(mine, (str(added),), {}, home))
    assert [(r.source, Path(r.spec).name, r.supported) for r in rows] == [
        ("Glassbox", "mamba.gguf", False),
        ("GPT4All", "qwen3-tiny.Q8_0.gguf", True),
        ("Added folder", "gemma", True),
    ]
    assert scan_folder(tmp_path / "nowhere", "Added folder") == []


def test_the_same_file_is_listed_once(tiny, tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    shutil.copy(tiny["gguf"], a / "m.gguf")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m.gguf").symlink_to(a / "m.gguf")
    rows = scan([Location("Glassbox", a), Location("Added folder", tmp_path / "b")])
    assert [r.source for r in rows] == ["Glassbox"]


def _row(memory: int, problem: str | None = None) -> LibraryRow:
    return LibraryRow("big model", "/models/big.gguf", "Added folder", "gguf", memory_bytes=memory, problem=problem)


def test_memory_refusal_names_both_sizes():
    assert fit_problem(_row(4 * 10**9), 8 * 10**9) is None
    message = fit_problem(_row(12 * 10**9), 8 * 10**9)
    assert message is not None
    assert "big model needs about 12.0 GB" in message and "only 8.0 GB is free" in message
    assert fit_problem(_row(10**9, "unknown architecture 'mamba'"), 8 * 10**9) == (
        "big model cannot be opened: unknown architecture 'mamba'.")


def test_open_switches_model_or_refuses_before_loading(tiny, tmp_path):
    state = {"settings": Settings()}
    applied: list[Settings] = []
    free = {"bytes": 64 * 10**9}

    def apply(s):
        applied.append(s)
        state["settings"] = s

    def remember(s):
        state["settings"] = s

    actions = LibraryActions(lambda: state["settings"], apply, remember, tmp_path / "models",
                             available_memory=lambda: free["bytes"],
                             locations=lambda models_dir, added: [Location("Added folder", Path(f)) for f in added])
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(tiny["gguf"], folder / "q.gguf")
    actions.add_folder(str(folder))
    actions.add_folder(str(folder))
    assert state["settings"].app.model_folders == (str(folder),)
    assert Settings.from_dict(state["settings"].to_dict()).app.model_folders == (str(folder),)
    (row,) = actions.rows()
    free["bytes"] = row.memory_bytes - 1
    assert "needs about" in actions.open(row) and applied == []
    free["bytes"] = row.memory_bytes
    assert actions.open(row) is None
    assert [s.app.model for s in applied] == [str(folder / "q.gguf")]
    actions.remove_folder(str(folder))
    assert actions.rows() == [] and state["settings"].app.model_folders == ()


def test_a_changed_file_is_described_again(tiny, tmp_path):
    """Headers are remembered between scans, but never past a change to the file."""
    import os

    path = tmp_path / "m.gguf"
    shutil.copy(tiny["gguf"], path)
    assert describe_gguf(path, "Glassbox").architecture == "qwen3"
    shutil.copy(tiny["unknown_arch"], path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert describe_gguf(path, "Glassbox").problem == "unknown architecture 'mamba'"


@pytest.mark.parametrize("platform, expected", [
    ("linux", ".local/share/nomic.ai/GPT4All"),
    ("darwin", "Library/Application Support/nomic.ai/GPT4All"),
])
def test_gpt4all_folder_per_platform(platform, expected, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.platform", platform)
    (root,) = [loc.root for loc in default_locations(tmp_path / "m", (), {}, tmp_path) if loc.source == "GPT4All"]
    assert root == tmp_path / expected
