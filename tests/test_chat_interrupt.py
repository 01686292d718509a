"""ChatSession: interrupting a reply (cancel, Ctrl-C, SIGINT), retry, clear and switching models."""

from __future__ import annotations

import signal
import threading

import pytest
from chathelpers import REPLY, MakeSession, chat_bodies, chat_manager, first_exchange, stop_after
from fakeserver import FakeOpenAIServer
from interrupts import Interrupter

from chatrepl.chat import ChatSession, TurnResult
from chatrepl.config import ChatSettings
from chatrepl.errors import ChatError, UnknownProviderError
from chatrepl.messages import Message
from chatrepl.reply import Usage

# -- interrupting ----------------------------------------------------------------------------

def _check_interrupted(session: ChatSession, result: TurnResult,
                       fake_server: FakeOpenAIServer) -> None:
    assert result.interrupted
    assert result.text == "Hello from the "
    assert session.messages[-2:] == [
        Message("user", "second"),
        Message("assistant", "Hello from the ", interrupted=True)]
    # The next turn works, and the provider sees the partial reply without the flag.
    fake_server.behavior.chat_fault = None
    assert session.send("third").text == REPLY
    sent = chat_bodies(fake_server)[-1]["messages"]
    assert sent[3] == {"role": "assistant", "content": "Hello from the "}
    assert all(set(m) == {"role", "content"} for m in sent)
    assert len(session.messages) == 6


def test_cancel_event_stops_a_never_ending_stream(make_session: MakeSession,
                                                  fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    first_exchange(session)
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    result = session.send("second", on_event=stop_after(3, cancel.set), cancel=cancel)
    _check_interrupted(session, result, fake_server)


def test_keyboard_interrupt_stops_a_never_ending_stream(make_session: MakeSession,
                                                        fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    first_exchange(session)
    fake_server.behavior.chat_fault = "never_end"

    def interrupt() -> None:
        raise KeyboardInterrupt

    result = session.send("second", on_event=stop_after(3, interrupt))
    _check_interrupted(session, result, fake_server)


def test_a_sigint_whose_keyboard_interrupt_is_swallowed_still_stops_the_reply(
        make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    """The KeyboardInterrupt of a real SIGINT is raised inside code that swallows it (as a
    `__del__` or a library callback would); the reply stops at the next chunk all the same,
    instead of reading the never-ending stream on."""
    session = make_session()
    first_exchange(session)
    fake_server.behavior.chat_fault = "never_end"
    swallowed: list[KeyboardInterrupt] = []

    def sigint_swallowed_on_the_way() -> None:
        try:
            signal.raise_signal(signal.SIGINT)  # runs the Python handler before it returns
        except KeyboardInterrupt as exc:
            swallowed.append(exc)

    # Python's own Ctrl-C handler, whatever an earlier test left installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = session.send("second", on_event=stop_after(3, sigint_swallowed_on_the_way))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(swallowed) == 1
    _check_interrupted(session, result, fake_server)


def test_sigint_while_reading_the_stream(make_session: MakeSession,
                                        fake_server: FakeOpenAIServer) -> None:
    """A real SIGINT to the main thread, arriving while it waits in the SDK for the next chunk.

    Sent once three chunks have arrived, and again should chunks still arrive after it was
    raised (an interrupt swallowed on the way is a lost Ctrl-C, not what this test is about).
    """
    session = make_session()
    first_exchange(session)
    fake_server.behavior.chat_fault = "never_end"
    with Interrupter(start_after=3) as interrupter:
        result = session.send("second", on_event=lambda _event: interrupter.progress())
    assert interrupter.raised >= 1
    assert result.interrupted and result.text.startswith("Hello from the ")
    assert session.messages[-1] == Message("assistant", result.text, interrupted=True)
    fake_server.behavior.chat_fault = None
    assert session.send("third").text == REPLY


def test_interrupt_before_any_text_leaves_conversation(make_session: MakeSession,
                                                       fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    before = first_exchange(session)
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    cancel.set()
    result = session.send("second", cancel=cancel)
    assert result.interrupted and result.text == ""
    assert session.messages == before


def test_interrupted_retry_replaces_reply_with_partial(make_session: MakeSession,
                                                       fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("first")
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    result = session.retry(on_event=stop_after(2, cancel.set), cancel=cancel)
    assert result.interrupted
    assert session.messages == [
        Message("user", "first"),
        Message("assistant", "Hello from ", interrupted=True)]


# -- retry, clear, model switching, persistence -------------------------------------------

def test_retry_resends_last_user_message(make_session: MakeSession,
                                         fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("one")
    session.send("two")
    fake_server.behavior.chat_reply = "A different answer."
    result = session.retry()
    assert result.text == "A different answer."
    assert [m.content for m in session.messages] == ["one", REPLY, "two", "A different answer."]
    assert chat_bodies(fake_server)[-1]["messages"] == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"}]


def test_failed_retry_keeps_previous_reply(make_session: MakeSession,
                                           fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("one")
    before = list(session.messages)
    fake_server.behavior.chat_status = 500
    with pytest.raises(ChatError):
        session.retry()
    assert session.messages == before


def test_retry_with_nothing_sent() -> None:
    session = ChatSession(chat_manager("http://127.0.0.1:9/v1"), {}, ChatSettings(), provider="local",
                          model="fake-chat")
    with pytest.raises(ChatError, match="nothing to retry"):
        session.retry()


def test_clear_keeps_model_prompt_and_totals(make_session: MakeSession) -> None:
    session = make_session(system_prompt="sys")
    session.send("hi")
    totals = session.totals
    session.clear()
    assert session.messages == []
    assert session.system_prompt == "sys" and session.model == "fake-chat"
    assert session.totals == totals != Usage()


def test_set_model_switches_provider(make_session: MakeSession,
                                     fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("hi")
    session.set_model("SECOND", "second-model")
    assert (session.provider, session.model) == ("second", "second-model")
    result = session.send("again")
    assert (result.provider, result.model) == ("second", "second-model")
    assert chat_bodies(fake_server)[-1]["model"] == "second-model"
    assert len(chat_bodies(fake_server)[-1]["messages"]) == 3
    with pytest.raises(UnknownProviderError):
        session.set_model("nope", "x")
    assert session.provider == "second"
