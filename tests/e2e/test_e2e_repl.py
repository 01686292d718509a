"""The REPL in a real pseudo-terminal against the real llama.cpp server.

Complete the model with Tab, chat, interrupt a long answer with Ctrl-C, /discover, Ctrl-D.
Assertions are on behaviour (what is saved, what runs, exit codes), not on the model's words.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pexpect
import pytest
from e2e_support import PROMPT, REPLY_WAIT, WORDS, record, run_chatrepl, spawn_repl
from ptyscreen import Screen

pytestmark = pytest.mark.e2e


def _autosave(home: Path) -> dict:
    return json.loads((home / "state" / "autosave.json").read_text(encoding="utf-8"))


def _discovered_at(home: Path) -> float:
    data = json.loads((home / "state" / "discovered.yaml").read_text(encoding="utf-8"))
    return float(data["discovered_at"]["local"])


# prompt_toolkit turns bracketed paste on while it reads a line and off when the line is
# accepted: what comes between OFF and the next ON is chatrepl's own output (the answer). The
# accepted line itself is drawn twice, so the prompt sign alone is no marker.
PASTE_ON, PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"


def _enter(child: pexpect.spawn, line: str, timeout: float = REPLY_WAIT) -> str:
    """Type a line and Enter; return what chatrepl printed before the next prompt."""
    child.send(line + "\r")
    child.expect_exact(PASTE_OFF)
    child.expect_exact(PASTE_ON, timeout=timeout)
    shown = child.before
    child.expect_exact(PROMPT)
    return shown


def _first_word(text: str) -> str:
    match = WORDS.search(text)
    assert match, f"no word in {text!r}"
    return match.group(0)


def test_repl_completes_chats_interrupts_rediscovers_and_exits(local_home, llama_server,
                                                              model_id: str) -> None:
    home = local_home()
    assert run_chatrepl(home, "discover").returncode == 0  # the model is known at start-up
    first_discovery = _discovered_at(home)
    child = spawn_repl(home)
    screen = Screen(child, 30, 120)  # spawn_repl's dimensions
    try:
        child.expect_exact(PROMPT, timeout=30)

        # /model + part of the name + Tab completes it; Enter switches to it. Tab once the menu
        # is up (a Tab pressed while the completer thread works is dropped), Enter once the
        # name is in the input line.
        child.send("/model smol")
        screen.wait_until(lambda shown: any(model_id in line for line in
                                            shown.lines()[shown.screen.cursor.y + 1:]),
                          "the completion menu", REPLY_WAIT)
        child.send("\t")
        screen.wait_until(lambda shown: model_id in shown.cursor_line(), "the completed name",
                          REPLY_WAIT)
        _enter(child, "")

        # A question gets an answer on screen, saved with the model it came from.
        sent = time.monotonic()
        shown = _enter(child, "What is the capital of France? Answer in one sentence.")
        record("pty: question -> next prompt", f"{time.monotonic() - sent:.2f} s")
        saved = _autosave(home)
        assert (saved["provider"], saved["model"]) == ("local", model_id)
        reply = saved["messages"][-1]
        assert reply["role"] == "assistant" and not reply.get("interrupted")
        assert _first_word(reply["content"]) in shown, f"the answer is not on screen: {shown!r}"

        # Ctrl-C during a long answer: back to the prompt, the reply kept as interrupted.
        question = "Write a very long story about a dragon and a knight, at least 400 tokens."
        child.send(question + "\r")
        child.expect_exact(PASTE_OFF)
        child.expect(WORDS, timeout=REPLY_WAIT)  # the answer has started streaming
        streaming = time.monotonic()
        child.sendcontrol("c")
        child.expect_exact(PASTE_ON, timeout=30)
        child.expect_exact(PROMPT)
        record("pty: Ctrl-C -> prompt", f"{time.monotonic() - streaming:.2f} s")
        saved = _autosave(home)
        assert saved["messages"][-1]["role"] == "assistant"
        assert saved["messages"][-1].get("interrupted") is True
        assert llama_server.running(), "Ctrl-C in chatrepl's terminal reached the server"

        # The REPL is alive and the server answers the next question.
        shown = _enter(child, "Say hi.")
        reply = _autosave(home)["messages"][-1]
        assert reply["role"] == "assistant" and not reply.get("interrupted")
        assert _first_word(reply["content"]) in shown

        # /discover refreshes in the background: the discovery stamp moves on.
        _enter(child, "/discover")
        deadline = time.monotonic() + 30
        while _discovered_at(home) <= first_discovery and time.monotonic() < deadline:
            # Woken by the toolbar redraw when discovery ends (or after a second at most).
            child.expect([r".+", pexpect.TIMEOUT], timeout=1)
        assert _discovered_at(home) > first_discovery

        child.sendcontrol("d")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert llama_server.running()  # the session's server belongs to the fixture, not chatrepl
