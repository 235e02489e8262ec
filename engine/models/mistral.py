"""Mistral: the Llama architecture whose attention may be limited to a sliding window.

With `sliding_window` = W, position p attends to positions p - W + 1 .. p only (Mistral 7B v0.1:
W = 4096; later versions set it to null, full attention). Every layer then gets a rotating cache
of W positions (`Model.make_cache`), so memory stays bounded however long the conversation.
The modules are Llama's; only the declared type, the window and the chat template differ.
"""

from __future__ import annotations

from typing import Any

from engine import chat_templates
from engine.models import llama
from engine.models.base import Architecture, GGUFLayout, GGUFMeta, keys_and_values, llama_like_config


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    config = llama_like_config(meta)
    window = meta.arch("attention.sliding_window", None)
    config["sliding_window"] = int(window) if window else None
    return config


ARCHITECTURE = Architecture(
    names=("mistral",),
    hf_classes={"mistral": "MistralForCausalLM"},
    args=llama.ModelArgs,
    model=llama.Model,
    gguf=GGUFLayout(llama.GGUF_LAYER_NAMES, permute_qk=True),
    config_from_gguf=config_from_gguf,
    cached_token=keys_and_values,
    chat_template=chat_templates.MISTRAL,
    template_name="Mistral [INST]",
)
