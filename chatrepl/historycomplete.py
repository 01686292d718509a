"""Tab completion of `/load`: conversations of the history ranked by match, then recency.

Pure over the recorder's last listing (refreshed by its thread after each write): no I/O, no
waiting. Matching uses `/model`'s tiers (`modelrank.text_tier`) over each conversation's id,
name and title; within a tier the most recently updated comes first. Saved session names
(JSON files) follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatrepl.historydb import ConversationRow
from chatrepl.modelrank import text_tier
from chatrepl.sanitize import clean

log = logging.getLogger(__name__)
LIMIT = 50


def ranked(rows: Sequence[ConversationRow], query: str, limit: int = LIMIT) -> list[ConversationRow]:
    """The rows matching `query`, best tier first, then the most recently updated."""
    scored = []
    for row in rows:
        tier = text_tier(query, [str(row.id), row.name or "", row.title])
        if tier is not None:
            scored.append((tier, -row.updated, -row.id, row))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[:limit]]


class ConversationCompleter(Completer):
    """Completes `/load`'s argument with conversation ids (the title as meta), then with the
    names of saved session files that match."""

    def __init__(self, rows: Callable[[], Sequence[ConversationRow]],
                 names: Callable[[], Iterable[str]]) -> None:
        self._rows = rows
        self._names = names

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            query = document.text_before_cursor.lstrip()
            found = [Completion(str(row.id), start_position=-len(query),
                                display=clean(f"#{row.id} {row.name or ''}").rstrip(),
                                display_meta=clean(f"{row.title} · {row.model}"))
                     for row in ranked(self._rows(), query)]
            folded = query.lower()
            found += [Completion(name, start_position=-len(query), display_meta="saved file")
                      for name in self._names() if folded in name.lower()][: LIMIT - len(found)]
            return found
        except Exception:  # completion must never break typing; the debug log keeps the cause
            log.debug("conversation completion failed", exc_info=True)
            return []
