"""`git diff | chatrepl -i "review this"` in a real pseudo-terminal: the piped text goes as an
attachment with the prompt, and the REPL then reads keys from the terminal, not the pipe."""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from attachhelpers import chat_bodies
from fakeserver import FakeOpenAIServer

TIMEOUT = 30


def _fake_home(home: Path, server: FakeOpenAIServer) -> dict[str, str]:
    """A config in `home` with provider `fake` (model fake-chat) on `server`; the environment
    for a chatrepl using it in a plain terminal."""
    (home / "config.yaml").write_text(
        "providers:\n  fake:\n"
        f"    base_api_url: {server.url}\n"
        "    valid_models: [fake-chat]\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    env = {**os.environ, "CHATREPL_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("CHATREPL_CONFIG", None)
    return env


def test_piped_stdin_with_interactive_goes_on_in_the_repl(chatrepl_home: Path, fake_server) -> None:
    env = _fake_home(chatrepl_home, fake_server)
    fake_server.behavior.chat_reply = "Looks fine."
    chatrepl = " ".join(shlex.quote(word) for word in (
        sys.executable, "-m", "chatrepl", "-i", "-m", "fake/fake-chat", "review this"))
    child = pexpect.spawn("/bin/sh", ["-c", f"printf -- '-old\\n+new\\n' | {chatrepl}"], env=env,
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(30, 120))
    try:
        child.expect("Looks fine.")
        child.expect("this conversation goes on here: model fake/fake-chat · 2 messages")
        child.expect("›")
        assert "you:" not in child.before  # the exchange just printed is not repeated
        child.send("and the tests?\r")
        child.expect("Looks fine.")
        child.expect("›")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    first, second = chat_bodies(fake_server)
    assert first["messages"][-1]["content"] == (
        "===== stdin =====\n-old\n+new\n===== end of stdin =====\n\nreview this")
    assert [m["content"] for m in second["messages"]] == [
        first["messages"][-1]["content"], "Looks fine.", "and the tests?"]


@contextlib.contextmanager
def _pid_channel(path: Path) -> Iterator[Callable[[], int]]:
    """A FIFO at `path` for a command to `echo $$ >` into; yields a function that waits (up to
    TIMEOUT) for the process id written. The test's own write end keeps the FIFO open, so
    waiting ends on data only."""
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    keeper = os.open(path, os.O_WRONLY)

    def pid() -> int:
        data = b""
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([reader], [], [], TIMEOUT)
            if not ready:
                raise AssertionError(f"the command never wrote {path}")
            data += os.read(reader, 64)
        return int(data)

    try:
        yield pid
    finally:
        os.close(keeper)
        os.close(reader)


def test_attach_option_stages_for_the_repl_and_ctrl_c_stops_a_command(
        chatrepl_home: Path, fake_server, tmp_path: Path) -> None:
    env = _fake_home(chatrepl_home, fake_server)
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("remember me\n", encoding="utf-8")
    with _pid_channel(work / "cmd.pid") as written_pid:
        child = pexpect.spawn(sys.executable, ["-m", "chatrepl", "-m", "fake/fake-chat", "-a",
                                               "notes.txt"], cwd=str(work), env=env,
                              encoding="utf-8", timeout=TIMEOUT, dimensions=(30, 120))
        try:
            child.expect("attached notes.txt")
            child.send("/attach !echo $$ > cmd.pid; exec sleep 60\r")
            child.expect("Ctrl-C stops it")
            pid = written_pid()
            child.sendcontrol("c")
            child.expect(r"\[stopped\] nothing attached")
            with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
                os.kill(pid, 0)
            child.send("what is in it?\r")
            child.expect("Hello from the fake server.")
            child.expect("›")
            child.sendcontrol("d")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    (body,) = chat_bodies(fake_server)
    assert body["messages"][-1]["content"] == (
        "===== notes.txt =====\nremember me\n===== end of notes.txt =====\n\nwhat is in it?")
