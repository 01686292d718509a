"""Lines handed to the prompt are never lost: one given to prompt_toolkit's run_in_terminal
that the prompt closes before running (Enter typed right after) is run by prompt_ended()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chatrepl import replterminal
from chatrepl.replterminal import PromptTerminal


def _with_prompt_shown(terminal: PromptTerminal, action: Callable[[], None]) -> None:
    async def shown() -> None:
        terminal.prompt_started()
        action()

    asyncio.run(shown())
    terminal.prompt_ended()


def test_a_line_the_closing_prompt_never_ran_is_written_once_it_has_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[Callable[[], None]] = []
    monkeypatch.setattr(replterminal, "run_in_terminal", handed.append)  # the prompt closes first
    terminal = PromptTerminal()
    written: list[str] = []
    _with_prompt_shown(terminal, lambda: terminal.run_in_terminal(lambda: written.append("line")))
    assert written == ["line"] and len(handed) == 1
    handed[0]()  # prompt_toolkit getting to it late does not write it twice
    assert written == ["line"]


def test_a_line_the_prompt_ran_is_not_written_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replterminal, "run_in_terminal", lambda function: function())
    terminal = PromptTerminal()
    written: list[str] = []
    _with_prompt_shown(terminal, lambda: terminal.run_in_terminal(lambda: written.append("line")))
    assert written == ["line"]
