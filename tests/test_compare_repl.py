"""/compare, /keep and /compare off in the REPL (typed into the real loop), and Tab completion
of every model name of /compare."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from comparehelpers import chat_bodies_of, config_text, started_servers
from interrupts import Interrupter
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_repl import repl_runner

from chatrepl.messages import Message
from chatrepl.repl import build_completer, handle_line
from chatrepl.toolbar import toolbar_text


@pytest.fixture
def servers() -> Iterator[list]:
    with started_servers() as started:
        yield started


@pytest.fixture
def repl(chatrepl_home: Path, servers):
    """The REPL on alpha/alpha-model, with providers alpha, beta and gamma (one server each)."""
    return repl_runner(chatrepl_home, config_text(servers), "alpha", "alpha-model",
                       since_last_run=True)


def test_compare_sends_to_every_model_and_keep_goes_on_with_the_chosen_reply(repl, servers) -> None:
    servers[0].behavior.chat_delay = 0.2
    state, printed = repl("first question")
    assert state.chat.messages[-1].content == "alpha says hi"
    state, printed = repl("/compare alpha/alpha-model beta/beta-model gamma/gamma-model",
                          "which one?")
    assert "compare mode: the next message goes to alpha/alpha-model, beta/beta-model," in printed
    for name in ("alpha", "beta", "gamma"):
        assert f"{name} says hi" in printed
        body = chat_bodies_of(servers[("alpha", "beta", "gamma").index(name)])[-1]
        assert [m["content"] for m in body["messages"]] == [
            "first question", "alpha says hi", "which one?"]
    assert "/keep K (1-3)" in printed
    assert len(state.chat.messages) == 2  # nothing kept yet

    state, printed = repl("/keep 2")
    assert "kept reply 2 (beta/beta-model)" in printed
    assert state.current_model == "beta/beta-model"
    assert state.chat.messages[-2:] == [Message("user", "which one?"),
                                        Message("assistant", "beta says hi")]
    turn = state.compare.kept_turns[-1]
    assert turn.kept.model == "beta/beta-model"
    assert [(b.model, b.message.content) for b in turn.others] == [
        ("alpha/alpha-model", "alpha says hi"), ("gamma/gamma-model", "gamma says hi")]

    repl("/compare off", "and then?")  # the next message goes to the kept reply's model only
    sent = chat_bodies_of(servers[1])[-1]["messages"]
    assert [m["content"] for m in sent] == [
        "first question", "alpha says hi", "which one?", "beta says hi", "and then?"]
    assert len(chat_bodies_of(servers[2])) == 1


def test_in_compare_mode_the_next_message_goes_on_from_the_kept_reply(repl, servers) -> None:
    state, _ = repl("/compare al be", "one", "/keep 1", "two")
    assert "compare ×2" in toolbar_text(state)
    for server in servers[:2]:
        sent = chat_bodies_of(server)[-1]["messages"]
        assert [m["content"] for m in sent] == ["one", "alpha says hi", "two"]
    assert state.compare is not None and state.compare.pending is not None


def test_the_parameters_in_force_go_to_every_compared_model(repl, servers) -> None:
    repl("/set temperature 0.3", "/compare al be", "hi")
    for server in servers[:2]:
        assert chat_bodies_of(server)[-1]["temperature"] == 0.3


def test_a_failing_model_shows_its_error_and_the_others_can_be_kept(repl, servers) -> None:
    servers[1].behavior.chat_status = 500
    state, printed = repl("/compare alpha-model beta-model", "hello", "/keep 2", "/keep 1")
    assert "\nerror: beta/beta-model: server error 500" in printed
    assert "reply 2 (beta/beta-model) failed" in printed
    assert state.chat.messages[-1] == Message("assistant", "alpha says hi")
    assert state.cost_text() == ""  # no price known; the run is counted without one
    assert state.chat.totals.completion_tokens == 3


def test_compare_mode_refuses_a_second_message_before_a_reply_is_kept(repl, servers) -> None:
    state, printed = repl("/compare al be", "one", "two")
    assert "keep a reply first: /keep K (1-2), or /compare off" in printed
    assert len(chat_bodies_of(servers[0])) == 1
    state, printed = repl("/compare off")
    assert "the compared replies were not kept" in printed
    assert state.compare is None and state.chat.messages == []
    assert "compare" not in toolbar_text(state)


@pytest.mark.parametrize(("line", "expected"), [
    ("/compare alpha-model", "takes 2 to 6 different models (got 1)"),
    ("/compare alpha-model alpha/alpha-model", "(got 1)"),
    ("/compare alpha-model nowhere-model", "unknown model 'nowhere-model'"),
    ("/keep 1", "compare mode is off"),
])
def test_bad_compare_lines_say_what_to_do(repl, line: str, expected: str) -> None:
    state, printed = repl(line)
    assert expected in printed
    assert state.compare is None


def test_compare_alone_says_whether_it_is_on(repl) -> None:
    _, printed = repl("/compare", "/compare al be", "/compare")
    assert "compare mode: off\n" in printed
    assert "compare mode: alpha/alpha-model, beta/beta-model\n" in printed


def test_keep_needs_a_number_and_a_comparison(repl) -> None:
    _, printed = repl("/compare al be", "/keep", "/keep two", "/keep 1")
    assert printed.count("usage: /keep K (a reply number, 1-2)") == 2
    assert "nothing to keep: send a message in compare mode first" in printed


def test_keep_after_the_conversation_changed_is_refused(repl) -> None:
    state, printed = repl("zero", "/compare al be", "one", "/clear", "/keep 1")
    assert "the conversation changed since the comparison" in printed
    assert state.chat.messages == []


def test_tab_completes_every_model_name_of_compare(repl) -> None:
    state, _ = repl("/compare")
    completer = build_completer(state)

    def texts(line: str) -> list[str]:
        found = completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
        return [c.text for c in found]

    assert texts("/compare alp") == ["alpha/alpha-model"]
    assert texts("/compare alpha/alpha-model be") == ["beta/beta-model"]
    assert texts("/compare alpha/alpha-model beta/beta-model gam") == ["gamma/gamma-model"]
    assert "off" in texts("/compare of")
    assert "off" not in texts("/compare alpha/alpha-model of")


class _TerminalBuffer(io.StringIO):
    """A buffer that says it is a terminal, so the comparison is drawn live; `on_write` runs
    at each write (a frame drawn)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_write: Callable[[], None] = lambda: None

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.on_write()
        return super().write(text)


