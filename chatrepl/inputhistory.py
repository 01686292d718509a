"""The REPL's input history file, kept small: big entries are not stored, old ones are dropped.

A 5,000-line paste would otherwise sit in the file for ever and be replayed by auto-suggest at
every keystroke. Entries over `MAX_ENTRY_BYTES` stay in this session's memory (Up arrow finds
them) but are not written; when the file holds more than `MAX_ENTRIES` entries or
`MAX_FILE_BYTES`, it is rewritten (atomically) with the newest entries that fit.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

from chatrepl.fsutil import atomic_file, open_private

MAX_ENTRY_BYTES = 4 * 1024
MAX_ENTRIES = 1000
MAX_FILE_BYTES = 1024 * 1024


def _entry_bytes(text: str) -> bytes:
    """An entry as FileHistory writes it (without the timestamp line)."""
    return "".join(f"+{line}\n" for line in text.split("\n")).encode("utf-8", errors="replace")


class BoundedFileHistory(FileHistory):
    """FileHistory with a cap on each entry's size and on the file's entries and bytes."""

    def __init__(self, filename: str | Path, *, max_entry_bytes: int = MAX_ENTRY_BYTES,
                 max_entries: int = MAX_ENTRIES, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        super().__init__(str(filename))
        self.max_entry_bytes = max_entry_bytes
        self.max_entries = max_entries
        self.max_file_bytes = max_file_bytes

    def store_string(self, string: str) -> None:
        """Append `string` to the file (as FileHistory does, but 0600 and never through a
        link: `open_private`) unless it is too big to keep."""
        entry = _entry_bytes(string)
        if len(entry) > self.max_entry_bytes:
            return
        try:
            with open_private(Path(str(self.filename)), append=True) as handle:
                handle.write(f"\n# {datetime.datetime.now()}\n".encode() + entry)
        except OSError:
            pass  # a link planted in its place, a full disk: the entry stays in memory only

    def load_history_strings(self) -> Iterable[str]:
        """The kept entries, newest first; the file is trimmed first when over its bounds."""
        if not os.path.exists(self.filename):
            return []
        strings = list(super().load_history_strings())  # newest first
        kept: list[str] = []
        total = 0
        for text in strings:
            encoded = len(_entry_bytes(text))
            if encoded > self.max_entry_bytes:
                continue
            if len(kept) >= self.max_entries or total + encoded > self.max_file_bytes:
                break
            kept.append(text)
            total += encoded
        if len(kept) < len(strings):
            self._rewrite(kept)
        return kept

    def _rewrite(self, newest_first: list[str]) -> None:
        try:
            with atomic_file(Path(str(self.filename))) as handle:
                for text in reversed(newest_first):
                    handle.write(b"\n# kept\n" + _entry_bytes(text))
        except OSError:
            pass  # a history file we cannot rewrite is still read; nothing is lost
