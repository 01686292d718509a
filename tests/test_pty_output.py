"""What a real terminal shows: /help laid out for 40 and 120 columns, one-shot reasoning dimmed."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from chatrepl.slash_commands import REGISTRY

TIMEOUT = 20
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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
    child = _spawn(home, columns)
    try:
        child.expect("›")
        child.send("/help\r")
        child.expect(r"exits\.")
        shown = CSI.sub("", child.before + "exits.")
        child.expect("›")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    lines = shown.split("\r\n")
    # The printed list starts at its own "/help" line (after the typed line and any menu).
    start = max(i for i, line in enumerate(lines) if line.startswith("/help"))
    body = lines[start:]
    assert all(len(line) < columns for line in body), [line for line in body if len(line) >= columns]
    words = " ".join(body).split()
    for command in REGISTRY:  # every description is there with its words whole
        expected = command.help.split()
        first = words.index(expected[0], words.index(command.usage.split()[0]))
        assert words[first:first + len(expected)] == expected


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