def test_ctrl_c_stops_every_reply_and_a_partial_one_can_be_kept(make_repl_state, write_config,
                                                                 servers) -> None:
    """A real SIGINT to the main thread while two endless replies are drawn live."""
    write_config(config_text(servers))
    out = _TerminalBuffer()
    state = make_repl_state("alpha", "alpha-model", out=out).state
    for server in servers[:2]:
        server.behavior.chat_fault = "never_end"
    handle_line(state, "/compare al be")
    with Interrupter(start_after=4) as interrupter:
        out.on_write = lambda: None if interrupter.raised else interrupter.progress()
        handle_line(state, "tell me everything")
    out.on_write = lambda: None
    assert interrupter.raised >= 1
    assert "[interrupted]" in out.getvalue()
    mode = state.compare
    assert mode is not None and mode.pending is not None and mode.pending.interrupted
    partial = next(a for a in mode.pending.answers if a.text)
    number = mode.pending.answers.index(partial) + 1
    handle_line(state, f"/keep {number}")
    assert state.chat.messages[-1] == Message("assistant", partial.text, interrupted=True)
    for server in servers:
        server.behavior.chat_fault = None
    handle_line(state, "/compare off")
    handle_line(state, "go on")
    index = ("alpha", "beta").index(partial.contender.provider)
    sent = chat_bodies_of(servers[index])[-1]["messages"]
    assert sent[-2:] == [{"role": "assistant", "content": partial.text},
                         {"role": "user", "content": "go on"}]
