"""Faulty servers: every fault mode in one-shot mode and in the REPL layer (discovery faults:
test_faults_discovery.py; the table: faultsetup.py).

For each mode: one clear line (no traceback), the conversation exactly as before the failed turn,
the REPL alive afterwards, and the number of requests the server saw bounded by 1 + max_retries
(max_retries is 1 in these configs).
"""

from __future__ import annotations

import io
import json

import pytest
from faultsetup import (
    CHAT_FAULTS,
    Fault,
    check_request_count,
    one_error_line,
    params,
)
from interrupts import Interrupter
from replhelpers import type_lines

from chatrepl.messages import Message
from chatrepl.render import Printer
from chatrepl.repl import handle_line

# -- one-shot mode ---------------------------------------------------------------------------

@pytest.mark.parametrize("fault", params(CHAT_FAULTS))
def test_one_shot_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    model = f"{fault.target}/fake-chat"
    code, out, err = setup.main("-m", "fake/fake-chat", "first")
    assert (code, err) == (0, "")
    saved = setup.autosave()
    assert saved is not None and json.loads(saved)["messages"][0]["content"] == "first"

    setup.apply(fault)
    before = setup.chat_requests()
    code, out, err = setup.main("--continue", "-m", model, "second")
    assert code == 1
    # Only a reply cut off mid-stream has shown some text; nothing else prints a reply.
    assert out.startswith("Hello from the ") if fault.behavior.get("chat_fault") else out == ""
    one_error_line(err, f"chatrepl: {model}: ", fault.fragment)
    check_request_count(fault, setup.chat_requests() - before)
    assert setup.autosave() == saved  # the saved conversation is exactly as before the turn

    setup.heal()
    code, _out, err = setup.main("--continue", "-m", "fake/fake-chat", "third")
    assert (code, err) == (0, "")
    messages = json.loads(setup.autosave() or b"{}")["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["first", "third"]


@pytest.mark.parametrize("fault", params([f for f in CHAT_FAULTS
                                          if f.behavior.get("chat_fault")]))
def test_one_shot_error_after_partial_text_ends_the_line_first(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    setup.apply(fault)
    code, out, _err = setup.main("-m", "fake/fake-chat", "hello")
    assert code == 1 and out.startswith("Hello from the ")
    assert out.endswith("\n")


def counting_printer(interrupter: Interrupter) -> type[Printer]:
    """A Printer that tells `interrupter` of each piece of the reply (one per chunk read)."""

    class CountingPrinter(Printer):
        def content(self, text: str) -> None:
            super().content(text)
            interrupter.progress()

    return CountingPrinter


def test_one_shot_never_ending_stream_interrupted(make_setup, monkeypatch) -> None:
    """Ctrl-C (a real SIGINT) once three chunks have arrived, again if chunks still come."""
    setup = make_setup()
    setup.server.behavior.chat_fault = "never_end"
    with Interrupter(start_after=3) as interrupter:
        monkeypatch.setattr("chatrepl.entry.Printer", counting_printer(interrupter))
        code, out, err = setup.main("-m", "fake/fake-chat", "hello")
    assert interrupter.raised >= 1
    assert code == 130
    assert "Traceback" not in err and err.count("\n") <= 1
    assert out.startswith("Hello from the ")
    assert setup.chat_requests() == 1
    messages = json.loads(setup.autosave() or b"{}")["messages"]
    assert messages[0] == {"role": "user", "content": "hello"}
    assert messages[1]["interrupted"] is True
    assert out.startswith(messages[1]["content"]) and messages[1]["content"]


# -- the REPL layer --------------------------------------------------------------------------

@pytest.mark.parametrize("fault", params(CHAT_FAULTS))
def test_repl_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    state, _out, err = setup.repl_state()
    handle_line(state, "first")
    assert err.getvalue() == "" and len(state.chat.messages) == 2
    before = list(state.chat.messages)
    saved = setup.autosave()

    setup.apply(fault)
    if fault.target != "fake":
        handle_line(state, f"/model {fault.target}/fake-chat")
    requests = setup.chat_requests()
    handle_line(state, "second")
    one_error_line(err.getvalue(), f"error: {fault.target}/fake-chat: ", fault.fragment)
    check_request_count(fault, setup.chat_requests() - requests)
    assert state.chat.messages == before
    assert setup.autosave() == saved
    assert not state.should_exit

    # Alive: the next turn works and carries the conversation on.
    setup.heal()
    handle_line(state, "/model fake/fake-chat")
    handle_line(state, "third")
    assert [m.content for m in state.chat.messages if m.role == "user"] == ["first", "third"]
    sent = setup.server.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["first", "third"]


def test_repl_unknown_model_is_marked_and_others_suggested(make_setup) -> None:
    setup = make_setup()
    setup.server.behavior.unknown_models = {"fake-chat"}
    state, out, err = setup.repl_state()
    handle_line(state, "hello")
    assert "404" in err.getvalue()
    assert "fake-chat" in state.runtime.manager["fake"].invalid_models
    assert "try: dead/fake-chat" in out.getvalue()
    assert state.chat.messages == []


def test_repl_never_ending_stream_ctrl_c(make_setup) -> None:
    setup = make_setup()
    state, _out, err = setup.repl_state()
    handle_line(state, "first")
    before = list(state.chat.messages)
    setup.server.behavior.chat_fault = "never_end"
    out = io.StringIO()
    with Interrupter(start_after=4) as interrupter:
        state.printer = counting_printer(interrupter)(out, err)
        handle_line(state, "second")
    assert interrupter.raised >= 1
    assert err.getvalue() == ""
    assert "[interrupted]" in out.getvalue()
    assert state.chat.messages[:2] == before
    partial = state.chat.messages[3]
    assert state.chat.messages[2] == Message("user", "second")
    assert partial.interrupted is True and partial.content.startswith("Hello")
    assert json.loads(setup.autosave() or b"{}")["messages"][3]["interrupted"] is True

    setup.heal()
    handle_line(state, "third")
    assert len(state.chat.messages) == 6
    sent = setup.server.requests[-1].body["messages"]
    assert all(set(m) == {"role", "content"} for m in sent)
    assert sent[3]["content"] == partial.content


def test_repl_loop_stays_alive_through_errors(make_setup) -> None:
    """The real loop (pipe input): a refused connection in the middle of a session."""
    setup = make_setup()
    state, _out, err = setup.repl_state()
    lines = ["first", "/model dead/fake-chat", "second", "/model fake/fake-chat", "third",
             "/save after-errors"]
    type_lines(state, *lines)
    assert err.getvalue().count("\n") == 1 and "cannot connect" in err.getvalue()
    assert [m.content for m in state.chat.messages if m.role == "user"] == ["first", "third"]
    assert state.store.load("after-errors")["messages"] == [m.to_json() for m in state.chat.messages]
