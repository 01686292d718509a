"""What a real terminal shows: /help laid out for 40 and 120 columns, one-shot reasoning dimmed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
from ptyscreen import Terminal

from chatrepl.slash_commands import REGISTRY

TIMEOUT = 20


def _spawn(home: Path, columns: int, *args: str, color: bool = False) -> pexpect.spawn:
    env = {**os.environ, "CHATREPL_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    env.pop("CHATREPL_CONFIG", None)
    if color:
        env.pop("NO_COLOR", None)
    else:
        env["NO_COLOR"] = "1"
    return pexpect.spawn(sys.executable, ["-m", "chatrepl", *args], env=env, encoding="utf-8",
                         timeout=TIMEOUT, dimensions=(30, columns))


@pytest.fixture
def home(chatrepl_home: Path, fake_server) -> Path:
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n    valid_models: [fake-chat]\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    return chatrepl_home


@pytest.mark.parametrize("columns", [40, 120])
def test_help_fits_the_terminal_and_wraps_between_words(home: Path, columns: int) -> None:
    term = Terminal(home, columns=columns, rows=120)  # all of /help on the screen, at 40 columns
    try:
        term.wait_text("›")
        term.child.send("/help\r")
        screen = term.wait_text("exits.")
    finally:
        term.close()
    start = max(i for i, row in enumerate(screen) if row.startswith("/help"))
    rows = screen[start:]
    assert all(len(row) < columns for row in rows)  # no row ran into the edge and wrapped there
    words = {word for row in rows for word in row.split()}
    for command in REGISTRY:  # every word of every description is whole on one screen row
        assert set(command.help.split()) <= words, command.name
    described = rows[rows.index("/model [NAME]") + 1] if columns < 60 else rows[1]
    if columns < 60:  # the description on its own indented line
        assert described.startswith("    show or switch the model")
    else:  # descriptions in a column beside their commands
        assert rows[1].startswith("/model [NAME]") and "show or switch the model" in described


def test_one_shot_reasoning_is_dimmed_labelled_and_on_its_own_line(home: Path, fake_server) -> None:
    fake_server.behavior.reasoning_chunks = ["think1 ", "think2"]
    fake_server.behavior.chat_reply = "Hello"
    child = _spawn(home, 80, "-m", "fake/fake-chat", "hi", color=True)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "\x1b[2mthinking: think1 think2\x1b[0m\r\n" in child.before
    assert child.before.index("think2") < child.before.index("Hello")
