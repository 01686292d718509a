"""Saved JSON conversations into the history database: once for the old files, on demand for any.

The first time the database is opened, the autosave file and every session saved in the
sessions folder are imported (the files stay where they are). A conversation's content names
it, so importing the same conversation again (`chatrepl history import PATH`) adds nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chatrepl.errors import StateError
from chatrepl.historydb import HistoryDB
from chatrepl.sessionfile import read_session
from chatrepl.sessions import SUFFIX, SessionStore

LEGACY_DONE = "legacy_import"


@dataclass(frozen=True, slots=True)
class Imported:
    """What importing one file did: the new conversation's id, or None when it was there."""

    path: Path
    conversation_id: int | None


def import_file(db: HistoryDB, path: Path, name: str | None = None) -> Imported:
    """Import one saved-conversation file; StateError (one line) when it is not one."""
    data = SessionStore._read(path)
    try:
        saved = read_session(data)
    except StateError as exc:
        raise StateError(f"{path}: {exc}") from None
    try:
        created = os.stat(path).st_mtime
    except OSError:
        created = 0.0
    messages = [m.message() for m in saved.messages]
    if not messages:
        return Imported(path, None)
    conversation_id = db.import_session(
        {"provider": saved.provider, "model": saved.model, "system_prompt": saved.system_prompt,
         "messages": [m.to_json() for m in messages]}, messages, created=created, name=name)
    return Imported(path, conversation_id)


def legacy_files(sessions_dir: Path, autosave_file: Path,
                 not_after: float | None = None) -> list[tuple[Path, str | None]]:
    """The autosave file and each saved session (with its name), oldest first; none written
    after `not_after` (by this run, whose turns the history has already)."""
    found: list[tuple[float, Path, str | None]] = []
    candidates: list[tuple[Path, str | None]] = [(autosave_file, None)]
    with contextlib.suppress(OSError):
        candidates += [(Path(e.path), e.name[: -len(SUFFIX)]) for e in os.scandir(sessions_dir)
                       if e.name.endswith(SUFFIX) and not e.name.startswith(".")]
    for path, name in candidates:
        try:
            mtime = path.stat().st_mtime
            if path.is_file() and (not_after is None or mtime <= not_after):
                found.append((mtime, path, name))
        except OSError:
            continue
    found.sort(key=lambda item: item[0])
    return [(path, name) for _mtime, path, name in found]


def import_legacy_once(db: HistoryDB, sessions_dir: Path, autosave_file: Path,
                       warn: Callable[[str], None] = lambda line: None,
                       not_after: float | None = None) -> int:
    """Import the old JSON conversations (written before `not_after`) the first time; how many
    were added. A file that cannot be read is named (`warn`) and skipped; it is never changed."""
    if db.get_meta(LEGACY_DONE):
        return 0
    added = 0
    for path, name in legacy_files(sessions_dir, autosave_file, not_after):
        try:
            added += import_file(db, path, name).conversation_id is not None
        except StateError as exc:
            warn(f"history: not imported: {exc}")
    db.put_meta(LEGACY_DONE, "1")
    return added
