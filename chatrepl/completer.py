"""Completion for the REPL: slash commands, and their arguments: ranked model names, words
from a list, flags.

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
    "FlagCompleter",
    "ModelCommandCompleter",
    "SlashCommandCompleter",
    "WordListCompleter",
]

log = logging.getLogger(__name__)

MAX_COMPLETIONS = 50
class ModelCommandCompleter(Completer):
    """Ranked completion of a model name (the argument of `/model`, `/info`) over the current
    model snapshot; `ModelRanker` says how names match and rank. The document is the argument.

    `recent()` gives scoped names of recently used models, most recent first; `meta_for(record)`
    adds text (context size, price) to the menu meta of each record shown.
    """

    def __init__(
        self,
        provider_manager: SnapshotSource,
        *,
        recent: Callable[[], Sequence[str]] | None = None,
        meta_for: Callable[[ModelRecord], str] | None = None,
        limit: int = MAX_COMPLETIONS,
    ) -> None:
        self._ranker = ModelRanker(provider_manager, limit)
        self._recent = recent
        self._meta_for = meta_for

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            return self.complete_argument(document.text_before_cursor.lstrip())
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

    `commands()` gives (name, help) pairs, names with or without the slash;
    `argument_completers` the completer of each command's arguments under each of its names
    (`CommandRegistry.argument_completers`). An argument completer receives a document holding
    the argument alone: the text after the command and its spaces, up to the cursor.
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
                argument = text[len(word):].lstrip()
                yield from completer.get_completions(Document(argument, len(argument)),
                                                     complete_event)
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


class FlagCompleter(Completer):
    """Completes a word starting with `-` from `flags`, those that start with it, in order;
    flags already typed on the line are left out."""

    def __init__(self, flags: Sequence[str]) -> None:
        self._flags = tuple(flags)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        word = "" if not text or text[-1].isspace() else text.split()[-1]
        if not word.startswith("-"):
            return []
        typed = set(text.split()) - {word}
        return [Completion(flag, start_position=-len(word)) for flag in self._flags
                if flag.startswith(word) and flag not in typed]
