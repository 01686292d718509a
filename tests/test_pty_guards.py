"""The overflow question as a real terminal shows it: the warning, the choices, the answer
taken; then the toolbar's context figure."""

from __future__ import annotations

from pathlib import Path

from guardhelpers import ENTRIES, chat_bodies, guard_config
from ptyscreen import Terminal


def test_the_overflow_question_on_a_terminal(chatrepl_home: Path, fake_server) -> None:
    fake_server.behavior.models_entries = ENTRIES
    fake_server.behavior.chat_reply = "short answer"
    (chatrepl_home / "config.yaml").write_text(guard_config(fake_server.url), encoding="utf-8")
    term = Terminal(chatrepl_home, "-m", "fake/small", columns=120)
    try:
        term.wait_for(lambda lines: "fake 3" in term.bottom_line()
                      and "ctx 0/400 " in term.bottom_line(),
                      "the toolbar with the window the model list gave")
        term.child.send("abcd " * 400 + "\r")
        lines = term.wait_text("3. do not send")
        assert "warning: ~604 tokens (history and message ~504 + 100 for the reply) do not fit" \
            " fake/small's 400 window" in lines
        assert not any("leave out" in line for line in lines)  # no older turns to leave out
        assert any(line.split() == [">", "3.", "do", "not", "send"] for line in lines)  # default
        term.child.send("2\r")  # send anyway
        term.wait_text("short answer")
        term.wait_for(lambda lines: "ctx 402/400 " in term.bottom_line(),
                      "the context figure the server reported after the reply")
        assert len(chat_bodies(fake_server)) == 1
    finally:
        assert term.close() == 0
