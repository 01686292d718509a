"""Small helpers for the words of messages."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 model', '2 models', '0 models'; `many` for irregular plurals ('1 entry', '2 entries')."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
