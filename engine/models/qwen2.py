"""Qwen 2 / 2.5: the Llama architecture with a bias on the query, key and value projections.

The output projection and the MLP have none. RoPE in rotate-half form (llama.cpp's NEOX), so a
GGUF stores Q/K rows unpermuted; the base is large (1e6). ChatML is the family's template.
"""

from __future__ import annotations

import mlx.nn as nn

from engine import chat_templates
from engine.models import llama
from engine.models.base import Architecture, GGUFLayout, keys_and_values, llama_like_config


class Attention(llama.Attention):
    def __init__(self, args: llama.ModelArgs):
        super().__init__(args)
        dim, hd = args.hidden_size, args.head_dim
        self.q_proj = nn.Linear(dim, self.n_heads * hd, bias=True)
        self.k_proj = nn.Linear(dim, self.n_kv_heads * hd, bias=True)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * hd, bias=True)
        self.o_proj = nn.Linear(self.n_heads * hd, dim, bias=False)


class Block(llama.Block):
    attention = Attention


class Model(llama.Model):
    block = Block


ARCHITECTURE = Architecture(
    names=("qwen2",),
    hf_classes={"qwen2": "Qwen2ForCausalLM"},
    args=llama.ModelArgs,
    model=Model,
    gguf=GGUFLayout(llama.GGUF_LAYER_NAMES),
    config_from_gguf=llama_like_config,
    cached_token=keys_and_values,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
