"""Memories: intents, normalisation, CRUD and pinning, relevance (app.memory_recall), hostile input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.memory import ForgetIntent, MemoryStore, NothingNamed, RememberIntent, detect_intent, normalise_fact
from app.store import Store, StoreError


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "glassbox.db")
    yield s
    s.close()


@pytest.fixture
def memories(store):
    return MemoryStore(store)


@pytest.mark.parametrize(
    "text, fact",
    [
        ("remember that my name is Ada", "My name is Ada"),
        ("Remember that my name is Ada.", "My name is Ada"),
        ("Please remember: I am allergic to peanuts!", "I am allergic to peanuts"),
        ("can you remember my sister is called  Grace", "My sister is called Grace"),
        ("Don't forget that the meeting\nis on Friday", "The meeting is on Friday"),
        ("ok, keep in mind that I use vim", "I use vim"),
    ],
)
def test_remember_intent_normalises_the_fact(text, fact):
    assert detect_intent(text) == RememberIntent(fact)


@pytest.mark.parametrize(
    "text, query",
    [
        ("forget my name", "my name"),
        ("Please forget that I am vegan.", "I am vegan"),
        ("forget about the meeting", "the meeting"),
    ],
)
def test_forget_intent_carries_what_to_look_for(text, query):
    assert detect_intent(text) == ForgetIntent(query)


@pytest.mark.parametrize(
    "text",
    [
        "Do you remember my name?",
        "Can you remember that?",
        "Remember when we talked about Rome",
        "Forgetting things is normal",
        "I always forget my keys",
        "What is my name",
        "",
    ],
)
def test_ordinary_messages_are_not_intents(text):
    assert detect_intent(text) is None


@pytest.mark.parametrize(
    "text",
    ["remember that", "Remember that   ", "remember that.", "Remember that!", "remember", "remember:",
     "please remember that it", "keep in mind that", "don't forget that...", "remember that 🙂"],
)
def test_remembering_nothing_is_named_as_such_not_saved_as_that(text):
    intent = detect_intent(text)
    assert intent == NothingNamed("remember") and "nothing to remember" in intent.explanation


@pytest.mark.parametrize("text", ["Forget", "forget it", "forget that.", "Forget about it!", "please forget that"])
def test_forgetting_nothing_is_named_as_such(text):
    intent = detect_intent(text)
    assert intent == NothingNamed("forget") and "nothing to forget" in intent.explanation


@given(st.lists(st.sampled_from(list(" .,!:;-'\"\n…") + [" that", " it", " me", " the"]), max_size=12).map("".join))
@settings(max_examples=200)
def test_property_a_remember_request_without_a_topic_word_never_becomes_a_memory(rest):
    assert not isinstance(detect_intent("remember " + rest), RememberIntent)
    assert not isinstance(detect_intent("remember that" + rest), RememberIntent)


def test_normalise_fact():
    assert normalise_fact("  my   name is Ada.  ") == "My name is Ada"
    assert normalise_fact("") == ""


def test_add_edit_pin_delete_list(memories):
    a = memories.add("My name is Ada")
    b = memories.add("I live in Lisbon", source_message_id=None)
    assert [m.id for m in memories.list()] == [b.id, a.id]  # newest first
    assert memories.add("my name is ada").id == a.id  # no duplicates
    memories.pin(a.id)
    assert [m.id for m in memories.list()] == [a.id, b.id]  # pinned first
    assert memories.edit(b.id, "I live in  Porto").text == "I live in Porto"
    memories.delete(a.id)
    assert [m.text for m in memories.list()] == ["I live in Porto"]
    with pytest.raises(StoreError):
        memories.get(a.id)
    with pytest.raises(StoreError):
        memories.pin(a.id)
    with pytest.raises(StoreError):
        memories.add("   ")


def test_memory_keeps_its_source_message_until_that_is_deleted(store, memories):
    c = store.create_conversation()
    u = store.add_user_message(c.id, "remember that I like tea")
    m = memories.add("I like tea", source_message_id=u.id)
    assert memories.get(m.id).source_message_id == u.id
    store.delete_conversation(c.id)
    assert memories.get(m.id).source_message_id is None  # the fact outlives the conversation


def test_relevant_is_pinned_plus_best_matches(memories):
    name = memories.add("My name is Ada")
    memories.add("I have a cat called Pixel")
    memories.add("My favourite colour is green")
    pinned = memories.add("Always answer briefly", pinned=True)
    got = memories.relevant("What is my name?")
    assert got == [pinned, name]
    assert memories.relevant("tell me about my cat Pixel and its name", limit=1)[0] == pinned
    assert memories.relevant("tell me about my cat Pixel and its name", limit=1)[1].text.startswith(
        "I have a cat"
    )
    assert memories.relevant("the of and is") == [pinned]  # stopwords only: no matches


def test_relevant_follows_edits_and_deletes(memories):
    m = memories.add("My dog is Rex")
    assert memories.relevant("dog") == [m]
    memories.edit(m.id, "My parrot is Rio")
    assert memories.relevant("dog") == []
    assert [x.text for x in memories.relevant("parrot")] == ["My parrot is Rio"]
    memories.delete(m.id)
    assert memories.relevant("parrot") == []


def test_forget_candidates_match_but_delete_nothing(memories):
    name = memories.add("My name is Ada")
    memories.add("I live in Lisbon")
    intent = detect_intent("forget my name")
    assert memories.forget_candidates(intent) == [name]
    assert len(memories.list()) == 2
    assert memories.forget_candidates(ForgetIntent("")) == []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_relevant_never_raises_on_any_text(tmp_path_factory, text):
    s = Store(tmp_path_factory.mktemp("m") / "g.db")
    mem = MemoryStore(s)
    mem.add('He said "hi" (NEAR x) AND * ^ - OR')
    mem.relevant(text)
    mem.forget_candidates(ForgetIntent(text))
    s.close()


@pytest.mark.parametrize("text", ['"', "'", 'name"', "NOT", "AND OR", "name*", "(name", "col:name", "^name"])
def test_relevant_with_fts_syntax_characters(memories, text):
    memories.add("My name is Ada")
    memories.relevant(text)  # must not raise
    plain = re.sub(r"[^\w\s]", " ", text)  # the same words without the syntax characters
    assert memories.relevant(f"what is my {text} name") == memories.relevant(f"what is my {plain} name")
    assert memories.relevant(f"what is my {text} name") != [] or "col" in text  # "col" is a second topic word
