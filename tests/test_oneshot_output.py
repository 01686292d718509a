"""One-shot replies as printed: reasoning apart, and nothing a hostile server sends reaching the
terminal as a control sequence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_printing import unsafe

from chatrepl.cli import main


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
