"""Memory recall by relevance (verify 5, N2): a message that shares one ordinary word with a memory
does not recall it; a message about the memory does. Through `MemoryStore.relevant`, the call
every request makes (app/turns.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.memory import MemoryStore
from app.memory_recall import RECALL_SHARE, coverage, idf, recall, topic_words
from app.store import Store

ANA = "My name is Ana and I live in Porto"


@pytest.fixture
def memories(tmp_path):
    s = Store(tmp_path / "g.db")
    yield MemoryStore(s)
    s.close()


# each shares one word with ANA ("name", "live", "porto"), and is about something else
UNRELATED = [
    "Name three planets.",
    "Name the largest ocean on Earth.",
    "What's a good name for a cat?",
    "Where do penguins live?",
    "How long do turtles live?",
    "Is Porto wine sweet?",
]
RELATED = [
    "What is my name?",
    "Where do I live?",
    "Do you remember my name?",
    "What's my name and where do I live?",
    "Do I live in Porto?",
    "Who is Ana?",
    "name?",
    "Thanks, Ana!",
]


@pytest.mark.parametrize("message", UNRELATED)
def test_one_shared_ordinary_word_recalls_nothing(memories, message):
    memories.add(ANA)
    assert topic_words(message) & topic_words(ANA)  # the case the old word match recalled
    assert memories.relevant(message) == []


@pytest.mark.parametrize("message", RELATED)
def test_a_message_about_the_memory_recalls_it(memories, message):
    memories.add(ANA)
    assert [m.text for m in memories.relevant(message)] == [ANA]


@pytest.mark.parametrize("message", UNRELATED)
def test_unrelated_messages_stay_unrelated_among_many_memories(memories, message):
    for fact in ["I have a cat called Pixel", "My favourite colour is green", ANA, "I work as a nurse"]:
        memories.add(fact)
    assert ANA not in [m.text for m in memories.relevant(message)]


def test_words_many_memories_share_weigh_less(memories):
    ana = memories.add(ANA)
    rex = memories.add("My dog's name is Rex")
    memories.add("I have a cat called Pixel")
    assert memories.relevant("What is my dog's name?") == [rex]  # "name" alone no longer pulls in Ana
    assert set(memories.relevant("What is my name?")) == {ana, rex}


def test_a_question_about_the_user_finds_the_best_fact_among_unknown_words(memories):
    cats = memories.add("My cats are Tom and Jerry")
    memories.add(ANA)
    assert memories.relevant("What are my cats called?") == [cats]  # "called": in no memory
    assert memories.relevant("How old are my cats now?") == [cats]
    assert memories.relevant("How old are cats when they stop growing?") == []  # not about the user
    assert memories.relevant("What should I cook tonight?") == []  # about the user, in no memory


def test_pinned_memories_still_go_with_every_message(memories):
    pinned = memories.add("Always answer briefly", pinned=True)
    memories.add(ANA)
    assert memories.relevant("Name three planets.") == [pinned]


def test_idf_and_coverage_numbers():
    assert idf(1, 1) == pytest.approx(0.2877, abs=1e-4)  # ln(1 + 0.5/1.5)
    assert idf(0, 1) == pytest.approx(1.3863, abs=1e-4)  # ln(4): a word no memory has weighs most
    weights = {"name": idf(1, 1), "three": idf(0, 1), "planets": idf(0, 1)}
    share = coverage({"name", "three", "planets"}, topic_words(ANA), weights)
    assert share == pytest.approx(0.2877 / (0.2877 + 2 * 1.3863), abs=1e-4) and share < RECALL_SHARE
    assert coverage(set(), {"name"}, {}) == 0.0


def test_topic_words_fold_case_and_diacritics_as_the_index_does():
    assert topic_words("What's my NAME, Tomás?") == {"name", "tomas"}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(max_size=40), max_size=5), st.integers(0, 6))
def test_recall_never_raises_and_keeps_its_limit(message, texts, limit):
    keys = recall(message, list(enumerate(texts)), limit)
    assert len(keys) <= limit and len(set(keys)) == len(keys) and set(keys) <= set(range(len(texts)))
