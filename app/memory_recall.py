"""Which stored memories a user message is about: IDF-weighted coverage of the message's topic words.

A memory is recalled for a message when it covers at least half of the message's topic weight
(`RECALL_SHARE`). The topic words of a text are its words less `STOPWORDS`, case-folded and without
diacritics (as the memories' FTS5 index reads them: unicode61, remove_diacritics 2). Each topic word
of the message weighs its BM25 inverse document frequency over the stored memories,
``ln(1 + (N - df + 0.5) / (df + 0.5))`` (N memories, df of them holding the word), so a word that
many memories share weighs little and a word that no memory holds weighs most: it is what the
message is about that no memory knows.

Why coverage of the message, not a BM25 score: with a handful of memories every BM25 score is
about the same whatever the message, so a threshold on it cannot tell "What is my name?" (all of
its topic is "name") from "Name three planets." (one word of three, the others unknown to every
memory); the share of the message a memory explains can.

A message in the first person ("What are my cats called?") asks about the user, which is what
memories are: when no memory reaches the share, the best-covering ones (coverage > 0, ties kept)
are recalled for it, so a question with one word no memory holds ("called") still finds the fact,
while "Name three planets." (no first person) recalls nothing and "What is my dog's name?" recalls
the dog's memory, not every memory holding "name".

Shapes: texts are `str`; `recall` takes the memories as ``(key, text)`` pairs and returns the keys
of the recalled ones, best first. Pure functions, no I/O, never raise on any text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TypeVar

from app.search_words import TOKEN, fold

# Words that carry no topic: leaving them out keeps "What is my name?" matching on "name" only.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing don down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves please tell know remember forget
    s t d ll m re ve thanks thank hi hello hey ok okay yes sure""".split()  # pleasantries: no topic either
)

FIRST_PERSON = frozenset("i me my mine myself we us our ours ourselves".split())

RECALL_SHARE = 0.5  # a memory must explain at least this share of the message's topic weight

Key = TypeVar("Key", bound=Hashable)


def topic_words(text: str) -> set[str]:
    """The distinct topic words of `text`: "What's my name, Tomás?" -> {"name", "tomas"}."""
    return {w for w in (fold(m) for m in TOKEN.findall(text)) if w not in STOPWORDS}


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a word held by `df` of `n` memories (always > 0)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def coverage(message: set[str], memory: set[str], weights: dict[str, float]) -> float:
    """The share (0..1) of the message's topic weight that the memory's words cover; 0 when the
    message has no topic word."""
    total = sum(weights[w] for w in message)
    return sum(weights[w] for w in message & memory) / total if total else 0.0


def speaks_of_the_user(text: str) -> bool:
    """Whether `text` is in the first person ("my", "I", "we"…), case-folded."""
    return any(w in FIRST_PERSON for w in TOKEN.findall(text.casefold()))


def recall(message: str, memories: Sequence[tuple[Key, str]], limit: int) -> list[Key]:
    """The keys of up to `limit` memories that `message` is about, best coverage first (ties keep
    the given order). A memory is about the message when `coverage` >= `RECALL_SHARE`, or, for a
    message in the first person where none reaches it, when its coverage is the best (> 0)."""
    asked = topic_words(message)
    if not asked or limit <= 0:
        return []
    held = [(key, topic_words(text)) for key, text in memories]
    df = Counter(w for _, words in held for w in words & asked)
    weights = {w: idf(df[w], len(held)) for w in asked}
    scored = [(coverage(asked, words, weights), i, key) for i, (key, words) in enumerate(held)]
    hits = sorted((s for s in scored if s[0] >= RECALL_SHARE), key=lambda s: (-s[0], s[1]))
    if not hits and speaks_of_the_user(message):
        best = max((s[0] for s in scored), default=0.0)
        hits = [s for s in scored if s[0] == best > 0]
    return [key for _, _, key in hits[:limit]]
