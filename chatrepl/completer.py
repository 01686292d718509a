"""Completion for the REPL: ranked `/model` names, slash commands and word lists.

Pure: no I/O, no locks, never raises. `ModelCommandCompleter` reads the manager's current
snapshot on every call, so a discovery swap shows up at the next keystroke. The ranking
itself, and how it stays fast on tens of thousands of names, is `modelrank`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatrepl.modelrank import ModelRanker, SnapshotSource
from chatrepl.sanitize import clean

if TYPE_CHECKING:
    from chatrepl.manager import ModelRecord

__all__ = [
    "MAX_COMPLETIONS",
    "MODEL_COMMANDS",
    "ModelCommandCompleter",
    "SlashCommandCompleter",
    "WordListCompleter",
]

log = logging.getLogger(__name__)

MAX_COMPLETIONS = 50
MODEL_COMMANDS = ("/model", "/mod")


def _argument(text: str, commands: Sequence[str]) -> str | None:
    """The argument after one of `commands` and whitespace, or None when not such a line."""
    stripped = text.lstrip()
    for command in commands:
        size = len(command)
        if len(stripped) > size and stripped[size].isspace() and stripped[:size].lower() == command:
            return stripped[size:].lstrip()
    return None


class ModelCommandCompleter(Completer):
    """Ranked completion of `/model NAME` (and `/mod NAME`) over the current model snapshot;
    `ModelRanker` says how names match and rank.

    `recent()` gives scoped names of recently used models, most recent first; `meta_for(record)`
    adds text (context size, price) to the menu meta of each record shown.
    """

    def __init__(
        self,
        provider_manager: SnapshotSource,
        *,
        recent: Callable[[], Sequence[str]] | None = None,
        meta_for: Callable[[ModelRecord], str] | None = None,
        commands: Sequence[str] = MODEL_COMMANDS,
        limit: int = MAX_COMPLETIONS,
    ) -> None:
        self._ranker = ModelRanker(provider_manager, limit)
        self._recent = recent
        self._meta_for = meta_for
        self._commands = tuple(c.lower() for c in commands)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            argument = _argument(document.text_before_cursor, self._commands)
            if argument is None:
                return []
            return self.complete_argument(argument)
        except Exception:  # completion must never break typing; the debug log keeps the cause
            log.debug("model completion failed", exc_info=True)
            return []

    def complete_argument(self, argument: str) -> list[Completion]:
        """Completions that replace all of `argument` (the text after `/model `)."""
        start = -len(argument)
        meta_for = self._meta_for
        completions = []
        for record in self.ranked(argument):
            meta = record.provider if record.short == record.long else f"{record.short} · {record.provider}"
            if meta_for is not None:
                extra = meta_for(record)
                if extra:
                    meta = f"{meta} · {extra}"
            completions.append(
                Completion(record.scoped, start_position=start, display=clean(record.scoped),
                           display_meta=clean(meta))
            )
        return completions

    def ranked(self, query: str) -> list[ModelRecord]:
        """The best records for `query`, best first, at most `limit`."""
        return self._ranker.ranked(query, self._recent() if self._recent is not None else ())

    def warm(self) -> None:
        """Build the index for the current snapshot now (e.g. off-thread right after a swap)."""
        self._ranker.warm()


class SlashCommandCompleter(Completer):
    """`/` + command names with their one-line help; `/cmd args` goes to that command's completer.

    `commands()` gives (name, help) pairs, names with or without the slash. An argument
    completer receives the whole document: the model completer reads its own `/model ` prefix,
    and a word completer completes the word before the cursor.
    """

    def __init__(
        self,
        commands: Callable[[], Sequence[tuple[str, str]]],
        argument_completers: Mapping[str, Completer],
    ) -> None:
        self._commands = commands
        self._argument_completers = {_slashed(k).lower(): v for k, v in argument_completers.items()}

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            text = document.text_before_cursor.lstrip()
            if not text.startswith("/"):
                return
            word = text.split(maxsplit=1)[0]
            if word == text:
                yield from self._command_completions(word)
                return
            completer = self._argument_completers.get(word.lower())
            if completer is not None:
                yield from completer.get_completions(document, complete_event)
        except Exception:  # completion must never break typing; the debug log keeps the cause
            log.debug("slash command completion failed", exc_info=True)

    def _command_completions(self, word: str) -> list[Completion]:
        typed = word.lower()
        seen: set[str] = set()
        completions = []
        for name, help_text in self._commands():
            slashed = _slashed(name)
            if slashed.lower().startswith(typed) and slashed not in seen:
                seen.add(slashed)
                completions.append(Completion(slashed, start_position=-len(word), display_meta=help_text))
        return completions


def _slashed(name: str) -> str:
    return name if name.startswith("/") else "/" + name


class WordListCompleter(Completer):
    """Completes the word before the cursor from `words()`, case-insensitively: names that start
    with it first, then names that contain it. Names already typed on the line are left out."""

    def __init__(self, words: Callable[[], Iterable[str]]) -> None:
        self._words = words

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            text = document.text_before_cursor
            word = "" if not text or text[-1].isspace() else text.split()[-1]
            typed = set(text.split())
            folded = word.lower()
            starts: list[str] = []
            contains: list[str] = []
            for name in dict.fromkeys(self._words()):
                if name in typed and name != word:
                    continue
                lowered = name.lower()
                if lowered.startswith(folded):
                    starts.append(name)
                elif folded in lowered:
                    contains.append(name)
            return [Completion(name, start_position=-len(word)) for name in sorted(starts) + sorted(contains)]
        except Exception:  # completion must never break typing; the debug log keeps the cause
            log.debug("word completion failed", exc_info=True)
            return []
