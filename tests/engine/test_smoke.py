"""End-to-end smoke test of the default model through the public generation path."""

from engine.cache import make_cache
from engine.generate import GenerationConfig, generate
from engine.sampling import GREEDY


def test_default_model_answers_a_chat_question(default_lm):
    tok = default_lm.tokenizer
    ids = tok.encode_chat([{"role": "user", "content": "What is the capital of France?"}])
    cache = make_cache(default_lm.info.n_layers)
    events = list(generate(default_lm.model, tok, ids, cache, GREEDY, GenerationConfig(max_tokens=24)))
    text = "".join(e.text for e in events)
    assert "Paris" in text
    assert events[-1].finish_reason in ("eos", "length")
    assert all(0.0 <= e.prob <= 1.0 for e in events if e.token is not None)
    assert default_lm.info.architecture == "llama" and default_lm.info.n_layers == 30
