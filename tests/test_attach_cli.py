"""Attachments in a one-shot run: `-a PATH`, text piped to stdin with a prompt, and refusals
before any request (exit 2, one line)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from attachhelpers import PNG, chat_bodies, last_user_content

from chatrepl.cli import main


@pytest.fixture
def env(chatrepl_home: Path, fake_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    # gpt-3.5-turbo: the bundled models.dev facts say text input only; fake-chat is unknown.
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n  fake:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    catalog_id: openai\n"
        "    valid_models: [fake-chat, gpt-3.5-turbo]\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"CHATREPL_HOME": str(chatrepl_home)}


def _run(argv: list[str], env: dict, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_piped_stdin_with_a_prompt_is_sent_as_an_attachment_plus_the_prompt(env, fake_server) -> None:
    code, _out, err = _run(["-m", "fake/fake-chat", "review this"], env, stdin="-old\n+new\n")
    assert (code, err) == (0, "")
    assert last_user_content(fake_server) == (
        "===== stdin =====\n-old\n+new\n===== end of stdin =====\n\nreview this")


def test_attach_option_repeats_and_sends_text_and_image(env, fake_server) -> None:
    Path("a.txt").write_text("alpha\n", encoding="utf-8")
    Path("dot.png").write_bytes(PNG)
    code, _out, err = _run(["-m", "fake/fake-chat", "-a", "a.txt", "--attach", "dot.png", "what?"],
                           env)
    assert (code, err) == (0, "")
    text, image = last_user_content(fake_server)
    assert text["text"].startswith("===== a.txt =====\nalpha\n") and text["text"].endswith("what?")
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_an_image_to_a_text_only_model_exits_2_before_any_request(env, fake_server) -> None:
    Path("dot.png").write_bytes(PNG)
    code, out, err = _run(["-m", "fake/gpt-3.5-turbo", "-a", "dot.png", "what?"], env)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "takes no images" in err and "`chatrepl models --vision`" in err
    assert chat_bodies(fake_server) == []


def test_a_missing_attachment_exits_2_before_any_request(env, fake_server) -> None:
    code, out, err = _run(["-m", "fake/fake-chat", "-a", "nope.txt", "hi"], env)
    assert (code, out, err) == (2, "", "chatrepl: nope.txt: no such file\n")
    assert chat_bodies(fake_server) == []


def test_continue_sends_the_attached_content_again(env, fake_server) -> None:
    Path("a.txt").write_text("alpha\n", encoding="utf-8")
    assert _run(["-m", "fake/fake-chat", "-a", "a.txt", "first"], env)[0] == 0
    first = chat_bodies(fake_server)[-1]["messages"][0]
    Path("a.txt").unlink()
    assert _run(["--continue", "second"], env)[0] == 0
    assert chat_bodies(fake_server)[-1]["messages"][0] == first
