"""chatrepl in a real pseudo-terminal: complete a model with Tab, chat, Ctrl-C a reply, Ctrl-D."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

TIMEOUT = 20


def _spawn(home: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "CHATREPL_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("CHATREPL_CONFIG", None)
    return pexpect.spawn(sys.executable, ["-m", "chatrepl", *args], env=env, encoding="utf-8",
                         timeout=TIMEOUT, dimensions=(30, 120))


@pytest.fixture
def configured_home(chatrepl_home: Path, fake_server) -> Path:
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n"
        "  fake:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    valid_models: {fake-chat: fc, fake-large-model: big}\n"
        "discovery: {on_startup: false}\n",
        encoding="utf-8",
    )
    return chatrepl_home


def test_complete_switch_chat_interrupt_and_exit(configured_home: Path, fake_server) -> None:
    child = _spawn(configured_home)
    try:
        child.expect("›")
        child.send("/model larg")
        child.send("\t")
        child.expect("fake/fake-large-model")  # the completion menu (or the completed text)
        child.send("\r")
        child.expect("model: fake/fake-large-model")

        fake_server.behavior.chat_reply = "pong from the loopback server"
        child.send("ping\r")
        child.expect("pong from the loopback server")
        child.expect("›")

        fake_server.behavior.chat_fault = "never_end"
        fake_server.behavior.chunk_delay = 0.02
        child.send("tell me a very long story\r")
        child.expect(r"w?\.\.\.")  # dots keep arriving from the endless stream
        child.sendcontrol("c")
        child.expect(r"\[interrupted\]")
        child.expect("›")

        fake_server.behavior.chat_fault = None
        fake_server.behavior.chat_reply = "still alive"
        child.send("are you there\r")
        child.expect("still alive")
        child.expect("›")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
