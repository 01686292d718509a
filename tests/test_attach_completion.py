"""Tab completion of paths after `@` in a message and after `/attach` (PathCompleter)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from replhelpers import build_repl_state

from chatrepl.repl import build_completer


@pytest.fixture
def completer(chatrepl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "notes.txt").write_text("n", encoding="utf-8")
    (work / "src" / "main.py").write_text("m", encoding="utf-8")
    monkeypatch.chdir(work)
    return build_completer(build_repl_state(chatrepl_home).state)


def _complete(completer, text: str) -> list[tuple[str, str]]:
    found = completer.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True))
    return [(c.text, c.display_text) for c in found]


def test_a_path_after_at_completes_in_a_message(completer) -> None:
    assert _complete(completer, "look at @no") == [("tes.txt", "notes.txt")]
    assert _complete(completer, "see @src/m") == [("ain.py", "main.py")]


def test_a_word_without_at_is_not_completed_as_a_path(completer) -> None:
    assert _complete(completer, "look at no") == []
    assert _complete(completer, "mail me@no") == []


def test_attach_completes_paths_but_not_after_a_command(completer) -> None:
    assert ("tes.txt", "notes.txt") in _complete(completer, "/attach no")
    assert _complete(completer, "/attach !ls no") == []
