"""In a real terminal: Ctrl-X Ctrl-E runs $EDITOR on the input line and puts back what it saved
(sent only on Enter); /copy writes the OSC 52 sequence, base64 of the text, to the terminal."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from chathelpers import chat_bodies
from editorhelpers import fake_config, script
from ptyscreen import Terminal

# Appends " edited" to what the file holds (one line).
EDITS = '{ tr -d "\\n" < "$1"; printf " edited\\n"; } > "$1.new" && mv "$1.new" "$1"'
NO_CLIPBOARD = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}  # OSC 52 only: no X or Wayland tool


def _ready(term: Terminal) -> None:
    term.wait_for(lambda lines: any("tokens 0" in line for line in lines), "the toolbar")


def _prompt_back_after(term: Terminal, text: str) -> None:
    """Wait for an empty prompt drawn below the line holding `text` (keys typed before it is
    up meet a terminal in cooked mode, where Ctrl-D is not a key)."""
    def back(lines: list[str]) -> bool:
        seen = [i for i, line in enumerate(lines) if text in line]
        return bool(seen) and any(line == "›" for line in lines[seen[-1] + 1:]) \
            and "tokens" in term.bottom_line()
    term.wait_for(back, f"the prompt after {text!r}")


def test_ctrl_x_ctrl_e_edits_the_input_line_and_enter_sends_it(
        tmp_path: Path, chatrepl_home: Path, fake_server) -> None:
    fake_config(chatrepl_home, fake_server.url)
    editor = script(tmp_path / "bin", "ed-edits", EDITS)
    term = Terminal(chatrepl_home, "-m", "fake/fake-chat",
                    env={"EDITOR": str(editor), "VISUAL": "", **NO_CLIPBOARD})
    try:
        _ready(term)
        term.child.send("my draft")
        term.wait_text("› my draft")
        term.child.sendcontrol("x")
        term.child.sendcontrol("e")
        term.wait_text("› my draft edited")
        assert chat_bodies(fake_server) == []  # put in the line, not sent
        term.child.send("\r")
        _prompt_back_after(term, "Hello from the fake server.")
        assert chat_bodies(fake_server)[-1]["messages"][-1]["content"] == "my draft edited"
    finally:
        assert term.close() == 0


def test_copy_writes_osc52_with_the_base64_of_the_code_block(
        chatrepl_home: Path, fake_server) -> None:
    fake_config(chatrepl_home, fake_server.url)
    fake_server.behavior.chat_reply = "Run:\n\n```sh\necho copied ✓\n```\n"
    term = Terminal(chatrepl_home, "-m", "fake/fake-chat", env=NO_CLIPBOARD)
    try:
        _ready(term)
        term.child.send("hi\r")
        term.wait_text("echo copied ✓")
        raw = io.StringIO()
        term.child.logfile_read = raw  # the bytes as they come, OSC sequences included
        term.child.send("/copy code 1\r")
        _prompt_back_after(term, "characters (code block 1) via OSC 52")
        encoded = base64.b64encode("echo copied ✓".encode()).decode()
        assert f"\x1b]52;c;{encoded}\x07" in raw.getvalue()
        assert "copied 13 characters (code block 1)" in term.text()
    finally:
        assert term.close() == 0
