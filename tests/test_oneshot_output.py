"""One-shot and REPL replies as printed: reasoning apart, usage (reported or estimated), and
nothing a hostile server sends reaching the terminal as a control sequence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_printing import unsafe
from test_repl import repl_runner

from chatrepl.cli import main
from chatrepl.repl import toolbar_text


def one_shot(home: Path, url: str, *args: str) -> tuple[int, str, str]:
    (home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {url}\n    valid_models: [fake-chat]\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["-m", "fake/fake-chat", *args], env={"CHATREPL_HOME": str(home)},
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_one_shot_reasoning_is_labelled_on_stderr_and_ends_its_line(chatrepl_home, fake_server) -> None:
    fake_server.behavior.reasoning_chunks = ["think1 ", "think2"]
    fake_server.behavior.chat_reply = "Hello"
    code, out, err = one_shot(chatrepl_home, fake_server.url, "hi")
    assert code == 0
    assert out == "Hello\n"
    assert err == "thinking: think1 think2\n"


@pytest.mark.parametrize("flags", [["--plain"], []])
def test_one_shot_never_prints_control_sequences_from_the_server(chatrepl_home, fake_server,
                                                                flags: list[str]) -> None:
    fake_server.behavior.reasoning_chunks = ["plan \x1b", "]0;title\x07 \u202eevil"]
    fake_server.behavior.content_chunks = ["ok \x1b", "]52;c;cm0gLXJm\x07", " \x1b[2J\x1b[H› ",
                                           "\x9b31m done"]
    code, out, err = one_shot(chatrepl_home, fake_server.url, *flags, "hi")
    assert code == 0
    assert unsafe(out) == [] and unsafe(err) == []
    assert out == "ok ]52;c;cm0gLXJm [2J[H› 31m done\n"


def test_one_shot_error_text_from_the_server_is_cleaned(chatrepl_home, fake_server) -> None:
    fake_server.behavior.chat_status = 500
    fake_server.behavior.error_body = '{"error": {"message": "bad \\u001b]0;pwned\\u0007 thing"}}'
    code, _, err = one_shot(chatrepl_home, fake_server.url, "hi")
    assert code == 1 and err.startswith("chatrepl: ") and unsafe(err) == []


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
