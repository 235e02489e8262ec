"""Reading ChatGPT's conversations.json and Glassbox's JSON export (no store involved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.importers import ImportFileError, read_conversations

FIXTURE = Path(__file__).parent.parent / "fixtures" / "imports" / "chatgpt_conversations.json"


def test_chatgpt_follows_the_current_node_and_skips_system_tool_hidden_and_non_text():
    result = read_conversations(FIXTURE)
    (conv,) = result.conversations
    assert conv.title == "Lisbon <trip>" and conv.source == "chatgpt" and conv.created == 1700000000.5
    assert [(m.role, m.text) for m in conv.messages] == [
        ("user", "Where should I go in Lisbon?\nTwo days."),
        ("assistant", "Alfama <b>and</b> Belém."),
        ("user", "What about food?"),
        ("assistant", "Try pastéis de nata."),
    ]
    assert [m.parent for m in conv.messages] == [None, 0, 1, 2] and conv.active_leaf == 3
    assert len(result.skipped) == 2
    assert result.skipped[0].startswith("conversation 2 (“Broken”): it has no message tree")
    assert result.skipped[1] == "conversation 3 (“Only system”): it has no user or assistant text"


def test_a_single_chatgpt_conversation_object_without_a_current_node_uses_its_last_leaf(tmp_path):
    data = json.loads(FIXTURE.read_text())[0]
    del data["current_node"]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))
    (conv,) = read_conversations(path).conversations
    assert conv.messages[-1].text == "Try pastéis de nata."


@pytest.mark.parametrize(
    "content, message",
    [(b"\x89PNG\x00\x00", "x.json is not a text file"),
     (b'{"a": 1', "x.json is not valid JSON (line 1"),
     (b'{"hello": "world"}', "x.json is neither a ChatGPT export"),
     (b"[]", "x.json has no conversation that can be imported"),
     (b'[{"mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}, "current_node": "a"}]', "has a loop"),
     (b'{"format": "glassbox-conversation", "version": 9}', "version 9, which this Glassbox cannot read"),
     (b'{"format": "glassbox-conversation", "version": 1, "messages": [{"id": 1, "role": "user"}]}',
      "message 1 is damaged"),
     (b'{"format": "glassbox-conversation", "version": 1, "messages": '
      b'[{"id": 2, "parent_id": 7, "role": "user", "text": "x"}]}', "not before it in the file")],
)
def test_bad_files_get_a_clear_message(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as e:
        read_conversations(path)
    assert message in str(e.value)
