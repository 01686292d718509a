"""chatrepl in a real pseudo-terminal: complete a model with Tab, chat, Ctrl-C a reply, Ctrl-D."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from ptyscreen import Screen

TIMEOUT = 20
ROWS, COLUMNS = 30, 120


def _spawn(home: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> pexpect.spawn:
    env = {**os.environ, "CHATREPL_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("CHATREPL_CONFIG", None)
    return pexpect.spawn(sys.executable, ["-m", "chatrepl", *args], env=env, encoding="utf-8",
                         timeout=TIMEOUT, dimensions=(ROWS, COLUMNS), preexec_fn=preexec_fn)


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


def _menu_offers(name: str) -> Callable[[Screen], bool]:
    """True once a line below the input line (the completion menu) offers `name`."""

    def check(screen: Screen) -> bool:
        lines = screen.lines()
        return any(line.strip().startswith(name) for line in lines[screen.screen.cursor.y + 1:])

    return check


def _signal_state(pid: int) -> str:
    """The child's blocked, ignored and caught signal masks, for a failure message."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return " ".join(line.strip() for line in status if line.startswith(("SigBlk", "SigIgn",
                                                                                  "SigCgt")))
    except OSError:
        return "signal masks unknown"


def _interrupt_the_endless_reply(child: pexpect.spawn) -> None:
    """Ctrl-C until `[interrupted]` shows, pressed again after each few seconds without it (a
    press landing after the reply has stopped only empties the empty input line)."""
    for _ in range(8):
        child.sendcontrol("c")
        try:
            child.expect(r"\[interrupted\]", timeout=5)
            return
        except pexpect.TIMEOUT:
            continue
    raise AssertionError(f"Ctrl-C never stopped the reply ({_signal_state(child.pid)}); "
                         f"last output: {child.before[-200:]!r}")


def _exit_with_ctrl_d(child: pexpect.spawn) -> None:
    """Ctrl-D at the prompt: chatrepl ends, with exit code 0."""
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.timeout(120)  # eight tries of five seconds on a busy machine, and the rest
def test_complete_switch_chat_interrupt_and_exit(configured_home: Path, fake_server) -> None:
    child = _spawn(configured_home)
    screen = Screen(child, ROWS, COLUMNS)
    try:
        child.expect("›")
        child.send("/model\r")  # answered once the config has loaded behind the prompt
        child.expect("model: fake/fake-chat")
        child.expect("›")
        child.send("/model larg")
        # Tab once the menu is up (a Tab pressed while the completer thread still works is
        # dropped), Enter once Tab has put the name in the input line.
        screen.wait_until(_menu_offers("fake/fake-large-model"), "the completion menu", TIMEOUT)
        child.send("\t")
        screen.wait_for_input_line("› /model fake/fake-large-model", TIMEOUT)
        child.send("\r")
        child.expect("model: fake/fake-large-model")
        child.expect("›")

        fake_server.behavior.chat_reply = "pong from the loopback server"
        child.send("ping\r")
        child.expect("pong from the loopback server")
        child.expect("›")

        fake_server.behavior.chat_fault = "never_end"
        fake_server.behavior.chunk_delay = 0.02
        child.send("tell me a very long story\r")
        child.expect(r"w?\.\.\.")  # dots keep arriving from the endless stream
        _interrupt_the_endless_reply(child)
        assert "^C" not in child.before  # the terminal does not echo Ctrl-C into the reply
        child.expect("›")

        fake_server.behavior.chat_fault = None
        fake_server.behavior.chat_reply = "still alive"
        child.send("are you there\r")
        child.expect("still alive")
        child.expect("›")
        _exit_with_ctrl_d(child)
    finally:
        child.close()


def test_bad_config_in_the_repl_exits_2_with_one_line(chatrepl_home: Path) -> None:
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n  x:\n    base_urll: http://127.0.0.1:9/v1\n", encoding="utf-8")
    child = _spawn(chatrepl_home)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 2
    assert "config.yaml:3: providers.x.base_urll: unknown key; did you mean 'base_url'?" in child.before
    assert "Traceback" not in child.before


def test_typing_before_the_config_has_loaded_is_not_lost(configured_home: Path, fake_server) -> None:
    fake_server.behavior.chat_reply = "got it"
    child = _spawn(configured_home)
    try:
        child.send("early bird\r")  # typed at once, possibly before the config is loaded
        child.expect("got it")
        child.expect("›")
        _exit_with_ctrl_d(child)
    finally:
        child.close()
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert sent[-1]["messages"][-1] == {"role": "user", "content": "early bird"}


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_stops_a_reply_of_a_repl_started_with_sigint_ignored(configured_home: Path,
                                                                      fake_server) -> None:
    """A background job of a script (or `nohup`) starts with SIGINT ignored; at the REPL, Ctrl-C
    still stops a reply."""
    child = _spawn(configured_home, preexec_fn=_ignore_sigint)
    try:
        child.expect("›")
        fake_server.behavior.chat_fault = "never_end"
        fake_server.behavior.chunk_delay = 0.02
        child.send("tell me a very long story\r")
        child.expect(r"w?\.\.\.")
        _interrupt_the_endless_reply(child)
        child.expect("›")
        _exit_with_ctrl_d(child)
    finally:
        child.close()
