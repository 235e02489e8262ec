"""Subprocess for test_durability: streams a real reply into the store until it is killed.

    python tests/app/_crash_writer.py DB_PATH STREAM_LOG

Opens the store, adds a user message, and generates a reply with the default model (greedy),
flushing its TokenEvents with `append_partial` every few tokens, as the app does (not synced to
disk: `durable=False`, which an app crash must never lose). Every
text delta goes to STREAM_LOG (raw fd writes, so a SIGKILL loses none) *before* it is flushed to the
database, so the database can only ever hold a prefix of the log. After the first flush that holds
some text it prints "FLUSHED" on stdout; the parent then kills it. Prints "DONE <reason>" if it
ever finishes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from app.context import assemble  # noqa: E402
from app.store import Store  # noqa: E402
from engine import default_model  # noqa: E402
from engine.cache import make_cache  # noqa: E402
from engine.generate import GenerationConfig, generate  # noqa: E402
from engine.loading import load  # noqa: E402
from engine.sampling import GREEDY  # noqa: E402

QUESTION = "Write a long, detailed story about a dragon who learns to bake bread."
FLUSH_EVERY_S = 0.2  # the app flushes at least every second; more often here so kills land mid-stream


def main(db_path: str, log_path: str) -> None:
    lm = load(default_model.default_model_path())
    store = Store(db_path)
    conversation = store.create_conversation()
    store.add_user_message(conversation.id, QUESTION)
    ctx = assemble(
        lm.tokenizer, "You are a helpful assistant.", [], [], QUESTION, lm.info.context_length, 512
    )
    reply = store.start_assistant_message(conversation.id, model=lm.info.name, settings=GREEDY.to_dict())
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    tokens, last_flush, signalled = [], time.monotonic(), False
    config = GenerationConfig(max_tokens=512, context_length=lm.info.context_length)
    for event in generate(
        lm.model, lm.tokenizer, ctx.prompt_ids, make_cache(lm.info.n_layers), GREEDY, config
    ):
        if event.token is not None:
            tokens.append(event)
        if time.monotonic() - last_flush >= FLUSH_EVERY_S or event.finish_reason:
            os.write(log, "".join(t.text for t in tokens).encode("utf-8"))
            store.append_partial(reply.id, tokens, durable=False)  # as the app writes most chunks
            tokens, last_flush = [], time.monotonic()
            if not signalled and store.message(reply.id).text:
                print("FLUSHED", flush=True)
                signalled = True
        if event.finish_reason:
            store.finish(reply.id, event.finish_reason)
            print("DONE", event.finish_reason, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
