"""Base (pre-trained) or instruction-tuned: what a model file says about itself.

A pre-trained model only continues text; instruction tuning (and the chat template that comes
with it) is what makes it answer. The signals, strongest first:
1. the file's own chat template (GGUF `tokenizer.chat_template`, a folder's tokenizer_config.json or
   chat_template.jinja): instruction-tuned — converters copy it only from tuned checkpoints;
2. its name and finetune (GGUF `general.name` / `general.finetune`, a folder's name or config
   `_name_or_path`) naming a tuning: "instruct", "chat", "-it", "sft", "rlhf", "dpo";
3. otherwise a base model (no template and nothing naming a tuning).
`ModelKind.reason` says which signals decided, in one sentence the window shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TUNED_WORDS = re.compile(r"(?:^|[^a-z0-9])(instruct|chat|it|sft|rlhf|dpo|assistant)(?:$|[^a-z0-9])", re.I)


@dataclass(frozen=True)
class ModelKind:
    base: bool
    reason: str  # e.g. "no chat template in the file, and its name 'Gemma 3 270m' names no instruction tuning"


def classify(has_own_template: bool, name: str | None = None, finetune: str | None = None) -> ModelKind:
    """Decide from the signals above; `name`/`finetune` as the file states them (None: absent)."""
    named = [f"{what} {value!r}" for what, value in (("name", name), ("finetune", finetune)) if value]
    tuned = next((w for w in (finetune, name) if w and TUNED_WORDS.search(w)), None)
    if has_own_template:
        return ModelKind(False, "the file has its own chat template")
    if tuned:
        word = TUNED_WORDS.search(tuned).group(1)
        return ModelKind(False, f"its {'finetune' if tuned == finetune else 'name'} {tuned!r} says “{word}” "
                                "(instruction-tuned), though the file has no chat template")
    said = " and ".join(named) if named else "no name or finetune"
    return ModelKind(True, f"no chat template in the file, and its {said} names no instruction tuning"
                     if named else "no chat template in the file, and it gives no name or finetune")
