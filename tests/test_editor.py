"""The editor: $VISUAL/$EDITOR run on the input, what it saves comes back (never sent), a hint
when it returns at once with no change, one clear line when there is no editor."""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import pytest
from chathelpers import chat_bodies
from editorhelpers import env_runner, script, tool_env
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from replhelpers import build_repl_state

from chatrepl import editor
from chatrepl.editor import UNCHANGED_HINT, edit_text
from chatrepl.repl import make_prompt_session

WAIT = 20.0
APPENDS = '{ cat "$1"; printf "more"; } > "$1.new" && mv "$1.new" "$1"'
WRITES = 'printf "from the editor\\n" > "$1"'


def still(_clock: object = None) -> float:
    """A clock that never moves: the editor always came back 'at once'."""
    return 0.0


def test_the_editor_edits_the_text_and_what_it_saved_comes_back(tmp_path: Path) -> None:
    script(tmp_path / "bin", "ed-append", APPENDS)
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="ed-append"), clock=still)
    assert outcome.text == "draft\nmore" and outcome.message is None


def test_visual_comes_before_editor_and_its_arguments_are_kept(tmp_path: Path) -> None:
    # The script writes its first argument into the file (its second).
    script(tmp_path / "bin", "ed-args", 'printf "%s" "$1" > "$2"')
    env = tool_env(tmp_path / "bin", VISUAL="ed-args '--wait here'", EDITOR="no-such-editor")
    assert edit_text("", env).text == "--wait here"


def test_an_editor_that_is_not_installed_is_named_in_one_line(tmp_path: Path) -> None:
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="no-such-editor --wait"))
    assert outcome.text is None
    assert outcome.message == ("the editor 'no-such-editor' (from $EDITOR) was not found;"
                               " set $EDITOR to an installed editor, e.g. EDITOR=nano")


def test_no_editor_at_all_says_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    outcome = edit_text("draft", {"PATH": str(tmp_path / "empty")})
    assert outcome.text is None
    assert outcome.message is not None and "set $EDITOR" in outcome.message


def test_an_editor_that_fails_leaves_the_input_as_it_was(tmp_path: Path) -> None:
    script(tmp_path / "bin", "ed-fails", 'printf "half" > "$1"; exit 3')
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="ed-fails"))
    assert outcome.text is None
    assert outcome.message == "the editor exited with status 3; the input is as it was"


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    script(tmp_path / "bin", "ed-latin1", "printf 'caf\\351' > \"$1\"")
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="ed-latin1"))
    assert outcome.text is None and outcome.message is not None and "UTF-8" in outcome.message


def test_back_at_once_with_no_change_gets_the_wait_flag_hint(tmp_path: Path) -> None:
    script(tmp_path / "bin", "gui-editor", "exit 0")  # returns before the user typed anything
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="gui-editor"), clock=still)
    assert outcome.text == "draft"
    assert outcome.message == UNCHANGED_HINT and "EDITOR='code --wait'" in outcome.message


def test_no_change_after_a_while_is_no_hint(tmp_path: Path) -> None:
    script(tmp_path / "bin", "ed-quit", "exit 0")  # the user looked and quit without saving
    minutes = itertools.count(0.0, 60.0)
    outcome = edit_text("draft", tool_env(tmp_path / "bin", EDITOR="ed-quit"),
                        clock=lambda: next(minutes))
    assert outcome.text == "draft" and outcome.message is None


# -- /editor in the REPL ------------------------------------------------------------------------

def test_editor_command_puts_the_text_in_the_next_input_line_not_sent(
        tmp_path: Path, chatrepl_home: Path, fake_server) -> None:
    script(tmp_path / "bin", "ed-writes", WRITES)
    repl = env_runner(chatrepl_home, fake_server.url, tool_env(tmp_path / "bin", EDITOR="ed-writes"))
    state, printed = repl("/editor")
    assert chat_bodies(fake_server) == []  # nothing was sent
    assert "error" not in printed
    # The next prompt starts with the text: Enter alone sends it.
    state, _ = repl("/editor", "")
    assert [b["messages"][-1]["content"] for b in chat_bodies(fake_server)] == ["from the editor"]
    assert state.next_input == ""


def test_editor_command_with_no_editor_prints_one_line(tmp_path: Path, chatrepl_home: Path,
                                                       fake_server) -> None:
    repl = env_runner(chatrepl_home, fake_server.url,
                      tool_env(tmp_path / "bin", EDITOR="no-such-editor"))
    state, printed = repl("/editor hello")
    lines = [line for line in printed.splitlines() if line.strip()]
    assert lines == ["error: the editor 'no-such-editor' (from $EDITOR) was not found;"
                     " set $EDITOR to an installed editor, e.g. EDITOR=nano"]
    assert state.next_input == "" and chat_bodies(fake_server) == []


def test_editor_command_unchanged_gets_the_hint_and_keeps_the_text(
        tmp_path: Path, chatrepl_home: Path, fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(editor, "AT_ONCE_SECONDS", float("inf"))  # however slow the machine is
    script(tmp_path / "bin", "gui-editor", "exit 0")
    repl = env_runner(chatrepl_home, fake_server.url, tool_env(tmp_path / "bin", EDITOR="gui-editor"))
    _state, printed = repl("/editor keep this", "")
    assert f"warning: {UNCHANGED_HINT}" in printed
    assert [b["messages"][-1]["content"] for b in chat_bodies(fake_server)] == ["keep this"]


# -- Ctrl-X Ctrl-E at the prompt (the editing itself is in the pty test) -------------------------

class Watched(io.StringIO):
    """A printer's buffer that says when a line containing `wanted` was written."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.seen = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.wanted in self.getvalue():
            self.seen.set()
        return written


def test_ctrl_x_ctrl_e_unchanged_shows_the_hint_and_keeps_the_line(
        tmp_path: Path, chatrepl_home: Path, fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(editor, "AT_ONCE_SECONDS", float("inf"))
    script(tmp_path / "bin", "gui-editor", "exit 0")
    env = {**tool_env(tmp_path / "bin", EDITOR="gui-editor"), "CHATREPL_HOME": str(chatrepl_home)}
    out = Watched(UNCHANGED_HINT)
    state = build_repl_state(chatrepl_home, env=env, out=out).state
    with create_pipe_input() as pipe:
        session = make_prompt_session(state, input=pipe, output=DummyOutput())
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(session.prompt()), daemon=True)
        reader.start()
        pipe.send_text("my draft\x18\x05")
        assert out.seen.wait(WAIT), f"no hint; printed: {out.getvalue()!r}"
        pipe.send_text("\r")
        reader.join(WAIT)
    assert result == ["my draft"]
