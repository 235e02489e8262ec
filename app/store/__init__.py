"""The conversation store: conversations, branching messages, per-token records and memories, in
one SQLite file (WAL). One module per job:

- `schema.py`: opening, migrations, recovery from a file that cannot be used;
- `database.py`: the connection, its lock and transactions (shared with `app.memory.MemoryStore`);
- `records.py`: rows <-> typed values, the one place a damaged row is handled;
- `conversations.py`: `Store`, conversations and messages (create, read, append, branch, fork);
- `search.py`: full-text search; `export.py`: Markdown and JSON export.
"""

from app.store.conversations import TITLE_CHARS, Store, StoreError, auto_title
from app.store.records import STAT_KEYS, Conversation, Message, ReplyTokens, clean_stats
from app.store.schema import INTERRUPTED, MIGRATIONS, SCHEMA_VERSION
from app.store.search import SearchHit, fts_query

__all__ = [
    "INTERRUPTED", "MIGRATIONS", "SCHEMA_VERSION", "STAT_KEYS", "TITLE_CHARS", "Conversation", "Message",
    "ReplyTokens", "SearchHit", "Store", "StoreError", "auto_title", "clean_stats", "fts_query",
]  # fmt: skip
