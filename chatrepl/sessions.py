"""Saved conversations: JSON files in the sessions folder (or at an explicit path), and autosave.

Every write goes through `write_atomic` (temp file in the same folder, fsync, rename, mode 0600),
so a reader sees the old file or the new one, never a mix. The store holds plain dicts; what is
inside them is `ChatSession.to_dict()`'s business, read back through `sessionfile`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chatrepl.errors import StateError
from chatrepl.fsutil import read_at_most, write_atomic

SUFFIX = ".json"
MAX_SESSION_BYTES = 64 * 1024 * 1024  # a long conversation is a few MB
_MAX_NAME = 120


_PATH_STARTS = ("/", "./", "../", "~")


def is_explicit_path(name_or_path: str) -> bool:
    """A value that looks like a path names a file: it starts with `/`, `./`, `../` or `~`, or
    ends with `.json`. Anything else is a session name (kept in the sessions folder)."""
    value = name_or_path.strip()
    return value.startswith(_PATH_STARTS) or value.endswith(SUFFIX)


def check_name(name: str) -> str:
    """The name, stripped, if it can be a bare session name; StateError saying why not."""
    stripped = name.strip()
    if not stripped:
        raise StateError("a session name cannot be empty")
    if stripped.startswith("."):
        raise StateError(f"session name {stripped!r} cannot start with '.'")
    if len(stripped) > _MAX_NAME:
        raise StateError(f"session name is longer than {_MAX_NAME} characters")
    if "/" in stripped:
        raise StateError(f"session name {stripped!r} may not contain '/'; to save to a file,"
                         f" give a path such as ./{stripped} or {stripped}.json")
    if any(ch in stripped for ch in "\\\0") or any(ord(ch) < 32 or ord(ch) == 127 for ch in stripped):
        raise StateError(f"session name {stripped!r} may not contain '/', '\\' or control characters")
    return stripped


def _dump(data: dict[str, Any]) -> str:
    try:
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise StateError(f"cannot save the session: {exc}") from None


class SessionStore:
    """Saved sessions in `sessions_dir` (NAME.json) plus one autosave file."""

    def __init__(self, sessions_dir: Path, autosave_file: Path) -> None:
        self.sessions_dir = Path(sessions_dir)
        self.autosave_file = Path(autosave_file)

    def path_for(self, name_or_path: str) -> Path:
        """Where `name_or_path` lives: an explicit path as given, a bare name in sessions_dir."""
        if is_explicit_path(name_or_path):
            return Path(name_or_path).expanduser()
        return self.sessions_dir / (check_name(name_or_path) + SUFFIX)

    def save(self, name_or_path: str, data: dict[str, Any]) -> Path:
        """Write `data` as JSON atomically (mode 0600); return the file's path."""
        path = self.path_for(name_or_path)
        if path.is_dir():
            raise StateError(f"{path}: is a directory; give a file name")
        self._write(path, _dump(data))
        return path

    def load(self, name_or_path: str) -> dict[str, Any]:
        """The data saved under `name_or_path`; StateError (one line) if missing or damaged."""
        path = self.path_for(name_or_path)
        if not path.exists():
            if is_explicit_path(name_or_path):
                raise StateError(f"{path}: no such session file")
            saved = self.names()[:5]
            hint = f" (saved: {', '.join(saved)})" if saved else " (none saved yet; use /save NAME)"
            raise StateError(f"no saved session {name_or_path.strip()!r}{hint}")
        return self._read(path)

    def names(self) -> list[str]:
        """Names of the saved sessions, the most recently saved first."""
        try:
            entries = list(os.scandir(self.sessions_dir))
        except OSError:
            return []
        found: list[tuple[float, str]] = []
        for entry in entries:
            if not entry.name.endswith(SUFFIX) or entry.name.startswith("."):
                continue
            try:
                if not entry.is_file() or Path(entry.path) == self.autosave_file:
                    continue
                found.append((entry.stat().st_mtime, entry.name[: -len(SUFFIX)]))
            except OSError:
                continue
        found.sort(key=lambda item: (-item[0], item[1]))
        return [name for _mtime, name in found]

    def autosave(self, data: dict[str, Any]) -> None:
        """Replace the autosave file with `data` (atomically)."""
        self._write(self.autosave_file, _dump(data))

    def load_autosave(self) -> dict[str, Any] | None:
        """The last autosaved data; None when there is none, StateError when it is damaged."""
        if not self.autosave_file.exists():
            return None
        return self._read(self.autosave_file)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _write(path: Path, text: str) -> None:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise StateError(f"{path}: cannot write ({exc.strerror or exc})") from None

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            raw = read_at_most(path, MAX_SESSION_BYTES)
        except IsADirectoryError:
            raise StateError(f"{path}: is a directory, not a session file") from None
        except OSError as exc:
            raise StateError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if len(raw) > MAX_SESSION_BYTES:
            raise StateError(f"{path}: larger than {MAX_SESSION_BYTES // (1024 * 1024)} MB;"
                             " not a session file chatrepl wrote")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StateError(f"{path}: not a session file (not UTF-8 text)") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{path}:{line}" if line else str(path)
            raise StateError(f"{where}: damaged session file (not valid JSON)") from None
        if not isinstance(data, dict):
            raise StateError(f"{path}: damaged session file (expected a JSON object)")
        return data
