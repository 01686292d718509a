"""Slash commands that read well: --help, REPL-named hints, /system, /save, /load, /providers."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from test_cli import run as run_cli
from test_repl import repl_runner

from chatrepl.entry import prepare_repl
from chatrepl.paths import resolve_paths
from chatrepl.runtime import build_runtime


@pytest.fixture
def repl(chatrepl_home: Path, fake_server):
    """One provider on the loopback server plus one whose key is missing; on fake/fake-chat."""
    return repl_runner(chatrepl_home,
                       "providers:\n"
                       "  fake:\n"
                       f"    base_api_url: {fake_server.url}\n"
                       "    valid_models: {fake-chat: fc}\n"
                       "  remote-provider:\n"
                       "    base_api_url: https://remote.example/v1\n"
                       "    api_key_env: REMOTE_TOKEN\n"
                       "    valid_models: [far-model]\n",
                       "fake", "fake-chat", since_last_run=True)


@pytest.mark.parametrize(("line", "expected"), [
    ("/models --help", "--min-context"),
    ("/list -h", "--tools"),
    ("/discover --help", "--validate"),
    ("/save --help", "--force"),
    ("/models gpt --help", "--max-price"),
    ("/model --help", "usage: /model [NAME]"),
    ("/system --help", "usage: /system [TEXT | --clear]"),
])
def test_every_command_answers_help_with_its_usage(repl, line: str, expected: str) -> None:
    state, printed = repl(line)
    assert expected in printed
    assert "unrecognized" not in printed and "error" not in printed.lower()
    assert state.chat.system_prompt is None  # `/system --help` did not set the prompt


def test_errors_in_the_repl_name_repl_commands(repl) -> None:
    _, printed = repl("/model nonexistent-thing")
    assert "unknown model 'nonexistent-thing'" in printed
    assert "(see `/models`)" in printed and "chatrepl models" not in printed


def test_a_double_slash_line_with_leading_spaces_sends_one_slash(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "ok"
    repl("  //x marks the spot")
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert sent[-1]["messages"][-1] == {"role": "user", "content": "/x marks the spot"}


@pytest.mark.parametrize("clear", ['/system ""', "/system --clear", "/sp ''"])
def test_system_prompt_can_be_cleared(repl, fake_server, clear: str) -> None:
    state, printed = repl("/system be brief")
    assert state.chat.system_prompt == "be brief"
    state, printed = repl(clear, "/system")
    assert state.chat.system_prompt is None
    assert "system prompt cleared" in printed and "system prompt: (none)" in printed
    fake_server.behavior.chat_reply = "ok"
    repl("hello")
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert [m["role"] for m in sent[-1]["messages"]] == ["user"]


def test_save_names_go_to_the_sessions_folder_and_slashes_are_refused(
        repl, chatrepl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    state, printed = repl("/save a/b")
    assert "may not contain '/'" in printed and "./a/b" in printed
    assert list(workdir.iterdir()) == []
    _, printed = repl("/save ./here.json", "/save notes")
    assert (workdir / "here.json").is_file()
    assert (state.store.sessions_dir / "notes.json").is_file()
    assert not (workdir / "notes").exists()


def test_save_refuses_to_overwrite_unless_forced(repl, fake_server) -> None:
    state, _ = repl("/save work")
    saved = state.store.sessions_dir / "work.json"
    before = saved.read_text()
    fake_server.behavior.chat_reply = "new words"
    _, printed = repl("hello", "/save work")
    assert "already exists" in printed and "/save --force work" in printed
    assert saved.read_text() == before
    _, printed = repl("/save --force work")
    assert "new words" in saved.read_text() and "saved to" in printed
    _, printed = repl("/save", "/save")  # the default scratch name is replaced each time
    assert "already exists" not in printed


def test_load_says_what_it_resumed(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "Paris is the capital of France, and it is lovely. " * 4
    repl("what is   the capital  of France?", "/save trip", "/clear")
    _, printed = repl("/load trip")
    assert "loaded trip: model fake/fake-chat · 2 messages" in printed
    assert "you: what is the capital of France?" in printed
    reply_line = next(line for line in printed.splitlines() if "fake-chat: Paris" in line)
    assert reply_line.endswith("…") and len(reply_line) < 100


def test_continue_after_load_resumes_what_was_loaded(repl, fake_server,
                                                    chatrepl_home: Path) -> None:
    fake_server.behavior.chat_reply = "the answer"
    repl("first question", "/save kept", "/clear")
    repl("/load kept")  # then exit, with no turn after it
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    args = argparse.Namespace(resume=True, model=None, system=None, plain=True, no_discover=True)
    state, notices, _start = prepare_repl(runtime, args, io.StringIO(), io.StringIO())
    assert [m.content for m in state.chat.messages] == ["first question", "the answer"]
    assert "resumed the last conversation: model fake/fake-chat · 2 messages" in notices


def test_continue_says_what_it_resumed(repl, fake_server, chatrepl_home: Path) -> None:
    fake_server.behavior.chat_reply = "the answer"
    repl("first question")
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    args = argparse.Namespace(resume=True, model=None, system=None, plain=True, no_discover=True)
    _state, notices, _start = prepare_repl(runtime, args, io.StringIO(), io.StringIO())
    assert "resumed the last conversation: model fake/fake-chat · 2 messages" in notices
    assert "  you: first question" in notices and "  fake-chat: the answer" in notices


def test_providers_table_is_aligned_and_names_the_key_variable(repl, chatrepl_home: Path) -> None:
    _, printed = repl("/providers")
    lines = [line for line in printed.splitlines() if "://" in line]
    assert len(lines) == 2
    assert len({line.index("http") for line in lines}) == 1
    assert len({line.index("key ") for line in lines}) == 1
    remote = next(line for line in lines if line.startswith("remote-provider"))
    assert "key missing (REMOTE_TOKEN or REMOTE_PROVIDER_API_KEY)" in remote
    assert "not discovered yet" in remote and "never" not in remote
    assert "1 model " in remote  # one model, not "1 models"
    code, out, _ = run_cli(["providers"], chatrepl_home)
    assert code == 0 and out.splitlines() == lines  # one table for the CLI and the REPL


def test_discover_failure_names_the_provider_once(write_config, chatrepl_home: Path,
                                                  fake_server) -> None:
    fake_server.behavior.models_status = 401
    write_config(f"providers:\n  bad401:\n    base_api_url: {fake_server.url}\n"
                 "    api_key: sk-something-long-enough\n")
    code, out, _ = run_cli(["discover"], chatrepl_home)
    assert code == 1
    assert out.startswith("bad401: failed: 401 unauthorized")
    assert out.count("bad401:") == 1
    assert json.loads(run_cli(["providers", "--json"], chatrepl_home)[1])[0]["key"] == "set"
