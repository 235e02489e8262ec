"""Models that cannot be loaded: each gives one ModelLoadError whose message names the problem,
and the CLI turns it into one line on stderr and exit status 2."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from engine.gguf import GGUFError, check_gguf_header
from engine.loading import ModelLoadError, load
from engine.tokenizer import byte_decoder
from tests.engine.tiny import max_diff, random_tokens, run, tiny_model

ROOT = Path(__file__).resolve().parents[2]


def write_byte_level_tokenizer(folder: Path) -> None:
    """A tokenizer.json with just the 256 byte-level symbols (no merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    table = byte_decoder()
    backend = Tokenizer(models.BPE({ch: b for ch, b in table.items()}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=5)


@pytest.fixture
def make_folder(tmp_path, model):
    """A tiny safetensors model folder; `config`/`weights` override what is written."""

    def build(name="tiny", config=None, weights=None, tokenizer=True) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        cfg = {**model.args.to_dict(), **(config or {})}
        (folder / "config.json").write_text(json.dumps(cfg))
        tensors = dict(tree_flatten(model.parameters())) if weights is None else weights
        mx.save_safetensors(str(folder / "model.safetensors"), tensors)
        if tokenizer:
            write_byte_level_tokenizer(folder)
        return folder

    return build


def load_error(path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_the_tiny_folder_itself_loads_and_computes_the_same_logits(make_folder, model):
    lm = load(make_folder())
    assert lm.info.format == "safetensors" and lm.info.n_layers == 2
    tokens = random_tokens(6)
    assert max_diff(run(lm.model, tokens), run(model, tokens)) < 1e-5
    assert lm.tokenizer.decode(lm.tokenizer.encode("héllo")) == "héllo"


# ---------------------------------------------------------------------------------------------
# files


def test_missing_path(tmp_path):
    assert "model not found" in load_error(tmp_path / "nowhere.gguf")


def test_truncated_gguf(tmp_path, default_model_path):
    truncated = tmp_path / "truncated.gguf"
    with open(default_model_path, "rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    message = load_error(truncated)
    assert "truncated" in message and str(truncated) in message


def test_gguf_cut_inside_the_tensor_data(tmp_path, default_model_path):
    cut = tmp_path / "cut.gguf"
    with open(default_model_path, "rb") as f:
        cut.write_bytes(f.read(os.path.getsize(default_model_path) // 2))
    assert "truncated" in load_error(cut)


@pytest.mark.parametrize("name", ["garbage.bin", "garbage.gguf", "model"])
def test_a_file_of_garbage_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    assert "not a GGUF file" in load_error(path)


@pytest.mark.parametrize(
    "header",
    [
        b"GGUF" + bytes(range(200)),  # right magic, absurd version
        b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + bytes(64),  # absurd counts
        b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 2**50) + bytes(64),  # absurd key
    ],
    ids=["version", "counts", "key-length"],
)
def test_a_gguf_with_a_corrupt_header_is_an_error_not_a_crash(tmp_path, header):
    # MLX's own reader segfaults on these; the header check must refuse them first
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(header)
    assert "corrupt or truncated" in load_error(path)


def test_the_header_check_accepts_the_real_model_and_reads_its_architecture(default_model_path):
    assert check_gguf_header(Path(default_model_path)) == "llama"


def test_a_gguf_of_an_unsupported_architecture_is_named(tmp_path, default_model_path):
    data = bytearray(Path(default_model_path).read_bytes())
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type (u32) and string length (u64) follow
    assert data[at : at + 5] == b"llama"
    data[at : at + 5] = b"bloom"  # same length: the header stays well formed
    path = tmp_path / "bloom.gguf"
    path.write_bytes(data)
    assert "unsupported model architecture 'bloom'" in load_error(path)


def test_the_header_check_refuses_a_flipped_tensor_dimension_count(tmp_path, default_model_path):
    data = bytearray(Path(default_model_path).read_bytes()[: 4 << 20])
    name = b"token_embd.weight"
    at = data.index(name) + len(name)  # the tensor info's n_dims follows its name
    assert struct.unpack_from("<I", data, at)[0] == 2
    struct.pack_into("<I", data, at, 9)
    path = tmp_path / "dims.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError, match="dimensions"):
        check_gguf_header(path)


# ---------------------------------------------------------------------------------------------
# folders


def test_a_folder_without_config_json(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no config.json" in load_error(tmp_path / "empty")


def test_an_unknown_model_type_is_named_even_before_the_weights_are_read(make_folder):
    folder = make_folder(config={"model_type": "gpt-neox"}, weights={}, tokenizer=False)
    (folder / "model.safetensors").write_bytes(b"")  # would be "corrupt" if it were read first
    message = load_error(folder)
    assert "unsupported model architecture 'gpt-neox'" in message and "llama" in message


def test_missing_tensors(make_folder, model):
    weights = dict(tree_flatten(model.parameters()))
    del weights["layers.1.mlp.up_proj.weight"]
    assert "missing tensors: layers.1.mlp.up_proj.weight" in load_error(make_folder(weights=weights))


def test_unexpected_tensors(make_folder, model):
    weights = {**dict(tree_flatten(model.parameters())), "layers.0.mlp.extra.weight": mx.zeros((2, 2))}
    assert "unexpected tensors: layers.0.mlp.extra.weight" in load_error(make_folder(weights=weights))


def test_wrong_tensor_shape(make_folder, model):
    weights = dict(tree_flatten(model.parameters()))
    weights["layers.0.self_attn.k_proj.weight"] = mx.zeros((16, 64))
    message = load_error(make_folder(weights=weights))
    assert "layers.0.self_attn.k_proj.weight has shape (16, 64), expected (32, 64)" in message


def test_no_weight_files(make_folder):
    folder = make_folder()
    (folder / "model.safetensors").unlink()
    assert "no *.safetensors" in load_error(folder)


def test_a_truncated_safetensors_file(make_folder):
    folder = make_folder()
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated safetensors" in load_error(folder)


def test_no_tokenizer(make_folder):
    assert "no tokenizer" in load_error(make_folder(tokenizer=False))


@pytest.mark.parametrize(
    "edit,expected",
    [
        ({"model_type": None}, "no model_type"),
        ({"hidden_size": None}, "malformed model metadata"),
        ({"num_key_value_heads": 3}, "multiple of num_key_value_heads"),
        ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "unsupported rope_scaling type 'dynamic'"),
    ],
)
def test_a_bad_config(make_folder, edit, expected):
    folder = make_folder()
    config = json.loads((folder / "config.json").read_text())
    config.update(edit)
    config = {k: v for k, v in config.items() if not (k == "model_type" and v is None)}
    (folder / "config.json").write_text(json.dumps(config))
    assert expected in load_error(folder)


def test_config_json_that_is_not_json(make_folder):
    folder = make_folder()
    (folder / "config.json").write_text("{model_type: llama")
    assert "not valid JSON" in load_error(folder)


def test_a_tokenizer_larger_than_the_embedding_table(make_folder, model):
    weights = dict(tree_flatten(model.parameters()))
    weights["embed_tokens.weight"] = weights["embed_tokens.weight"][:100]
    message = load_error(make_folder(config={"vocab_size": 100}, weights=weights))
    assert "256 tokens" in message and "100 embeddings" in message


# ---------------------------------------------------------------------------------------------
# the CLI


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, input=stdin, capture_output=True,
        text=True, timeout=300,
    )


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "corrupt-header", "unknown-arch"])
def test_cli_reports_a_bad_model_in_one_line(tmp_path, default_model_path, make_folder, kind):
    if kind == "missing":
        target = tmp_path / "missing.gguf"
    elif kind == "garbage":
        target = tmp_path / "garbage.gguf"
        target.write_bytes(os.urandom(2048))
    elif kind == "truncated":
        target = tmp_path / "truncated.gguf"
        with open(default_model_path, "rb") as f:
            target.write_bytes(f.read(1 << 20))
    elif kind == "corrupt-header":
        target = tmp_path / "corrupt.gguf"
        target.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + bytes(64))
    else:
        target = make_folder(config={"model_type": "gpt-neox"})
    result = run_cli("tokenize", "--model", str(target), "hello")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(target) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
