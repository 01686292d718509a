"""The history database as the REPL and one-shot runs use it: which runs keep history, resuming
(`--continue`, `--resume ID`, `/load ID`), and recording a turn.

sqlite3 and the store are imported when first used, never before a one-shot request is sent.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chatrepl.errors import HistoryError, UsageError

if TYPE_CHECKING:
    from chatrepl.chat import ChatSession
    from chatrepl.historydb import Conversation, HistoryDB
    from chatrepl.historyrecorder import HistoryRecorder, Snapshot
    from chatrepl.paths import Paths
    from chatrepl.reply import Usage
    from chatrepl.runtime import Runtime
    from chatrepl.sessions import SessionStore


def history_enabled(runtime: Runtime, args: argparse.Namespace | None = None) -> bool:
    """False with `history: false` in the config or `--no-history`."""
    return runtime.config.history and not getattr(args, "no_history", False)


def open_history(paths: Paths, warn: Callable[[str], None] = lambda line: None) -> HistoryDB:
    """The history database, with the old JSON conversations imported the first time."""
    from chatrepl.historydb import HistoryDB
    from chatrepl.historyimport import import_legacy_once

    db = HistoryDB(paths.history_db)
    try:
        import_legacy_once(db, paths.sessions_dir, paths.autosave_file, warn)
    except HistoryError:
        db.close()
        raise
    return db


def make_recorder(paths: Paths, say: Callable[[str], None]) -> HistoryRecorder:
    """A recorder for this run; it opens the database (and imports the old files the first
    time) on its own thread."""
    from chatrepl.historyimport import import_legacy_once
    from chatrepl.historyrecorder import HistoryRecorder

    started = time.time()  # files this run writes from now on are not old ones

    def on_open(db: HistoryDB) -> None:
        import_legacy_once(db, paths.sessions_dir, paths.autosave_file, say, not_after=started)

    return HistoryRecorder(paths.history_db, say, on_open)


def snapshot(chat: ChatSession, usage: Usage | None = None, cost: float | None = None) -> Snapshot:
    """What the recorder stores of `chat` now (with its last reply's usage and cost)."""
    from chatrepl.historyrecorder import Snapshot

    counts = None if usage is None else {"prompt_tokens": usage.prompt_tokens,
                                         "completion_tokens": usage.completion_tokens}
    return Snapshot(chat.provider, chat.model, chat.system_prompt, tuple(chat.messages),
                    counts, cost)


def session_data(conversation: Conversation) -> dict[str, Any]:
    """A stored conversation as `ChatSession.from_dict` reads it (its current path)."""
    row = conversation.row
    return {"provider": row.provider or "unknown", "model": row.model or "unknown",
            "system_prompt": conversation.system_prompt,
            "messages": [m.message.to_json() for m in conversation.path]}


def conversation_id(text: str) -> int | None:
    """`12` or `#12` as a conversation id; None for anything else."""
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isdigit() and len(digits) < 18 else None


def find_conversation(db: HistoryDB, ref: str) -> Conversation | None:
    """The conversation an id (`12`, `#12`) or a name (`/save NAME`) names."""
    number = conversation_id(ref)
    found = db.conversation(number) if number is not None else None
    if found is None:
        named = db.named(ref.strip())
        found = db.conversation(named) if named is not None else None
    return found


def resume_data(paths: Paths, args: argparse.Namespace, enabled: bool, store: SessionStore,
                warn: Callable[[str], None]) -> tuple[Mapping[str, Any], Conversation | None]:
    """What `--continue` or `--resume ID` resumes: the latest (or that) conversation of the
    history, with its stored form; `--continue` falls back to the autosave file when there is
    no history (disabled, empty or unusable: the reason is said)."""
    wanted: str | None = getattr(args, "resume_id", None)
    if wanted is not None and not enabled:
        raise UsageError("--resume needs the history; it is off (history: false or --no-history)")
    if enabled:
        try:
            db = open_history(paths, warn)
        except HistoryError as exc:
            if wanted is not None:
                raise
            warn(f"{exc}; continuing from the autosave file")
        else:
            try:
                if wanted is not None:
                    found = find_conversation(db, wanted)
                    if found is None:
                        raise UsageError(f"no conversation {wanted!r} in the history"
                                         " (see `chatrepl history list`)")
                else:
                    latest = db.latest()
                    found = db.conversation(latest) if latest is not None else None
            finally:
                db.close()
            if found is not None:
                return session_data(found), found
    data = store.load_autosave()
    if data is None:
        raise UsageError("no conversation to continue yet; start one without --continue")
    return data, None


def record_one_shot(paths: Paths, chat: ChatSession, followed: Conversation | None,
                    usage: Usage | None, cost: float | None,
                    warn: Callable[[str], None]) -> None:
    """Store a one-shot turn (after its reply is out); a failure is one warning line."""
    recorder = make_recorder(paths, warn)
    if followed is not None:
        recorder.follow(followed)
    recorder.record(snapshot(chat, usage, cost))
    recorder.close()


def require(recorder: HistoryRecorder | None) -> HistoryRecorder:
    """The recorder; UsageError when this run keeps no history."""
    if recorder is None:
        raise UsageError("the history is off in this run (history: false or --no-history)")
    return recorder

