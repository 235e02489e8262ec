"""Search in scripts written without spaces: a word inside a Japanese or Chinese sentence is found
and marked on its own characters (trial 5: 自己紹介 found nothing; 紹介 marked the whole run)."""

from __future__ import annotations

from app.search_words import matched_spans
from app.store import Store

JAPANESE = "日本語で自己紹介してください。こんにちは！"


def test_a_word_inside_a_sentence_without_spaces_is_found_and_marked_alone(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation().id
    asked = store.add_user_message(conv, JAPANESE).id
    store.add_user_message(conv, "Kyoto 京都: 紹介してるこう")
    assert [h.message_id for h in store.search("自己紹介")] == [asked]
    assert [h.message_id for h in store.search("してください")] == [asked]
    assert len(store.search("紹介")) == 2
    assert [h.text for h in store.search("kyo 紹介")] == ["Kyoto 京都: 紹介してるこう"]  # both kinds of word
    assert store.search("自己紹介 kyoto") == []  # every word must match
    assert matched_spans(JAPANESE, "紹介") == [(6, 2)]  # its own two characters, not the run
    assert matched_spans("Kyoto 京都: 紹介してるこう", "kyo 紹介") == [(0, 5), (10, 2)]
    assert store.search("'); DROP TABLE messages; --自己") == []  # never SQL, never FTS syntax
    store.close()
