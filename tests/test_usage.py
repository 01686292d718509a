"""Token usage after a reply: reported by the server or estimated (marked ~), in the REPL and
with one-shot's --usage."""

from __future__ import annotations

import io
from pathlib import Path

from test_oneshot_output import one_shot
from test_repl import repl_runner

from chatrepl.cli import main
from chatrepl.repl import toolbar_text


def test_usage_only_with_the_flag_on_stderr(chatrepl_home, fake_server) -> None:
    fake_server.behavior.chat_reply = "one two three"
    code, out, err = one_shot(chatrepl_home, fake_server.url, "hello there")
    assert (code, out, err) == (0, "one two three\n", "")
    code, out, err = one_shot(chatrepl_home, fake_server.url, "--usage", "hello there")
    assert code == 0 and out == "one two three\n"
    assert err == "2 in · 3 out\n"  # the fake server's own counts; no price known


def test_usage_is_estimated_and_marked_when_the_server_reports_none(chatrepl_home,
                                                                    fake_server) -> None:
    fake_server.behavior.usage = False
    fake_server.behavior.chat_reply = "x" * 40
    code, out, err = one_shot(chatrepl_home, fake_server.url, "--usage", "12345678")
    assert code == 0 and out == "x" * 40 + "\n"
    assert err == "~2 in · ~10 out\n"  # 8 characters sent, 40 received: 4 a token


def test_repl_estimates_usage_the_server_did_not_report(chatrepl_home, fake_server) -> None:
    fake_server.behavior.usage = False
    fake_server.behavior.chat_reply = "y" * 20
    run = repl_runner(chatrepl_home, f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n"
                      "    valid_models: [fake-chat]\n", "fake", "fake-chat")
    state, printed = run("abcdefgh")
    assert "~2 in · ~5 out" in printed
    assert "~tokens 7" in toolbar_text(state)
    fake_server.behavior.usage = True
    state, _ = run("again")
    assert "~tokens" in toolbar_text(state)  # part of the total is still an estimate


def test_help_lists_the_usage_flag(chatrepl_home) -> None:
    out = io.StringIO()
    assert main(["--help"], env={"CHATREPL_HOME": str(chatrepl_home)}, stdout=out,
                stderr=io.StringIO()) == 0
    assert "--usage" in out.getvalue()
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "--usage" in readme
