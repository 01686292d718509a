"""`chatrepl --local`: chatrepl starts and stops its own llama.cpp server.

These tests start their own servers, not the session's.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pexpect
import pytest
from e2e_support import (
    PROMPT,
    SERVER_WAIT,
    ends_within,
    first_output_after,
    llama_servers_below,
    record,
    spawn_repl,
    unavailable,
)

from chatrepl.localmodel import is_available

pytestmark = pytest.mark.e2e

PASTE_ON, PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"
WAITING = r"waiting for the local model to load[^\r\n]*"
WORD = r"(?<![\x1b\[\]\d;?])[A-Za-z]{3,}"  # a word, not part of an escape sequence


@pytest.fixture(autouse=True)
def _needs_local(chatrepl_home: Path) -> None:
    if not is_available(chatrepl_home / "cache"):
        unavailable("the local extra is not installed (make install-local)")


def _servers_of(child: pexpect.spawn, wait: float = 60.0) -> list[int]:
    """The llama.cpp servers chatrepl started, once they exist (woken by terminal output)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = llama_servers_below(child.pid)
        if found:
            return found
        child.expect([r".+", pexpect.TIMEOUT, pexpect.EOF], timeout=0.5)
    return []


def _autosaved_local_reply(home: Path) -> dict:
    """The last message of the autosaved conversation, which must be with the local model."""
    saved = json.loads((home / "state" / "autosave.json").read_text(encoding="utf-8"))
    assert saved["provider"] == "local"
    return saved["messages"][-1]


def _assert_exited_and_servers_stopped(child: pexpect.spawn, servers: list[int]) -> None:
    assert child.exitstatus == 0
    for pid in servers:
        assert ends_within(pid, 15), f"llama.cpp server {pid} outlived chatrepl"


def test_local_repl_chats_and_stops_its_server_on_ctrl_d(chatrepl_home: Path) -> None:
    started = time.monotonic()
    child = spawn_repl(chatrepl_home, "--local")
    try:
        child.expect_exact(PROMPT, timeout=SERVER_WAIT)
        record("`chatrepl --local`: start -> first prompt", f"{time.monotonic() - started:.2f} s")
        servers = _servers_of(child)
        assert servers, "no llama.cpp server below chatrepl"
        child.send("Say hi.\r")
        child.expect_exact(PASTE_OFF)
        # A line sent while the model loads is held with a notice; the reply's word comes after.
        if child.expect([WAITING, WORD], timeout=SERVER_WAIT) == 0:
            child.expect(WORD, timeout=SERVER_WAIT)
        record("`chatrepl --local`: start -> first streamed word",
               f"{time.monotonic() - started:.2f} s")
        child.expect_exact(PASTE_ON, timeout=SERVER_WAIT)
        child.expect_exact(PROMPT)
        assert _autosaved_local_reply(chatrepl_home)["role"] == "assistant"
        child.sendcontrol("d")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close()
    _assert_exited_and_servers_stopped(child, servers)


def test_local_repl_killed_leaves_no_server(chatrepl_home: Path) -> None:
    child = spawn_repl(chatrepl_home, "--local")
    try:
        child.expect_exact(PROMPT, timeout=SERVER_WAIT)
        servers = _servers_of(child)
        assert servers, "no llama.cpp server below chatrepl"
        child.kill(signal.SIGKILL)  # no handler, no atexit: the server must notice by itself
    finally:
        child.close(force=True)
    for pid in servers:
        assert ends_within(pid, 15), f"llama.cpp server {pid} outlived a killed chatrepl"


def test_local_one_shot_time_to_first_token(chatrepl_home: Path) -> None:
    first, total, code, out = first_output_after(chatrepl_home, "--local", "Say hi",
                                                 timeout=SERVER_WAIT)
    assert code == 0 and out.strip()
    assert first is not None
    record("`chatrepl --local 'Say hi'`: start -> first token", f"{first:.2f} s")
    record("`chatrepl --local 'Say hi'`: start -> exit (server stopped)", f"{total:.2f} s")


def test_no_config_uses_the_local_model_by_default(chatrepl_home: Path) -> None:
    _first, _total, code, out = first_output_after(chatrepl_home, "Say hi", timeout=SERVER_WAIT)
    assert code == 0 and out.strip()


def test_a_config_without_providers_chats_with_the_local_model(chatrepl_home: Path) -> None:
    """What `chatrepl init` writes when no key is set: the REPL falls back to the local model."""
    (chatrepl_home / "config.yaml").write_text("providers: {}\n", encoding="utf-8")
    child = spawn_repl(chatrepl_home)
    try:
        child.expect_exact("chatting with the bundled local model", timeout=SERVER_WAIT)
        servers = _servers_of(child)
        assert servers, "no llama.cpp server below chatrepl"
        child.send("Say hi.\r")
        child.expect_exact(PASTE_OFF)
        child.expect_exact(PASTE_ON, timeout=SERVER_WAIT)
        child.expect_exact(PROMPT)
        reply = _autosaved_local_reply(chatrepl_home)
        assert reply["role"] == "assistant" and reply["content"]
        child.sendcontrol("d")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close()
    _assert_exited_and_servers_stopped(child, servers)
