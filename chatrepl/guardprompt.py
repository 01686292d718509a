"""The REPL's questions before sending (the `sendguard.Asker`): prompt_toolkit prompts run on
the REPL's thread between two lines of input, so typed-ahead keys answer them in order.

Ctrl-C or Ctrl-D at a question means no.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.key_binding.key_processor import KeyPressEvent
from prompt_toolkit.shortcuts import choice

from chatrepl.sanitize import clean
from chatrepl.tabkey import complete_now


def _choice_keys() -> KeyBindings:
    """Ctrl-D cancels a choice as Ctrl-C does."""
    bindings = KeyBindings()

    @bindings.add("c-d")
    def _cancel(event: KeyPressEvent) -> None:
        event.app.exit(exception=EOFError())

    return bindings


def _prompt_keys() -> KeyBindings:
    bindings = KeyBindings()
    bindings.add("tab")(complete_now)
    return bindings


class _CommandArgument(Completer):
    """What `completer` (the REPL's) offers after `command `, for a line holding the argument."""

    def __init__(self, completer: Completer, command: str) -> None:
        self._completer = completer
        self._prefix = command + " "

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        line = self._prefix + document.text_before_cursor
        return self._completer.get_completions(Document(line, len(line)), complete_event)


def command_argument(completer: Completer | None, command: str) -> Completer | None:
    """The completion of `command`'s argument by the REPL's `completer`, on a line of its own."""
    return None if completer is None else _CommandArgument(completer, command)


class PromptAsker:
    """Asks with prompt_toolkit: a choice list, a yes/no line, a model name with Tab completion
    (the completer of `/model`)."""

    def __init__(self, model_completer: Completer | None = None) -> None:
        self._models = model_completer

    def choose(self, question: str, options: Sequence[tuple[str, str]]) -> str | None:
        try:
            return choice(clean(question), options=list(options), default=options[-1][0],
                          key_bindings=_choice_keys())
        except (KeyboardInterrupt, EOFError):
            return None

    def confirm(self, question: str) -> bool:
        session: PromptSession[str] = PromptSession()
        try:
            answer = session.prompt(f"{clean(question)} [y/N] ")
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    def line(self, question: str) -> str | None:
        """One line of text (a role's variable); None on Ctrl-C or Ctrl-D."""
        session: PromptSession[str] = PromptSession()
        try:
            return session.prompt(clean(question))
        except (KeyboardInterrupt, EOFError):
            return None

    def model_name(self, question: str) -> str | None:
        session: PromptSession[str] = PromptSession(completer=self._models,
                                                    complete_while_typing=True,
                                                    key_bindings=_prompt_keys())
        try:
            return session.prompt(clean(question))
        except (KeyboardInterrupt, EOFError):
            return None
