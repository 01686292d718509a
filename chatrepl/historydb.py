"""The SQLite store of conversations: turns, branches, full-text search (stdlib sqlite3, FTS5).

One file in the data folder (mode 0600, WAL, busy timeout). Messages form a tree: each has a
`parent_id` (None for the first message), so a retried reply or an edited question is a sibling
of the one it replaces, and a conversation's `current_leaf` says which path is shown. Every
write is one short `BEGIN IMMEDIATE` transaction, so a process killed at any moment leaves
whole turns or nothing, and two processes writing at once wait for each other (busy timeout)
instead of failing. `messages_fts` is an external-content FTS5 index kept by triggers.

Nothing here deletes a database it cannot read: errors become `HistoryError` with one line.
No API key is ever stored: only role, content, model, provider, parameters, usage and cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatrepl.errors import HistoryError
from chatrepl.messages import ROLES, Message, Role

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 5.0
TITLE_CHARS = 80
MATCH_START, MATCH_END = "\ue000", "\ue001"  # around a match in a snippet (private-use chars)
_SEARCH_BATCH = 200
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    name TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    provider TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    system_prompt TEXT,
    current_leaf INTEGER,
    branched INTEGER NOT NULL DEFAULT 0,
    source TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated);
CREATE INDEX IF NOT EXISTS conversations_name ON conversations (name);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    provider TEXT,
    model TEXT,
    parameters TEXT,
    attachments TEXT,
    usage TEXT,
    cost REAL,
    left_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_tree ON messages (conversation_id, parent_id);
CREATE INDEX IF NOT EXISTS messages_parent ON messages (parent_id);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    content, content='messages', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');
"""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store, with what is known about how it was made."""

    message: Message
    provider: str | None = None
    model: str | None = None
    usage: Mapping[str, int] | None = None
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: its id, its parent's, and the message itself."""

    id: int
    parent_id: int | None
    message: Message
    created: float
    provider: str | None = None
    model: str | None = None
    usage: Mapping[str, int] | None = None
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One conversation in a listing."""

    id: int
    title: str
    name: str | None
    created: float
    updated: float
    provider: str
    model: str
    messages: int = 0
    branched: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "name": self.name,
                "created": iso_time(self.created), "updated": iso_time(self.updated),
                "provider": self.provider, "model": self.model, "messages": self.messages,
                "branched": self.branched}


@dataclass(frozen=True, slots=True)
class SearchHit:
    """The latest message of a conversation matching a search, with a snippet around it."""

    conversation: ConversationRow
    message_id: int
    role: str
    created: float
    snippet: str

    def as_json(self) -> dict[str, Any]:
        return {**self.conversation.as_json(), "message_id": self.message_id, "role": self.role,
                "matched": iso_time(self.created), "snippet": self.marked()}

    def marked(self) -> str:
        """The snippet with each match between « and »."""
        return self.snippet.replace(MATCH_START, "«").replace(MATCH_END, "»")


@dataclass(frozen=True, slots=True)
class Conversation:
    """A stored conversation: its row and the messages of its current path."""

    row: ConversationRow
    system_prompt: str | None
    path: list[StoredMessage] = field(default_factory=list)


def iso_time(stamp: float) -> str:
    """`2026-12-01T04:41:00Z` (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def title_of(text: str) -> str:
    """A conversation's title: the first non-empty line of its first message, trimmed."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = "".join(ch for ch in " ".join(line.split()) if ch.isprintable())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def fts_query(text: str) -> str:
    """A search typed by a user as an FTS5 query that matches it as text: every word quoted (so
    `"`, `*`, `(`, `NEAR` and `-` are plain characters), all words required. Words match in
    any inflection (the index stems them: `borrow` finds `borrowing`). Empty when the text
    holds no word."""
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _describe(exc: BaseException) -> str:
    """What went wrong with the database, in a few words a user can act on."""
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "the database is damaged (it is left as it is; move it away to start a new one)"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    if "locked" in text or "busy" in text:
        return "the database is locked by another chatrepl"
    if "full" in text:
        return "the disk is full"
    if "unable to open" in text:
        return "cannot open the database"
    return str(exc) or type(exc).__name__


def history_error(path: Path, exc: BaseException) -> HistoryError:
    """A HistoryError naming `path`; `.transient` says whether trying again later may help."""
    text = str(exc).lower()
    return HistoryError(f"history {path}: {_describe(exc)}",
                        transient="locked" in text or "busy" in text or "full" in text)


def _json(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message_row(row: sqlite3.Row) -> StoredMessage:
    role: Role = row["role"] if row["role"] in ROLES else "user"
    attachments = _loads(row["attachments"])
    parameters = _loads(row["parameters"])
    message = Message(role, row["content"], interrupted=bool(row["interrupted"]),
                      left_out=bool(row["left_out"]),
                      attachments=tuple(a for a in attachments if isinstance(a, dict))
                      if isinstance(attachments, list) else (),
                      parameters=parameters if isinstance(parameters, dict) else {})
    usage = _loads(row["usage"])
    return StoredMessage(row["id"], row["parent_id"], message, row["created"], row["provider"],
                         row["model"], usage if isinstance(usage, dict) else None, row["cost"])


_CONVERSATION_COLUMNS = ("c.id, c.title, c.name, c.created, c.updated, c.provider, c.model,"
                         " c.branched, (SELECT count(*) FROM messages m"
                         " WHERE m.conversation_id = c.id) AS count")


def _conversation_row(row: sqlite3.Row) -> ConversationRow:
    return ConversationRow(row["id"], row["title"], row["name"], row["created"], row["updated"],
                           row["provider"], row["model"], row["count"], bool(row["branched"]))


def session_key(data: Mapping[str, Any]) -> str:
    """A key naming a saved conversation's content (the same chat saved twice has one key)."""
    wanted = {k: data.get(k) for k in ("provider", "model", "system_prompt", "messages")}
    text = json.dumps(wanted, ensure_ascii=False, sort_keys=True)
    return "session:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite opens it (its WAL and shared-memory
    files get the same mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class HistoryDB:
    """One connection to the history database; use it from one thread at a time.

    `read_only` opens it as SQLite does a file it may not write (every write then fails with
    HistoryError); the file must exist."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS,
                 read_only: bool = False) -> None:
        self.path = Path(path)
        self._written = 0  # bytes of text written since the last checkpoint (about)
        try:
            if read_only:
                target, uri = f"{self.path.resolve().as_uri()}?mode=ro", True
            else:
                if not self.path.exists():
                    _create_private(self.path)
                target, uri = str(self.path), False
            self._db = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False, uri=uri)
        except (sqlite3.Error, OSError) as exc:
            raise history_error(self.path, exc) from None
        self._db.row_factory = sqlite3.Row
        with self._errors():
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
                # Checkpoints run from maintain(), after a turn is written, not inside a commit.
                self._db.execute("PRAGMA wal_autocheckpoint = 0")
            self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: a kill -9 loses no commit
            self._db.execute("PRAGMA foreign_keys = ON")
            exists = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
            if not exists:
                try:
                    self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
                except sqlite3.Error:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
            if "left_out" not in columns:  # a database made before messages could be left out
                self._db.execute("ALTER TABLE messages ADD COLUMN left_out INTEGER NOT NULL"
                                 " DEFAULT 0")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def maintain(self) -> bool:
        """Once this connection has written about WAL_CHECKPOINT_BYTES since it last did: merge
        the search index's segments a little (not done inside commits: automerge is off) and
        copy the write-ahead log into the database (a passive checkpoint: it never waits for
        readers). Whether it did. Closing the last connection checkpoints too."""
        if self._written < WAL_CHECKPOINT_BYTES:
            return False
        with self._write() as db:
            db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', 500)")
        with self._errors():
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._written = 0
        return True

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise history_error(self.path, exc) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (BEGIN IMMEDIATE: waits for other writers up front)."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------
    def new_conversation(self, provider: str, model: str, system_prompt: str | None = None, *,
                         name: str | None = None, created: float | None = None,
                         source: str | None = None) -> int:
        """Start a conversation; its id."""
        now = time.time() if created is None else created
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (name, created, updated, provider, model,"
                " system_prompt, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, now, now, provider, model, system_prompt, source))
            return int(cursor.lastrowid or 0)

    def add_messages(self, conversation_id: int, parent_id: int | None,
                     messages: Sequence[NewMessage], *, provider: str | None = None,
                     model: str | None = None, system_prompt: str | None = None,
                     make_current: bool = True, when: float | None = None) -> list[int]:
        """Append `messages` as a chain under `parent_id` (None: at the start) in one
        transaction; the new last message becomes the current leaf unless `make_current` is
        false. A message whose parent already has children makes the conversation branched."""
        now = time.time() if when is None else when
        with self._write() as db:
            return self._insert_chain(db, conversation_id, parent_id, messages, now,
                                      make_current, provider, model, system_prompt)

    def add_sibling_replies(self, conversation_id: int, parent_id: int | None,
                            replies: Sequence[NewMessage]) -> list[int]:
        """Store `replies` as alternatives under `parent_id` (e.g. the replies /compare did not
        keep); the current path is unchanged. Their ids."""
        now = time.time()
        with self._write() as db:
            return [self._insert_chain(db, conversation_id, parent_id, [reply], now, False)[0]
                    for reply in replies]

    def _insert_chain(self, db: sqlite3.Connection, conversation_id: int, parent_id: int | None,
                      messages: Sequence[NewMessage], now: float, make_current: bool,
                      provider: str | None = None, model: str | None = None,
                      system_prompt: str | None = None) -> list[int]:
        ids: list[int] = []
        parent = parent_id
        branched = False
        for index, new in enumerate(messages):
            if index == 0:
                branched = self._has_children(db, conversation_id, parent)
            m = new.message
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, interrupted,"
                " created, provider, model, parameters, attachments, usage, cost, left_out)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent, m.role, m.content, int(m.interrupted), now,
                 new.provider, new.model, _json(dict(m.parameters)),
                 _json([dict(a) for a in m.attachments]), _json(new.usage and dict(new.usage)),
                 new.cost, int(m.left_out)))
            parent = int(cursor.lastrowid or 0)
            ids.append(parent)
            self._written += 2 * len(m.content) + 512  # the row, its index entries, the page
        sets = ["updated = ?"]
        values: list[Any] = [now]
        if make_current and ids:
            sets.append("current_leaf = ?")
            values.append(ids[-1])
        if branched:
            sets.append("branched = 1")
        for column, value in (("provider", provider), ("model", model)):
            if value:
                sets.append(f"{column} = ?")
                values.append(value)
        if system_prompt is not None:
            sets.append("system_prompt = ?")
            values.append(system_prompt or None)
        first_user = next((n.message.content for n in messages if n.message.role == "user"), None)
        if first_user is not None:
            sets.append("title = CASE WHEN title = '' THEN ? ELSE title END")
            values.append(title_of(first_user))
        db.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?",
                   (*values, conversation_id))
        return ids

    @staticmethod
    def _has_children(db: sqlite3.Connection, conversation_id: int, parent: int | None) -> bool:
        if parent is None:
            row = db.execute("SELECT 1 FROM messages WHERE conversation_id = ? AND parent_id"
                             " IS NULL LIMIT 1", (conversation_id,)).fetchone()
        else:
            row = db.execute("SELECT 1 FROM messages WHERE parent_id = ? LIMIT 1",
                             (parent,)).fetchone()
        return row is not None

    def set_left_out(self, left_out: Sequence[int], sent: Sequence[int]) -> None:
        """Mark messages `left_out` of what is sent (the context guard), and `sent` again."""
        with self._write() as db:
            for flag, ids in ((1, left_out), (0, sent)):
                db.executemany("UPDATE messages SET left_out = ? WHERE id = ?",
                               [(flag, message_id) for message_id in ids])

    def set_current(self, conversation_id: int, leaf_id: int | None) -> None:
        """Make the path ending at `leaf_id` the one shown."""
        with self._write() as db:
            db.execute("UPDATE conversations SET current_leaf = ?, updated = ? WHERE id = ?",
                       (leaf_id, time.time(), conversation_id))

    def set_meta(self, conversation_id: int, *, provider: str | None = None,
                 model: str | None = None, system_prompt: str | None = None,
                 clear_system: bool = False) -> None:
        """Record the conversation's model and system prompt."""
        with self._write() as db:
            if provider is not None and model is not None:
                db.execute("UPDATE conversations SET provider = ?, model = ? WHERE id = ?",
                           (provider, model, conversation_id))
            if system_prompt is not None or clear_system:
                db.execute("UPDATE conversations SET system_prompt = ? WHERE id = ?",
                           (system_prompt or None, conversation_id))

    def set_name(self, conversation_id: int, name: str) -> None:
        """Name a conversation (`/save NAME`); another conversation of that name loses it."""
        with self._write() as db:
            db.execute("UPDATE conversations SET name = NULL WHERE name = ?", (name,))
            db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, conversation_id))

    def delete(self, conversation_id: int) -> bool:
        """Delete a conversation and its messages; False when there was none."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cursor.rowcount > 0

    def purge(self, before: float) -> int:
        """Delete conversations last updated before `before`; how many."""
        with self._write() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM conversations WHERE updated < ?",
                                            (before,))]
            for conversation_id in ids:
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return len(ids)

    def import_session(self, data: Mapping[str, Any], messages: Sequence[Message], *,
                       created: float, name: str | None = None) -> int | None:
        """Store a saved JSON conversation (already read) once: None when it was imported
        before (same content), else the new conversation's id."""
        key = session_key(data)
        with self._write() as db:
            if db.execute("SELECT 1 FROM conversations WHERE source = ?", (key,)).fetchone():
                return None
            cursor = db.execute(
                "INSERT INTO conversations (name, created, updated, provider, model,"
                " system_prompt, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, created, created, str(data.get("provider") or ""),
                 str(data.get("model") or ""), data.get("system_prompt"), key))
            conversation_id = int(cursor.lastrowid or 0)
            model = str(data.get("model") or "") or None
            provider = str(data.get("provider") or "") or None
            chain = [NewMessage(m, provider if m.role == "assistant" else None,
                                model if m.role == "assistant" else None) for m in messages]
            if chain:
                self._insert_chain(db, conversation_id, None, chain, created, True)
            return conversation_id

    def get_meta(self, key: str) -> str | None:
        with self._errors():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------------------------
    def recent(self, limit: int = 20, offset: int = 0) -> list[ConversationRow]:
        """Conversations, the most recently updated first."""
        with self._errors():
            rows = self._db.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
                " ORDER BY c.updated DESC, c.id DESC LIMIT ? OFFSET ?", (limit, offset))
            return [_conversation_row(r) for r in rows]

    def row(self, conversation_id: int) -> ConversationRow | None:
        with self._errors():
            found = self._db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
                                     " WHERE c.id = ?", (conversation_id,)).fetchone()
        return None if found is None else _conversation_row(found)

    def named(self, name: str) -> int | None:
        """The id of the conversation named `name` (`/save NAME`), if any."""
        with self._errors():
            found = self._db.execute("SELECT id FROM conversations WHERE name = ?"
                                     " ORDER BY updated DESC LIMIT 1", (name,)).fetchone()
        return None if found is None else int(found[0])

    def latest(self) -> int | None:
        """The id of the most recently updated conversation that has messages."""
        with self._errors():
            found = self._db.execute(
                "SELECT id FROM conversations WHERE current_leaf IS NOT NULL"
                " ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        return None if found is None else int(found[0])

    def conversation(self, conversation_id: int, leaf_id: int | None = None) -> Conversation | None:
        """A conversation with the path ending at `leaf_id` (default: its current leaf)."""
        row = self.row(conversation_id)
        if row is None:
            return None
        with self._errors():
            meta = self._db.execute("SELECT system_prompt, current_leaf FROM conversations"
                                    " WHERE id = ?", (conversation_id,)).fetchone()
            leaf = meta["current_leaf"] if leaf_id is None else leaf_id
            path = self._path(leaf) if leaf is not None else []
        return Conversation(row, meta["system_prompt"], path)

    def _path(self, leaf_id: int) -> list[StoredMessage]:
        rows = self._db.execute(
            "WITH RECURSIVE up (id, depth) AS (SELECT ?, 0 UNION ALL"
            " SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL)"
            " SELECT m.* FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC",
            (leaf_id,))
        return [_message_row(r) for r in rows]

    def children(self, conversation_id: int, parent_id: int | None) -> list[StoredMessage]:
        """The messages directly under `parent_id` (None: the first messages), oldest first."""
        with self._errors():
            if parent_id is None:
                rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? AND"
                                        " parent_id IS NULL ORDER BY id", (conversation_id,))
            else:
                rows = self._db.execute("SELECT * FROM messages WHERE parent_id = ?"
                                        " ORDER BY id", (parent_id,))
            return [_message_row(r) for r in rows]

    def latest_leaf(self, message_id: int) -> int:
        """The leaf reached from `message_id` by always taking the newest child."""
        with self._errors():
            current = message_id
            while True:
                row = self._db.execute("SELECT max(id) FROM messages WHERE parent_id = ?",
                                       (current,)).fetchone()
                if row is None or row[0] is None:
                    return current
                current = int(row[0])

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Conversations with a message matching `query` (searched as text, never as FTS
        syntax), the one with the most recent match first; one hit (the latest) each."""
        match = fts_query(query)
        if not match:
            return []
        chosen: dict[int, int] = {}  # conversation -> its latest matching message
        details: dict[int, tuple[str, float]] = {}  # message -> (role, created)
        below: int | None = None
        with self._errors():
            while len(chosen) < limit:
                rows = self._db.execute(
                    "SELECT f.rowid AS id, m.conversation_id AS conversation, m.role, m.created"
                    " FROM messages_fts f"
                    " JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH ?"
                    + (" AND f.rowid < ?" if below is not None else "")
                    + " ORDER BY f.rowid DESC LIMIT ?",
                    (match, *((below,) if below is not None else ()), _SEARCH_BATCH)).fetchall()
                for row in rows:
                    if len(chosen) < limit and row["conversation"] not in chosen:
                        chosen[row["conversation"]] = row["id"]
                        details[row["id"]] = (row["role"], row["created"])
                if len(rows) < _SEARCH_BATCH:
                    break
                below = rows[-1]["id"]
            if not chosen:
                return []
            snippets = {}
            for message_id in chosen.values():  # one by one: `rowid IN (...)` reads every match
                found = self._db.execute(
                    f"SELECT snippet(messages_fts, 0, '{MATCH_START}', '{MATCH_END}', '…', 16)"
                    " FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?",
                    (match, message_id)).fetchone()
                role, created = details[message_id]
                snippets[message_id] = (found[0] if found else "", role, created)
            rows_by_id = {r["id"]: _conversation_row(r) for r in self._db.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id IN"
                f" ({','.join('?' * len(chosen))})", tuple(chosen))}
        hits = []
        for conversation_id, message_id in chosen.items():
            snippet, role, created = snippets.get(message_id, ("", "user", 0.0))
            row = rows_by_id.get(conversation_id)
            if row is not None:
                hits.append(SearchHit(row, message_id, role, created, " ".join(snippet.split())))
        return hits

    def check(self) -> str:
        """`ok`, or what SQLite's quick check found wrong."""
        with self._errors():
            return str(self._db.execute("PRAGMA quick_check").fetchone()[0])
