"""Which words of argv are a subcommand and which are the prompt; piped prompts as typed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl.cli import main


@pytest.fixture
def env(write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> dict[str, str]:
    write_config("providers:\n"
                 "  fake:\n"
                 f"    base_api_url: {fake_server.url}\n"
                 "    valid_models: [fake-chat]\n"
                 "discovery: {on_startup: false}\n")
    return {"CHATREPL_HOME": str(chatrepl_home)}


def _run(argv: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _prompts(server: FakeOpenAIServer) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.requests
            if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("argv", [
    ["-m", "fake/fake-chat", "discover"],
    ["--plain", "models"],
    ["-m", "fake/fake-chat", "--", "providers"],
])
def test_a_subcommand_name_after_the_first_argument_is_the_prompt(
        env: dict[str, str], fake_server: FakeOpenAIServer, argv: list[str]) -> None:
    code, out, err = _run(argv, env)
    assert (code, err) == (0, "")
    assert out == fake_server.behavior.chat_reply + "\n"
    assert _prompts(fake_server) == [argv[-1]]


def test_a_subcommand_as_the_first_argument_still_runs(env: dict[str, str],
                                                       fake_server: FakeOpenAIServer) -> None:
    code, out, err = _run(["providers", "--json"], env)
    assert (code, err) == (0, "")
    assert [row["provider"] for row in json.loads(out)] == ["fake"]
    assert _prompts(fake_server) == []


@pytest.mark.parametrize(("piped", "sent"), [
    ("q\n", "q"),
    ("two lines\nof text\r\n\n", "two lines\nof text"),
    ("  indented, no newline", "  indented, no newline"),
])
@pytest.mark.parametrize("words", [[], ["-"]])
def test_piped_prompt_loses_its_trailing_newlines(env: dict[str, str], fake_server: FakeOpenAIServer,
                                                  piped: str, sent: str, words: list[str]) -> None:
    code, _out, err = _run(["-m", "fake/fake-chat", *words], env, stdin=piped)
    assert (code, err) == (0, "")
    assert _prompts(fake_server) == [sent]
