"""`git diff | chatrepl -i "review this"` in a real pseudo-terminal: the piped text goes as an
attachment with the prompt, and the REPL then reads keys from the terminal, not the pipe."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pexpect
from attachhelpers import chat_bodies

TIMEOUT = 30


def test_piped_stdin_with_interactive_goes_on_in_the_repl(chatrepl_home: Path, fake_server) -> None:
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n  fake:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    valid_models: [fake-chat]\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    fake_server.behavior.chat_reply = "Looks fine."
    env = {**os.environ, "CHATREPL_HOME": str(chatrepl_home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("CHATREPL_CONFIG", None)
    chatrepl = " ".join(shlex.quote(word) for word in (
        sys.executable, "-m", "chatrepl", "-i", "-m", "fake/fake-chat", "review this"))
    child = pexpect.spawn("/bin/sh", ["-c", f"printf -- '-old\\n+new\\n' | {chatrepl}"], env=env,
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(30, 120))
    try:
        child.expect("Looks fine.")
        child.expect("resumed the last conversation")
        child.expect("›")
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
