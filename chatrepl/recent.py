"""Recently chosen models on disk: scoped names, most recent first. No keys; written atomically.

A provider found by probing a local port is used for bare model names only once the user has
chosen one of its models by its full name; that choice is remembered here, across runs.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from chatrepl.fsutil import locked, read_at_most, write_atomic

MAX_RECENT = 20
MAX_NAME = 512
MAX_BYTES = 64 * 1024


class RecentModels:
    """Reads and writes the recent-models file. A damaged or oversized file reads as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[str]:
        """Scoped names (`provider/model`), most recent first."""
        try:
            data = read_at_most(self.path, MAX_BYTES)
            if len(data) > MAX_BYTES:
                return []
            names = json.loads(data.decode("utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(names, list):
            return []
        kept = [n for n in names if isinstance(n, str) and _acceptable(n)]
        return list(dict.fromkeys(kept))[:MAX_RECENT]

    def add(self, scoped: str) -> list[str]:
        """Put `scoped` first (other processes' choices are kept); returns the new list."""
        if not _acceptable(scoped):
            return self.load()
        with locked(self.path):
            names = [scoped, *(n for n in self.load() if n != scoped)][:MAX_RECENT]
            write_atomic(self.path, json.dumps(names, ensure_ascii=False) + "\n")
        return names


def remember_model(path: Path, scoped: str) -> None:
    """Add `scoped` to the recent-models file at `path`; a failure to write only loses the hint."""
    with contextlib.suppress(OSError):
        RecentModels(path).add(scoped)


def provider_of(scoped: str) -> str:
    """`llamacpp/org/model` -> `llamacpp`."""
    return scoped.partition("/")[0]


def _acceptable(name: str) -> bool:
    return "/" in name and 0 < len(name) <= MAX_NAME and name.isprintable()
