"""The REPL loop driven through prompt_toolkit's pipe input against the loopback server."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from replhelpers import build_repl_state, type_lines

from chatrepl.messages import Message
from chatrepl.render import Printer
from chatrepl.repl import Prepared, discovery_status, toolbar_text
from chatrepl.replstate import ReplState


def repl_runner(home: Path, config: str, provider: str, model: str, *, since_last_run: bool = False):
    """Write `config`, build a REPL state, and return a function that runs the REPL over typed
    lines and returns (state, printed text; only this run's text when `since_last_run`)."""
    (home / "config.yaml").write_text(config, encoding="utf-8")
    state, out, _err = build_repl_state(home, provider, model)

    def run(*lines: str) -> tuple[ReplState, str]:
        start = len(out.getvalue()) if since_last_run else 0
        type_lines(state, *lines)
        return state, out.getvalue()[start:]

    return run


@pytest.fixture
def repl(chatrepl_home: Path, fake_server) -> Iterator:
    """Two providers on the loopback server; the REPL starts on fake/fake-chat."""
    yield repl_runner(chatrepl_home,
                      "providers:\n"
                      "  fake:\n"
                      f"    base_api_url: {fake_server.url}\n"
                      "    valid_models: {fake-chat: fc}\n"
                      "  other:\n"
                      f"    base_api_url: {fake_server.url}\n"
                      "    valid_models: [other-model]\n",
                      "fake", "fake-chat")


def test_chat_turn_streams_reply_and_autosaves(repl, fake_server, chatrepl_home: Path) -> None:
    fake_server.behavior.chat_reply = "Hi there friend"
    state, printed = repl("hello")
    assert "Hi there friend" in printed
    assert [m.role for m in state.chat.messages] == ["user", "assistant"]
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
    assert state.chat.messages[0].content == "remember this"
    assert "mytalk" in state.store.names()


def test_system_retry_and_exit(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "again"
    state, printed = repl("/system Be brief.", "/sp", "question", "/retry", "/exit", "never sent")
    assert "system prompt: Be brief." in printed
    assert [m.role for m in state.chat.messages] == ["user", "assistant"]
    assert fake_server.count("/chat/completions") == 2
    assert state.should_exit
    bodies = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert bodies[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_help_lists_every_command(repl) -> None:
    _, printed = repl("/help")
    for name in ("/model", "/models", "/providers", "/discover", "/system", "/clear", "/save",
                 "/load", "/retry", "/exit"):
        assert name in printed


# -- model knowledge in the REPL (catalog facts, cost, context) -------------------------------


@pytest.fixture
def catalog_repl(chatrepl_home: Path, fake_server) -> Iterator:
    """A REPL whose provider is named like a catalog provider, so facts and prices apply."""
    yield repl_runner(chatrepl_home,
                      "providers:\n"
                      "  openai:\n"
                      f"    base_api_url: {fake_server.url}\n"
                      "    valid_models: {gpt-4o-mini: 4o-mini, o3-mini: o3m, tiny-local-thing: tiny}\n",
                      "openai", "gpt-4o-mini", since_last_run=True)


def test_info_card_and_fact_filters(catalog_repl) -> None:
    _, printed = catalog_repl("/info", "/info o3m")
    assert "Context window    128k (128,000 tokens)" in printed
    assert "Input price       $0.15 / 1M tokens" in printed
    assert "openai/o3-mini" in printed and "Reasoning         yes" in printed
    _, printed = catalog_repl("/models --vision")
    assert printed.startswith("openai/gpt-4o-mini")
    assert "o3-mini" not in printed and "tiny-local-thing" not in printed
    _, printed = catalog_repl("/models --min-context 150000")
    assert printed.startswith("openai/o3-mini") and "gpt-4o-mini" not in printed


def test_reply_reports_tokens_and_cost_and_toolbar_totals(catalog_repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "one two three"
    state, printed = catalog_repl("hello there")
    assert "2 in · 3 out · <$0.0001" in printed  # a tiny cost never reads as free
    assert state.session_cost > 0
    assert "<$0.0001" in toolbar_text(state) and "tokens 5" in toolbar_text(state)


def test_unknown_price_shows_no_cost_at_all(catalog_repl, fake_server) -> None:
    state, printed = catalog_repl("/model tiny", "hello")
    assert " in · " in printed and " out" in printed and "$" not in printed
    assert state.cost_unknown and state.cost_text() == ""  # never `$0+`
    assert "$" not in toolbar_text(state)


def test_some_unknown_prices_show_the_known_sum_as_at_least(catalog_repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "one two three"
    state, _ = catalog_repl("hello there", "/model tiny", "hello")
    assert state.cost_unknown and state.session_cost > 0
    assert re.fullmatch(r"≥\$0\.0000\d+", state.cost_text()) and "+" not in toolbar_text(state)


def test_switching_to_a_smaller_context_warns_before_sending(catalog_repl, fake_server) -> None:
    state, printed = catalog_repl("/model o3m")
    assert "context window" not in printed
    # ~150k tokens: fits o3-mini (200k), not gpt-4o-mini (128k).
    state.chat.messages = [Message("user", "word " * 120_000),
                           Message("assistant", "ok")]
    state, printed = catalog_repl("/model 4o-mini")
    assert "larger than openai/gpt-4o-mini's context window (128,000)" in printed
    assert state.current_model == "openai/gpt-4o-mini"
    assert fake_server.count("/chat/completions") == 0


def test_completion_meta_shows_facts(catalog_repl) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from chatrepl.repl import build_completer

    state, _ = catalog_repl()
    text = "/model gpt-4o-m"
    completions = list(build_completer(state).get_completions(Document(text, len(text)),
                                                              CompleteEvent()))
    meta = completions[0].display_meta_text
    assert completions[0].text == "openai/gpt-4o-mini"
    assert "128k" in meta and "$0.15/$0.60" in meta and "4o-mini" in meta


def test_markdown_printer_styles_completed_lines_only_when_colour_is_on() -> None:
    out = io.StringIO()
    printer = Printer(out, color=True)
    for chunk in ("# Tit", "le\n", "plain ", "text"):
        printer.content(chunk)
    printer.finish_stream()
    shown = out.getvalue()
    assert shown.startswith("# Tit")  # raw text appears at once
    assert "\x1b[" in shown and shown.endswith("plain text\n")
    plain = io.StringIO()
    printer = Printer(plain, color=False)
    for chunk in ("# Tit", "le\n", "plain ", "text"):
        printer.content(chunk)
    printer.finish_stream()
    assert plain.getvalue() == "# Title\nplain text\n"


def test_background_work_starts_once_after_the_first_prompt_is_drawn(repl, make_repl_state) -> None:
    from chatrepl.repl import run_repl as run

    calls: list[int] = []
    state = make_repl_state("fake", "fake-chat").state
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/model\r/model\r\x04")
        assert run(lambda _terminal: Prepared(state, (), lambda: calls.append(1)), input=pipe,
                   output=DummyOutput()) == 0
    assert calls == [1]


class CountingOut(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_streamed_text_is_written_per_frame_not_per_chunk() -> None:
    import threading

    out = CountingOut()
    printer = Printer(out)
    printer.content("first")
    assert out.getvalue() == "first"  # the first token is never held back
    for index in range(2000):
        printer.content(f" w{index}")
    assert out.writes < 500  # 2,001 chunks, far fewer writes
    printer.flush()
    held = threading.Event()
    original_flush = printer.flush

    def flush_and_signal() -> None:
        original_flush()
        held.set()

    printer.flush = flush_and_signal  # the timer calls flush: a stalled stream still shows up
    printer._last_flush = float("inf")
    printer.content(" stalled")
    assert held.wait(timeout=5)
    assert out.getvalue().endswith(" w1999 stalled")
    printer.finish_stream()
    assert out.getvalue() == "first" + "".join(f" w{i}" for i in range(2000)) + " stalled\n"


def test_alt_enter_adds_a_line_and_a_paste_stays_one_message(repl, fake_server) -> None:
    state, _ = repl("first line\x1b\rsecond line", "\x1b[200~pasted one\npasted two\x1b[201~")
    users = [m.content for m in state.chat.messages if m.role == "user"]
    assert users == ["first line\nsecond line", "pasted one\npasted two"]


def test_ctrl_c_clears_the_line_without_sending(repl, fake_server) -> None:
    state, _ = repl("never sent\x03/model")
    assert state.chat.messages == []
    assert fake_server.count("/chat/completions") == 0


def test_continue_resumes_the_last_conversation(chatrepl_home: Path, fake_server) -> None:
    from chatrepl.cli import main

    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n    valid_models: [fake-chat]\n",
        encoding="utf-8")
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    out, err = io.StringIO(), io.StringIO()
    assert main(["-m", "fake/fake-chat", "-s", "Be terse.", "remember 42"], env=env,
                stdin=io.StringIO(""), stdout=out, stderr=err) == 0
    out = io.StringIO()
    assert main(["--continue", "what number?"], env=env, stdin=io.StringIO(""), stdout=out,
                stderr=err) == 0
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")][-1]
    assert sent["model"] == "fake-chat"
    assert [m["content"] for m in sent["messages"]] == [
        "Be terse.", "remember 42", "Hello from the fake server.", "what number?"]
