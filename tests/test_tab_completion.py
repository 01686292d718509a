"""Tab completes at once, even while a completion started by typing is still running."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import (
    CompleteEvent,
    Completer,
    Completion,
    ThreadedCompleter,
    WordCompleter,
)
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.repl import key_bindings

WAIT = 10.0


class StuckWhileTyping(Completer):
    """Completes words; a completion started by typing waits until `release` is set."""

    def __init__(self) -> None:
        self.words = WordCompleter(["alpha", "beta"])
        self.typing_started = threading.Event()
        self.release = threading.Event()

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        if complete_event.text_inserted:
            self.typing_started.set()
            self.release.wait(WAIT)
        yield from self.words.get_completions(document, complete_event)


def test_tab_while_a_typing_completion_runs_is_not_dropped() -> None:
    completer = StuckWhileTyping()
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(
            completer=ThreadedCompleter(completer), complete_while_typing=True,
            key_bindings=key_bindings(), input=pipe, output=DummyOutput())
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(session.prompt()), daemon=True)
        reader.start()
        pipe.send_text("al")
        assert completer.typing_started.wait(WAIT), "typing never started a completion"
        pipe.send_text("\t\r")  # the completion started by typing is still stuck
        reader.join(WAIT)
        completer.release.set()
        reader.join(WAIT)
    assert result == ["alpha"]


def test_tab_with_the_menu_up_takes_the_next_entry() -> None:
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(
            completer=WordCompleter(["beta", "bravo"]), complete_while_typing=False,
            key_bindings=key_bindings(), input=pipe, output=DummyOutput())
        pipe.send_text("b\t\t\r")
        assert session.prompt() == "bravo"
