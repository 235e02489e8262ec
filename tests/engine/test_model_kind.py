"""Base or instruction-tuned, from what the file says (engine/model_kind.py), and what the loader
reports for the two real models: SmolLM2-135M-Instruct has its own chat template; the Gemma 3 270M
file has none and its name names no tuning, so it is a base model, with the reason said."""

from __future__ import annotations

import pytest

from engine.default_model import models_dir
from engine.loading import WeightPolicy, load
from engine.model_kind import classify
from tests.engine.checkpoints import write_gguf

GEMMA = models_dir() / "gemma-3-270m-q4_k_m.gguf"


@pytest.mark.parametrize("template,name,finetune,base", [
    (True, "Smollm2 135M", "8k-lc100k-mix1-ep2", False),
    (False, "Gemma 3 270m", None, True),
    (False, "gemma-3-270m-it", None, False),
    (False, "Qwen3 4B", "Instruct-2507", False),
    (False, "Llama 3.2 1B Chat", None, False),
    (False, "Qwen2.5 Coder 1.5B", "base", True),
    (False, "Bitter 7B", None, True),  # "it" inside a word is not "-it"
    (False, None, None, True),
])
def test_the_signals_decide(template, name, finetune, base):
    assert classify(template, name, finetune).base is base


def test_the_reason_names_the_signals():
    assert classify(False, "Gemma 3 270m").reason == (
        "no chat template in the file, and its name 'Gemma 3 270m' names no instruction tuning")
    assert classify(False, "gemma-3-270m-it").reason == (
        "its name 'gemma-3-270m-it' says “it” (instruction-tuned), though the file has no chat template")
    assert classify(True, "x").reason == "the file has its own chat template"


def test_a_gguf_finetune_counts(tmp_path):
    tuned = load(write_gguf("llama", tmp_path / "t.gguf", strings={"general.finetune": "Instruct"}), WeightPolicy("float32"))
    plain = load(write_gguf("llama", tmp_path / "b.gguf"), WeightPolicy("float32"))
    assert not tuned.info.base_model and "finetune 'Instruct'" in tuned.info.base_model_reason
    assert plain.info.base_model and plain.info.base_model_reason == (
        "no chat template in the file, and its name 'tiny llama' names no instruction tuning")


def test_the_default_model_is_instruction_tuned(default_lm):
    assert not default_lm.info.base_model and default_lm.info.base_model_reason == "the file has its own chat template"


@pytest.mark.skipif(not GEMMA.is_file(), reason="run `python -m engine fetch gemma3-270m`")
def test_gemma_270m_is_a_base_model():
    from engine.gguf import read_header

    header = read_header(GEMMA)
    meta = header.metadata if hasattr(header, "metadata") else header[0]
    assert "tokenizer.chat_template" not in meta and "general.finetune" not in meta
    assert classify(False, str(meta["general.name"])).base
