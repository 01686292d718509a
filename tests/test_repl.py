"""The REPL loop driven through prompt_toolkit's pipe input against the loopback server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.chat import ChatSession
from chatrepl.paths import resolve_paths
from chatrepl.render import Printer
from chatrepl.repl import discovery_status, run_repl, toolbar_text
from chatrepl.replstate import ReplState
from chatrepl.runtime import build_runtime
from chatrepl.sessions import SessionStore


@pytest.fixture
def repl(chatrepl_home: Path, fake_server) -> Iterator:
    """A function that runs the REPL over typed text and returns (state, printed text)."""
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n"
        "  fake:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    valid_models: {fake-chat: fc}\n"
        "  other:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    valid_models: [other-model]\n",
        encoding="utf-8",
    )
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    paths = resolve_paths(env)
    runtime = build_runtime(paths, env, synchronous=True)
    store = SessionStore(paths.sessions_dir, paths.autosave_file)
    chat = ChatSession(runtime.manager, env, runtime.config.chat, provider="fake", model="fake-chat")
    out = io.StringIO()
    state = ReplState(runtime, chat, store, Printer(out))

    def run(*lines: str) -> tuple[ReplState, str]:
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            for line in lines:
                pipe.send_text(line + "\r")
            pipe.send_text("\x04")
            assert run_repl(state, input=pipe, output=DummyOutput()) == 0
        return state, out.getvalue()

    yield run


def test_chat_turn_streams_reply_and_autosaves(repl, fake_server, chatrepl_home: Path) -> None:
    fake_server.behavior.chat_reply = "Hi there friend"
    state, printed = repl("hello")
    assert "Hi there friend" in printed
    assert [m["role"] for m in state.chat.messages] == ["user", "assistant"]
    saved = json.loads((chatrepl_home / "state" / "autosave.json").read_text())
    assert saved["messages"][1]["content"] == "Hi there friend"


def test_model_switch_by_short_name_and_bad_name_keeps_current(repl) -> None:
    state, printed = repl("/model other-model", "/model nonexistent-thing", "/model fc")
    assert "model: other/other-model" in printed
    assert "unknown model 'nonexistent-thing'" in printed
    assert state.current_model == "fake/fake-chat"
    assert state.recent_models()[:2] == ["fake/fake-chat", "other/other-model"]


def test_model_without_argument_shows_current(repl) -> None:
    _, printed = repl("/model")
    assert "model: fake/fake-chat" in printed


def test_unknown_command_suggests_closest(repl) -> None:
    _, printed = repl("/modle x")
    assert "unknown command /modle" in printed
    assert "did you mean /mod" in printed


def test_discover_updates_models_and_toolbar(repl, fake_server) -> None:
    fake_server.behavior.models = ["fresh-model", "text-embedding-3-small"]
    state, printed = repl("/discover fake", "/models fresh")
    assert "fake/fresh-model" in printed
    assert "fake 2" in discovery_status(state)  # fake-chat from config + fresh-model
    assert "tokens 0" in toolbar_text(state)


def test_error_keeps_conversation_and_repl_alive(repl, fake_server) -> None:
    fake_server.behavior.chat_status = 500
    state, printed = repl("first", "/model other-model")
    assert "error:" in printed and "500" in printed
    assert state.chat.messages == []
    assert state.current_model == "other/other-model"


def test_save_and_load_round_trip(repl, fake_server) -> None:
    state, printed = repl("remember this", "/save mytalk", "/clear", "/load mytalk")
    assert "saved to" in printed
    assert state.chat.messages[0]["content"] == "remember this"
    assert "mytalk" in state.store.names()


def test_system_retry_and_exit(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "again"
    state, printed = repl("/system Be brief.", "/sp", "question", "/retry", "/exit", "never sent")
    assert "system prompt: Be brief." in printed
    assert [m["role"] for m in state.chat.messages] == ["user", "assistant"]
    assert fake_server.count("/chat/completions") == 2
    assert state.should_exit
    bodies = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert bodies[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_help_lists_every_command(repl) -> None:
    _, printed = repl("/help")
    for name in ("/model", "/models", "/providers", "/discover", "/system", "/clear", "/save",
                 "/load", "/retry", "/exit"):
        assert name in printed
