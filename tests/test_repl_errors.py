"""Failed and hostile turns in the REPL layer: one line each, the loop alive, /retry resends."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer
from replhelpers import build_repl_state

from chatrepl.cli import main
from chatrepl.repl import handle_line, toolbar_text
from chatrepl.replstate import ReplState

REPLY = "Hello from the fake server."


@pytest.fixture
def repl(chatrepl_home: Path, fake_server: FakeOpenAIServer) -> tuple[ReplState, io.StringIO]:
    (chatrepl_home / "config.yaml").write_text(
        "discovery: {on_startup: false}\n"
        "chat: {max_retries: 0, read_timeout_seconds: 10}\n"
        "providers:\n"
        "  fake:\n"
        f"    base_url: {fake_server.url}\n"
        "    valid_models: [fake-chat]\n", encoding="utf-8")
    state, _out, err = build_repl_state(chatrepl_home, "fake", "fake-chat", separate_err=True)
    return state, err


def test_retry_command_after_a_failed_first_message(repl, fake_server: FakeOpenAIServer) -> None:
    state, err = repl
    fake_server.behavior.chat_status = 500
    handle_line(state, "my question")
    assert err.getvalue().count("\n") == 1 and "500" in err.getvalue()

    fake_server.behavior.chat_status = 200
    handle_line(state, "/retry")
    assert err.getvalue().count("\n") == 1  # no "nothing to retry"
    assert [m.content for m in state.chat.messages] == ["my question", REPLY]


@pytest.mark.parametrize("fault", ["nested_chunk", "giant_event"])
def test_hostile_reply_is_one_line_and_the_loop_goes_on(repl, fake_server: FakeOpenAIServer,
                                                       fault: str) -> None:
    state, err = repl
    fake_server.behavior.chat_fault = fault
    handle_line(state, "first")
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("error: fake/fake-chat")
    assert not state.should_exit and state.chat.messages == []
    fake_server.behavior.chat_fault = None
    handle_line(state, "/retry")
    assert [m.content for m in state.chat.messages] == ["first", REPLY]


@pytest.mark.parametrize("fault", ["giant_usage", "huge_usage"])  # 400 and 5,000 digits
def test_absurd_usage_leaves_the_toolbar_readable(repl, fake_server: FakeOpenAIServer,
                                                  fault: str) -> None:
    state, err = repl
    fake_server.behavior.chat_fault = fault
    handle_line(state, "first")
    assert err.getvalue() == ""
    shown = re.search(r"tokens (\d+)", toolbar_text(state))
    assert shown is not None and int(shown.group(1)) < 1000  # not the 400-digit count


def test_discover_reports_a_redirect_and_does_not_follow_it(repl, chatrepl_home: Path,
                                                            fake_server: FakeOpenAIServer) -> None:
    with FakeOpenAIServer() as elsewhere:
        fake_server.behavior.redirect_to = f"{elsewhere.url}/models"
        out, err = io.StringIO(), io.StringIO()
        code = main(["discover", "fake"], env={"CHATREPL_HOME": str(chatrepl_home)},
                    stdin=io.StringIO(""), stdout=out, stderr=err)
        assert code == 1
        assert f"redirected (307) to {elsewhere.url}/models" in out.getvalue() + err.getvalue()
        assert elsewhere.requests == []


def test_a_ctrl_c_after_the_reply_has_ended_keeps_the_repl_and_the_turn(
        repl, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing after the stream has ended (here: while the turn is being autosaved) is
    past the code that stops a reply: the line's work ends with `[interrupted]`, the reply
    stays in the conversation and the next line is answered."""
    state, _err = repl
    out = state.printer.out
    saves: list[str] = []

    def ctrl_c_once() -> None:
        saves.append("tried")
        if len(saves) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(state, "autosave", ctrl_c_once)
    handle_line(state, "first question")
    assert out.getvalue().rstrip().endswith("[interrupted]")
    assert [m.content for m in state.chat.messages] == ["first question", REPLY]
    handle_line(state, "second question")
    assert len(state.chat.messages) == 4 and saves == ["tried", "tried"]
