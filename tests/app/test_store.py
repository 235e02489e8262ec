"""The conversation store: schema, branches, streaming flushes, search, export, recovery on open."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from app import paths
from app.search_words import matched_spans
from app.store import (
    INTERRUPTED,
    MIGRATIONS,
    SCHEMA_VERSION,
    TITLE_CHARS,
    ReplyTokens,
    Store,
    StoreError,
    auto_title,
    fts_query,
)
from engine.events import TokenEvent


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "glassbox.db")
    yield s
    s.close()


def token(i: int, text: str, logprob: float = -0.5) -> TokenEvent:
    return TokenEvent(
        0, i, text, text, logprob, logprob / 2, 1.25, ((i, text, logprob), (99, " x", -3.0)), ((i, text, -0.1),)
    )


def old_row(*tokens: TokenEvent) -> str:
    """Token data as schema versions 1 and 2 stored it (row format 1: no per-token text)."""
    return json.dumps([[t.token, t.piece, t.logprob, t.sampled_logprob, t.entropy,
                        [list(a) for a in t.top_raw], [[i, lp] for i, _p, lp in t.top_final]] for t in tokens])


def reply(store: Store, conversation_id: int, text: str, reason: str = "eos", stats: dict | None = None) -> int:
    m = store.start_assistant_message(conversation_id, model="SmolLM2", settings={"temperature": 0.7})
    store.append_partial(m.id, [token(1, text)])
    store.finish(m.id, reason, stats)
    return m.id


# -- paths ------------------------------------------------------------------------------------


def test_paths_precedence_argument_then_environment(tmp_path, monkeypatch):
    assert paths.data_dir() == tmp_path / "data" and (tmp_path / "data").is_dir()  # conftest's env
    assert paths.config_dir() == tmp_path / "config" and (tmp_path / "config").is_dir()
    assert paths.data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert paths.database_path() == tmp_path / "data" / "glassbox.db"
    monkeypatch.delenv("GLASSBOX_DATA_DIR")
    monkeypatch.setattr(paths.appdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "platform"))
    assert paths.data_dir() == tmp_path / "platform" and (tmp_path / "platform").is_dir()


# -- schema and opening -----------------------------------------------------------------------


def test_fresh_database_is_wal_with_foreign_keys_and_current_schema(store, tmp_path):
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA foreign_keys")[0][0] == 1
    assert store.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert store.recovered_from is None and store.fallback_reason is None


def test_reopening_keeps_data(tmp_path):
    s = Store(tmp_path / "g.db")
    c = s.create_conversation()
    s.add_user_message(c.id, "kept")
    s.close()
    s = Store(tmp_path / "g.db")
    assert [m.text for m in s.active_path(c.id)] == ["kept"]
    assert s.recovered_from is None


def test_not_a_database_is_moved_aside_and_a_fresh_one_made(tmp_path):
    path = tmp_path / "g.db"
    path.write_bytes(b"this is not sqlite at all\n" * 200)
    s = Store(path)
    assert s.recovered_from is not None and s.recovered_from.name.startswith("g.db.corrupt-")
    assert s.recovered_from.read_bytes().startswith(b"this is not sqlite")
    c = s.create_conversation()
    s.add_user_message(c.id, "works again")
    assert s.list_conversations()[0].title == "works again"


def test_damaged_pages_are_detected_and_moved_aside(tmp_path):
    path = tmp_path / "g.db"
    s = Store(path)
    c = s.create_conversation()
    for i in range(300):
        s.add_user_message(c.id, f"message number {i} " + "padding " * 40)
    s.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 20 * 4096
    data[5 * 4096 : 12 * 4096] = b"\xff" * (7 * 4096)  # scribble over b-tree pages, header intact
    path.write_bytes(bytes(data))
    s = Store(path)
    assert s.recovered_from is not None and ".corrupt-" in s.recovered_from.name
    assert s.list_conversations() == []


def test_newer_schema_is_moved_aside_not_touched(tmp_path):
    path = tmp_path / "g.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    s = Store(path)
    assert s.recovered_from is not None and ".newer-" in s.recovered_from.name
    old = sqlite3.connect(s.recovered_from)
    assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    old.close()
    assert s.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_a_version_1_database_with_rows_upgrades_in_place_to_keep_reply_stats(tmp_path):
    path = tmp_path / "g.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    conn.execute("INSERT INTO conversations (id, title, created, updated, active_leaf_id) VALUES (1, 'Old', 1, 2, 2)")
    conn.execute("INSERT INTO messages (id, conversation_id, parent_id, role, text, created) VALUES "
                 "(1, 1, NULL, 'user', 'old question', 1)")
    conn.execute("INSERT INTO messages (id, conversation_id, parent_id, role, text, created, model, finished, "
                 "finish_reason) VALUES (2, 1, 1, 'assistant', 'old answer', 2, 'SmolLM2', 1, 'eos')")
    conn.execute("INSERT INTO message_tokens VALUES (2, 0, ?)", (old_row(token(5, "old "), token(6, "answer")),))
    conn.commit()
    conn.close()
    s = Store(path)
    assert s.recovered_from is None and s.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 5
    old = s.active_path(1)
    assert [m.text for m in old] == ["old question", "old answer"] and old[1].stats is None
    assert old[1].finish_reason == "eos" and [(t.piece, t.text) for t in s.tokens(2)] == [("old ", "old "), ("answer", "answer")]
    assert [h.message_id for h in s.search("answer")] == [2]
    s.add_user_message(1, "new question")
    new = reply(s, 1, "new answer", stats={"generated_tokens": 2, "tokens_per_s": 30.5})
    s.close()
    s = Store(path)  # opening again migrates nothing and keeps everything
    assert s.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert s.message(new).stats == {"generated_tokens": 2, "tokens_per_s": 30.5} and s.message(2).stats is None
    s.close()


def test_reply_stats_round_trip_as_plain_json_with_nan_as_null(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "hi")
    stats = {
        "prompt_tokens": 120, "cached_tokens": 100, "computed_tokens": 20, "generated_tokens": 7,
        "ttft_s": 0.25, "tokens_per_s": math.nan, "dropped_messages": 3, "context_used": 127,
        "context_length": 2048, "kv_cache": "quantized8", "finish_reason": "eos",
        "elapsed_s": 1.5, "kv_bytes": 4096, "not_json": object(),  # not kept
    }  # fmt: skip
    m = reply(store, c.id, "Hello", stats=stats)
    kept = store.message(m).stats
    assert kept == {k: v for k, v in stats.items() if k not in ("elapsed_s", "not_json")} | {
        "tokens_per_s": None
    }
    assert json.loads(store.query("SELECT stats FROM messages WHERE id = ?", (m,))[0][0])["tokens_per_s"] is None
    assert store.active_path(c.id)[-1].stats == kept
    # a reply finished without stats (cancelled, failed) keeps none; infinities become null too
    assert store.message(reply(store, c.id, "Stopped", reason="cancelled")).stats is None
    assert store.message(reply(store, c.id, "x", stats={"ttft_s": math.inf})).stats == {"ttft_s": None}
    assert store.message(reply(store, c.id, "y", stats={"elapsed_s": 1.0})).stats is None
    fork = store.fork_conversation(m)
    assert store.active_path(fork.id)[-1].stats == kept


def test_unopenable_location_falls_back_to_memory_without_crashing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    s = Store(blocker / "g.db")
    assert s.fallback_reason and "could not open" in s.fallback_reason
    c = s.create_conversation()
    assert s.conversation(c.id).id == c.id


# -- conversations ----------------------------------------------------------------------------


def test_conversations_newest_first_rename_and_delete(store):
    a = store.create_conversation()
    b = store.create_conversation()
    assert [c.id for c in store.list_conversations()] == [b.id, a.id]
    store.add_user_message(a.id, "activity moves a conversation to the top")
    assert [c.id for c in store.list_conversations()] == [a.id, b.id]
    store.rename_conversation(b.id, "  Named  ")
    assert store.conversation(b.id).title == "Named"
    store.delete_conversation(a.id)
    assert [c.id for c in store.list_conversations()] == [b.id]
    with pytest.raises(StoreError):
        store.conversation(a.id)


def test_auto_title_from_first_user_message_only_until_renamed(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "Plan a trip\nto Lisbon in May")
    store.add_user_message(c.id, "second message does not retitle")
    assert store.conversation(c.id).title == "Plan a trip to Lisbon in May"
    d = store.create_conversation()
    store.rename_conversation(d.id, "Mine")
    store.add_user_message(d.id, "hello")
    assert store.conversation(d.id).title == "Mine"


def test_auto_title_is_bounded_and_cut_at_a_word():
    title = auto_title("word " * 40)
    assert len(title) <= TITLE_CHARS + 1 and title.endswith("word…")


def test_delete_cascades_to_messages_tokens_and_search(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "zebra crossing")
    mid = reply(store, c.id, "zebras are striped")
    store.delete_conversation(c.id)
    assert store.query("SELECT count(*) FROM messages")[0][0] == 0
    assert store.query("SELECT count(*) FROM message_tokens")[0][0] == 0
    assert store.search("zebra") == []
    assert store.tokens(mid) == ReplyTokens(())


# -- messages, streaming and tokens ----------------------------------------------------------


def test_streamed_reply_accumulates_text_and_tokens_in_order(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "count")
    m = store.start_assistant_message(c.id, model="SmolLM2", settings={"temperature": 0.2, "seed": 3})
    assert not store.message(m.id).finished
    store.append_partial(m.id, [token(10, "one")])
    store.append_partial(m.id, [])  # a flush with nothing new is harmless
    store.append_partial(m.id, [token(11, " two"), token(12, "")])
    assert store.message(m.id).text == "one two"
    store.finish(m.id, "length")
    done = store.message(m.id)
    assert done.finished and done.finish_reason == "length"
    assert done.model == "SmolLM2" and done.settings == {"temperature": 0.2, "seed": 3}
    assert [(t.index, t.token, t.text) for t in store.tokens(m.id)] == [(0, 10, "one"), (1, 11, " two"), (2, 12, "")]
    t = store.tokens(m.id)[0]
    assert t.top_raw == ((10, "one", -0.5), (99, " x", -3.0)) and t.top_final == ((10, "one", -0.1),)
    assert math.isclose(t.prob, math.exp(-0.5)) and not store.tokens(m.id).damaged


def test_a_token_comes_back_as_the_same_record_filtered_alternatives_included(store):
    c = store.create_conversation()
    m = store.start_assistant_message(c.id)
    sent = TokenEvent(
        0, 7, " hi", " hi", -0.25, float("-inf"), 2.0, ((7, " hi", -0.25), (8, " yo", -1.5)),
        ((7, " hi", -0.125), (9, "<0xF0>", float("-inf"))), finish_reason="eos",
    )  # fmt: skip
    store.append_partial(m.id, [sent])
    assert store.tokens(m.id).tokens == (sent,)


def test_unfinished_reply_is_marked_interrupted_on_reopen(tmp_path):
    s = Store(tmp_path / "g.db")
    c = s.create_conversation()
    s.add_user_message(c.id, "hi")
    m = s.start_assistant_message(c.id)
    s.append_partial(m.id, [token(1, "Hel")])
    s.close()
    s = Store(tmp_path / "g.db")
    got = s.message(m.id)
    assert got.text == "Hel" and got.finished and got.finish_reason == INTERRUPTED


def test_failed_write_rolls_back_the_whole_transaction(store):
    c = store.create_conversation()
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as db:
            db.execute("UPDATE conversations SET title = 'half' WHERE id = ?", (c.id,))
            db.execute(
                "INSERT INTO messages (conversation_id, role, created) VALUES (?, 'robot', 0)", (c.id,)
            )
    assert store.conversation(c.id).title == ""


# -- branches ---------------------------------------------------------------------------------


def test_edit_creates_a_sibling_branch_and_keeps_the_old_one(store):
    c = store.create_conversation()
    u1 = store.add_user_message(c.id, "first question")
    reply(store, c.id, "first answer")
    u2 = store.add_user_message(c.id, "follow up")
    reply(store, c.id, "second answer")

    edited = store.edit_user_message(u2.id, "better follow up")
    assert edited.parent_id == u2.parent_id
    assert [m.text for m in store.active_path(c.id)] == ["first question", "first answer", "better follow up"]
    reply(store, c.id, "answer to the edit")
    assert [m.text for m in store.active_path(c.id)][-1] == "answer to the edit"
    assert [m.id for m in store.siblings(u2.id)] == [u2.id, edited.id]

    path = store.select_branch(u2.id)  # back to the old branch, down to its leaf
    assert [m.text for m in path] == ["first question", "first answer", "follow up", "second answer"]
    assert store.active_path(c.id) == path
    assert store.messages(c.id)[0].id == u1.id and len(store.messages(c.id)) == 6


def test_edit_rejects_assistant_messages(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "q")
    with pytest.raises(StoreError):
        store.edit_user_message(reply(store, c.id, "a"), "changed")


def test_regenerate_adds_a_sibling_reply(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "tell me a joke")
    old = reply(store, c.id, "joke one")
    new = store.regenerate(c.id, model="SmolLM2", settings={"seed": 2})
    assert new.parent_id == store.message(old).parent_id and not new.finished
    store.append_partial(new.id, [token(1, "joke two")])
    store.finish(new.id, "eos")
    assert [m.text for m in store.active_path(c.id)] == ["tell me a joke", "joke two"]
    assert [m.text for m in store.siblings(new.id)] == ["joke one", "joke two"]


def test_regenerate_without_a_reply_is_an_error(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "q")
    with pytest.raises(StoreError):
        store.regenerate(c.id)


def test_fork_copies_the_branch_with_tokens_and_remembers_its_origin(store):
    c = store.create_conversation("Origin")
    store.add_user_message(c.id, "q1")
    a1 = reply(store, c.id, "a1")
    store.add_user_message(c.id, "q2")
    reply(store, c.id, "a2")
    fork = store.fork_conversation(a1)
    assert fork.forked_from_conversation_id == c.id and fork.forked_from_message_id == a1
    assert fork.title == "Origin (branch)"
    path = store.active_path(fork.id)
    assert [(m.role, m.text) for m in path] == [("user", "q1"), ("assistant", "a1")]
    assert path[1].id != a1 and path[1].finish_reason == "eos" and path[1].settings == {"temperature": 0.7}
    assert store.tokens(path[1].id) == store.tokens(a1)
    store.add_user_message(fork.id, "different q2")
    assert [m.text for m in store.active_path(c.id)] == ["q1", "a1", "q2", "a2"]  # original untouched
    store.delete_conversation(c.id)
    assert store.conversation(fork.id).forked_from_conversation_id is None
    assert [m.text for m in store.active_path(fork.id)] == ["q1", "a1", "different q2"]


def test_empty_conversation_has_an_empty_path(store):
    assert store.active_path(store.create_conversation().id) == []


# -- search -----------------------------------------------------------------------------------


def test_search_finds_messages_across_conversations_with_snippets(store):
    a = store.create_conversation()
    store.add_user_message(a.id, "How do penguins keep warm in Antarctica?")
    reply(store, a.id, "Penguins huddle together and have dense feathers.")
    b = store.create_conversation()
    store.add_user_message(b.id, "Recipe for pancakes")
    hits = store.search("penguin")  # a prefix of the stored words
    assert {h.conversation_id for h in hits} == {a.id}
    assert sorted(h.text for h in hits) == ["How do penguins keep warm in Antarctica?",
                                            "Penguins huddle together and have dense feathers."]  # fmt: skip
    assert sorted(h.text[s : s + n] for h in hits for s, n in matched_spans(h.text, "penguin")) == ["Penguins",
                                                                                                   "penguins"]  # fmt: skip
    assert store.search("pancakes")[0].conversation_title == "Recipe for pancakes"
    assert store.search("penguins pancakes") == []  # all words must match


def test_the_matched_words_are_found_as_the_index_matches_them():
    text = "Café, CAFÉ! The cafeteria's mu_value; a decaf."
    assert [text[s : s + n] for s, n in matched_spans(text, "cafe")] == ["Café", "CAFÉ", "cafeteria"]
    assert [text[s : s + n] for s, n in matched_spans(text, "val mu")] == ["mu", "value"]  # "_" splits words
    assert matched_spans(text, "") == matched_spans(text, "!?") == []


def test_search_sees_streamed_text_and_survives_hostile_queries(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "q")
    m = store.start_assistant_message(c.id)
    store.append_partial(m.id, [token(1, "streaming ")])
    store.append_partial(m.id, [token(2, "marmalade")])
    assert [h.message_id for h in store.search("marmalade")] == [m.id]
    for query in ['"', "AND OR NOT", "a* (b", "NEAR(x y)", "^col:", "''", "   ", "-", 'ma"rm']:
        store.search(query)  # never raises
    assert store.search("AND") == []


def test_fts_query_quotes_every_word():
    assert fts_query('say "hi" OR bye', prefix=True) == '"say"* AND "hi"* AND "or"* AND "bye"*'
    assert fts_query("the cat", operator="OR", drop=frozenset({"the"})) == '"cat"'
    assert fts_query("?!") == ""


# -- export -----------------------------------------------------------------------------------


def test_export_markdown_is_the_active_branch(store):
    c = store.create_conversation("Trip")
    u = store.add_user_message(c.id, "Where to?")
    reply(store, c.id, "Lisbon.", reason="length")
    store.edit_user_message(u.id, "Where to go?")
    reply(store, c.id, "Porto.")
    md = store.export_markdown(c.id)
    assert md.startswith("# Trip\n")
    assert "## User\n\nWhere to go?" in md and "## Assistant (SmolLM2)\n\nPorto." in md
    assert "Lisbon" not in md and "Where to?\n" not in md


def test_export_json_has_every_branch_and_token_probabilities(store):
    c = store.create_conversation()
    u = store.add_user_message(c.id, "hi")
    first = reply(store, c.id, "Hello")
    store.edit_user_message(u.id, "hey")
    second = reply(store, c.id, "Hey")
    doc = json.loads(json.dumps(store.export_json(c.id)))
    assert doc["format"] == "glassbox-conversation" and doc["version"] == 1
    assert doc["conversation"]["active_path"] == [store.message(second).parent_id, second]
    by_id = {m["id"]: m for m in doc["messages"]}
    assert set(by_id) == {u.id, first, second, store.message(second).parent_id}
    tok = by_id[first]["tokens"][0]
    assert tok["text"] == tok["shown_text"] == "Hello" and math.isclose(tok["prob"], math.exp(-0.5), rel_tol=1e-5)
    assert tok["top"][1] == {"id": 99, "text": " x", "logprob": -3.0, "prob": round(math.exp(-3.0), 6)}
    assert by_id[first]["settings"] == {"temperature": 0.7} and "tokens" not in by_id[u.id]
    assert by_id[first]["stats"] is None and "stats" not in by_id[u.id]
    third = reply(store, c.id, "Hi", stats={"generated_tokens": 1, "tokens_per_s": math.nan})
    doc = json.loads(json.dumps(store.export_json(c.id), allow_nan=False))
    assert {m["id"]: m for m in doc["messages"]}[third]["stats"] == {"generated_tokens": 1, "tokens_per_s": None}


TRICKY_REPLY = (
    "Use `a < b` or &amp; — then:\n\n    if a < b and c &amp;&amp; d:\n        print(\"<|im_end|>\")\n\n"
    "```html\n<div class=\"x\">&amp;</div>\n```\n\n"
    "1. Step `<|im_end|>`\n\n   ```\n   x = \"<b>\"\n   ```\n\n"
    "Raw <smirk> &lt;b&gt; \\(x^2\\) \\*literal\\* 🎉👩‍👩‍👧 你好，世界！ ``` `` ```"
)
TRICKY_USER = "Tell me about <|im_end|> & `ticks` <b>bold</b> *stars* 😀 你好\n# not a heading"


def tricky_conversation(store: Store) -> int:
    c = store.create_conversation("<|im_end|> & <b>title</b> `x` 🎉")
    store.add_user_message(c.id, TRICKY_USER)
    m = store.start_assistant_message(c.id, model="Smol<LM> & co", settings={"temperature": 0.7})
    pieces = [TRICKY_REPLY[i : i + 7] for i in range(0, len(TRICKY_REPLY), 7)]
    store.append_partial(m.id, [token(i, piece) for i, piece in enumerate(pieces)])
    store.finish(m.id, "eos")
    return c.id


def shown(qapp, markdown: str, html: bool) -> str:
    from PySide6.QtGui import QTextDocument

    features = QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    if not html:
        features |= QTextDocument.MarkdownFeature.MarkdownNoHTML
    doc = QTextDocument()
    doc.setMarkdown(markdown, features)
    return " ".join(doc.toPlainText().split())


def test_markdown_export_shows_every_message_as_the_window_does_and_code_verbatim(qapp, store):
    from app.markdown_text import markdown_as_written

    md = store.export_markdown(tricky_conversation(store))
    # code is written verbatim (a viewer shows it as it is): never an entity inside it
    assert "    if a < b and c &amp;&amp; d:\n        print(\"<|im_end|>\")" in md
    assert '<div class="x">&amp;</div>' in md and '   x = "<b>"' in md and "`<|im_end|>`" in md
    viewer = shown(qapp, md, html=True)  # a viewer with raw HTML on, as most are
    window = shown(qapp, markdown_as_written(TRICKY_REPLY), html=False)  # the reply view's renderer
    assert window in viewer
    for written in ("if a < b and c &amp;&amp; d:", '<div class="x">&amp;</div>', "<smirk> &lt;b&gt; \\(x^2\\)",
                    "*literal*", "🎉👩‍👩‍👧 你好，世界！", 'x = "<b>"'):
        assert written in viewer, written
    assert " ".join(TRICKY_USER.split()) in viewer  # plain text: every character
    assert "<|im_end|> & <b>title</b> `x` 🎉" in viewer and "Assistant (Smol<LM> & co)" in viewer


def test_json_export_round_trips_every_character_and_token(store, tmp_path):
    from app.importers import read_conversations
    from app.store.export import write_export
    from app.store.imports import save_imported

    original = tricky_conversation(store)
    write_export(store, original, tmp_path / "c.json", "json")
    (imported,) = read_conversations(tmp_path / "c.json").conversations
    again = save_imported(store, imported).id
    assert store.conversation(again).title == store.conversation(original).title
    before, after = store.active_path(original), store.active_path(again)
    assert [(m.role, m.text, m.model) for m in after] == [(m.role, m.text, m.model) for m in before]
    assert "".join(t.text for t in store.tokens(after[1].id).tokens) == TRICKY_REPLY
    assert [t.text for t in store.tokens(after[1].id).tokens] == [t.text for t in store.tokens(before[1].id).tokens]


def test_delete_message_removes_the_turn_and_moves_the_branch_back(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "first question")
    answer = reply(store, c.id, "first answer")
    too_long = store.add_user_message(c.id, "a very long paste")
    store.start_assistant_message(c.id)
    store.delete_message(too_long.id)
    assert [m.text for m in store.active_path(c.id)] == ["first question", "first answer"]
    assert store.conversation(c.id).active_leaf_id == answer
    assert len(store.messages(c.id)) == 2 and store.search("paste") == []


def test_a_reply_without_tokens_can_be_added_and_reads_back_whole(store):
    c = store.create_conversation()
    store.add_user_message(c.id, "imported question")
    m = store.add_reply(c.id, "imported answer 你好", model="elsewhere")
    assert [x.text for x in store.active_path(c.id)] == ["imported question", "imported answer 你好"]
    assert m.finished and m.finish_reason == "eos" and store.tokens(m.id) == ReplyTokens(())


def test_markdown_export_of_a_completion_view_conversation_uses_the_windows_words(store):
    """Verify 5 / trial 5, finding 36: a conversation in the completion view is exported as the window
    shows it ("Your text" / "Continuation", the text plain), says it was a plain continuation, and a
    stopped reply says "stopped" as its header does (never the engine's "cancelled")."""
    from dataclasses import replace

    from app.store import conversation_settings

    c = store.create_conversation("Once")
    conversation_settings.write(store, c.id, replace(conversation_settings.read(store, c.id), mode="completion"))
    store.add_user_message(c.id, "Once upon a *time*")
    reply(store, c.id, " there was a # king", reason="cancelled")
    md = store.export_markdown(c.id)
    assert "## Your text\n\nOnce upon a *time*" not in md  # plain text: kept literal, never emphasis
    assert "## Your text\n\n" in md and "## Continuation (SmolLM2)\n\n" in md and "## User" not in md
    assert "A plain continuation: the text went to the model exactly as written, with no chat template" in md
    assert "*[stopped]*" in md and "cancelled" not in md

    chat = store.create_conversation("Chat")  # a chat keeps its words
    store.add_user_message(chat.id, "Hi")
    reply(store, chat.id, "Hello.", reason="length")
    md = store.export_markdown(chat.id)
    assert "## User\n\nHi" in md and "*[stopped at the token limit]*" in md and "plain continuation" not in md
