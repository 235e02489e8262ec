"""Switching models (Model → Manage Models… or the Model menu) never serves one model's prompt
cache to another: the disk caches live under the loaded weights' identity. Two tiny GGUFs of the
same architecture and vocabulary (different random weights) share every token id, so a cache keyed
on tokens alone would be reused across them."""

from __future__ import annotations

import pytest

from app.backend import EngineBackend
from tests.app.test_prompt_cache_backend import FIRST, SECOND, ask, history_after
from tests.engine.checkpoints import write_gguf


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return write_gguf("qwen3", root / "a.gguf", seed=0), write_gguf("qwen3", root / "b.gguf", seed=1)


def test_switching_models_never_serves_the_other_models_cache(two_models, tmp_path):
    a, b = two_models
    backend = EngineBackend(tmp_path / "data")
    session_a = backend.load(str(a), lambda *_: None)
    first = ask(session_a, FIRST, max_new=6)
    session_a.housekeeping()  # A's caches go to disk

    session_b = backend.load(str(b), lambda *_: None)
    on_b = ask(session_b, SECOND, history_after(first), max_new=6)
    fresh_b = ask(EngineBackend(tmp_path / "elsewhere").load(str(b), lambda *_: None), SECOND,
                  history_after(first), max_new=6)
    assert on_b.stats["cached_tokens"] == 0
    assert on_b.ids == fresh_b.ids

    # back on A, its own saved cache is served (the cache works; it was only withheld from B)
    again_a = ask(backend.load(str(a), lambda *_: None), SECOND, history_after(first), max_new=6)
    assert again_a.stats["cached_tokens"] > 0
