"""ChatSession against the loopback OpenAI server: real HTTP through the official SDK."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

import pytest
from fakeserver import FakeOpenAIServer
from interrupts import Interrupter

from chatrepl.chat import ChatError, ChatSession, TurnResult
from chatrepl.config import ChatSettings
from chatrepl.errors import StateError, UnknownProviderError
from chatrepl.manager import ProviderManager
from chatrepl.reply import StreamEvent, Usage

KEY = "sk-test-SECRET1234567890"
REPLY = "Hello from the fake server."

MakeSession = Callable[..., ChatSession]


def _manager(url: str) -> ProviderManager:
    return ProviderManager({
        "local": {"base_url": url, "valid_models": ["fake-chat", "other-chat"]},
        "second": {"base_url": url, "valid_models": ["second-model"]},
    })


@pytest.fixture
def make_session(fake_server: FakeOpenAIServer) -> MakeSession:
    def make(*, max_retries: int = 0, read_timeout: float = 10.0, url: str | None = None,
             system_prompt: str | None = None) -> ChatSession:
        settings = ChatSettings(connect_timeout_seconds=5.0, read_timeout_seconds=read_timeout,
                                max_retries=max_retries)
        manager = _manager(url or fake_server.url)
        return ChatSession(manager, {"LOCAL_API_KEY": KEY, "SECOND_API_KEY": KEY}, settings,
                           provider="local", model="fake-chat", system_prompt=system_prompt)

    return make


def chat_bodies(server: FakeOpenAIServer) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def assert_one_line_without_key(error: ChatError) -> None:
    text = str(error)
    assert text and "\n" not in text
    assert KEY not in text and "SECRET1234567890" not in text
    assert "Traceback" not in text


# -- happy paths -----------------------------------------------------------------------------

def test_streamed_reply_events_in_order_and_usage(make_session: MakeSession,
                                                  fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    events: list[StreamEvent] = []
    result = session.send("hi there", on_event=events.append)

    assert [e.kind for e in events] == ["content"] * 5
    assert "".join(e.text for e in events) == REPLY
    assert result == TurnResult(text=REPLY, reasoning="", interrupted=False,
                                usage=Usage(prompt_tokens=2, completion_tokens=5),
                                model="fake-chat", provider="local", finish_reason="stop")
    assert session.messages == [{"role": "user", "content": "hi there"},
                                {"role": "assistant", "content": REPLY}]
    body = chat_bodies(fake_server)[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "fake-chat"
    # The key went out in the header, as it should.
    headers = {k.lower(): v for k, v in fake_server.requests[0].headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"

    session.send("again")
    assert session.totals == Usage(prompt_tokens=2 + 8, completion_tokens=10)


def test_system_prompt_sent_first_but_not_stored(make_session: MakeSession,
                                                 fake_server: FakeOpenAIServer) -> None:
    session = make_session(system_prompt="Be brief.")
    session.send("hi")
    assert chat_bodies(fake_server)[0]["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert [m["role"] for m in session.messages] == ["user", "assistant"]


def test_stream_options_rejected_is_retried_once_without(make_session: MakeSession,
                                                         fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "reject_stream_options"
    session = make_session(max_retries=2)
    result = session.send("hi")
    assert result.text == REPLY and result.usage is None
    bodies = chat_bodies(fake_server)
    assert len(bodies) == 2
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[1]
    # Remembered: the next turn asks without it straight away.
    session.send("again")
    assert len(chat_bodies(fake_server)) == 3
    assert "stream_options" not in chat_bodies(fake_server)[2]


def test_chunk_with_empty_choices_is_skipped(make_session: MakeSession,
                                             fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "empty_choices"
    result = make_session().send("hi")
    assert result.text == REPLY and not result.interrupted
    assert result.usage == Usage(1, 5)


def test_reasoning_kept_apart_and_never_sent_back(make_session: MakeSession,
                                                  fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "reasoning"
    session = make_session()
    events: list[StreamEvent] = []
    result = session.send("think", on_event=events.append)
    assert [(e.kind, e.text) for e in events[:2]] == [("reasoning", "Let me think. "),
                                                      ("reasoning", "Still thinking. ")]
    assert all(e.kind == "content" for e in events[2:])
    assert result.reasoning == "Let me think. Still thinking. "
    assert result.text == REPLY
    assert session.messages[-1] == {"role": "assistant", "content": REPLY}

    fake_server.behavior.chat_fault = None
    session.send("next")
    second = chat_bodies(fake_server)[1]
    assert "thinking" not in json.dumps(second) and "think." not in json.dumps(second)
    assert all(set(m) == {"role", "content"} for m in second["messages"])
    assert second["messages"][1] == {"role": "assistant", "content": REPLY}


def test_stream_without_done_is_complete(make_session: MakeSession,
                                         fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "no_done"
    session = make_session()
    result = session.send("hi")
    assert result.text == REPLY and result.usage == Usage(1, 5)
    assert len(session.messages) == 2


def test_plain_json_answer_to_a_stream_request(make_session: MakeSession,
                                               fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "plain_json"
    session = make_session()
    events: list[StreamEvent] = []
    result = session.send("hi", on_event=events.append)
    assert result.text == REPLY and not result.interrupted
    assert events == [StreamEvent("content", REPLY)]
    assert result.usage == Usage(1, 5)
    assert session.messages[-1] == {"role": "assistant", "content": REPLY}
    assert len(chat_bodies(fake_server)) == 1


# -- errors: one line, no key, conversation unchanged, bounded requests --------------------

def _history(session: ChatSession, server: FakeOpenAIServer) -> list[dict]:
    session.send("first")
    assert len(session.messages) == 2
    return [dict(m) for m in session.messages]


def test_error_event_mid_stream(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    session = make_session(max_retries=2)
    before = _history(session, fake_server)
    fake_server.behavior.chat_fault = "error_event"
    seen: list[str] = []
    with pytest.raises(ChatError) as caught:
        session.send("second", on_event=lambda e: seen.append(e.text))
    assert_one_line_without_key(caught.value)
    assert "upstream model crashed" in str(caught.value)
    assert str(caught.value).startswith("local/fake-chat: ")
    assert caught.value.partial == "Hello from the " == "".join(seen)
    assert session.messages == before
    assert len(chat_bodies(fake_server)) == 2  # no retry of a stream that had started

    fake_server.behavior.chat_fault = None
    assert session.send("third").text == REPLY
    assert [m["content"] for m in session.messages] == ["first", REPLY, "third", REPLY]


def test_reset_mid_stream(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    session = make_session(max_retries=2)
    before = _history(session, fake_server)
    fake_server.behavior.chat_fault = "reset_mid_stream"
    with pytest.raises(ChatError) as caught:
        session.send("second")
    assert_one_line_without_key(caught.value)
    assert "middle of the reply" in str(caught.value)
    assert caught.value.partial == "Hello from the "
    assert session.messages == before
    assert len(chat_bodies(fake_server)) == 2


@pytest.mark.parametrize(("status", "words"), [
    (401, "401 unauthorized"), (403, "403 forbidden"), (404, "404 not found"),
])
def test_client_errors_are_one_line_and_not_retried(make_session: MakeSession,
                                                    fake_server: FakeOpenAIServer,
                                                    status: int, words: str) -> None:
    session = make_session(max_retries=2)
    before = _history(session, fake_server)
    fake_server.behavior.chat_status = status
    with pytest.raises(ChatError) as caught:
        session.send("second")
    assert_one_line_without_key(caught.value)
    assert words in str(caught.value) and "local/fake-chat" in str(caught.value)
    assert caught.value.status == status
    assert not caught.value.model_not_found
    assert session.messages == before
    assert len(chat_bodies(fake_server)) == 2


def test_401_body_echoing_the_key_is_redacted(make_session: MakeSession,
                                              fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 401
    fake_server.behavior.error_body = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {KEY}"}})
    with pytest.raises(ChatError) as caught:
        make_session().send("hi")
    assert_one_line_without_key(caught.value)
    assert "LOCAL_API_KEY" in str(caught.value)  # says what to check
    assert KEY not in repr(caught.value.args)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_errors_bounded_by_max_retries(make_session: MakeSession,
                                                 fake_server: FakeOpenAIServer,
                                                 status: int) -> None:
    fake_server.behavior.chat_status = status
    fake_server.behavior.retry_after = "0"
    session = make_session(max_retries=1)
    with pytest.raises(ChatError) as caught:
        session.send("hi")
    assert_one_line_without_key(caught.value)
    assert str(status) in str(caught.value)
    assert session.messages == []
    assert len(chat_bodies(fake_server)) == 1 + 1  # one try plus max_retries, no storm


def test_html_error_body(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 502
    fake_server.behavior.error_body = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    with pytest.raises(ChatError) as caught:
        make_session().send("hi")
    assert_one_line_without_key(caught.value)
    assert "<html" not in str(caught.value) and "502" in str(caught.value)


def test_unknown_model_404_sets_model_not_found(make_session: MakeSession,
                                                fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.unknown_models = {"other-chat"}
    session = make_session(max_retries=2)
    before = _history(session, fake_server)
    session.set_model("local", "other-chat")
    with pytest.raises(ChatError) as caught:
        session.send("second")
    assert caught.value.model_not_found
    assert caught.value.model == "other-chat" and caught.value.provider == "local"
    assert "local/other-chat" in str(caught.value) and "404" in str(caught.value)
    assert_one_line_without_key(caught.value)
    assert session.messages == before
    assert len(chat_bodies(fake_server)) == 2


def test_read_timeout_comes_from_settings(make_session: MakeSession,
                                          fake_server: FakeOpenAIServer) -> None:
    # The server would wait 60 s before answering; the configured read timeout ends it first.
    fake_server.behavior.chat_delay = 60.0
    session = make_session(read_timeout=0.2, max_retries=0)
    with pytest.raises(ChatError) as caught:
        session.send("hi")
    assert "timed out" in str(caught.value)
    assert_one_line_without_key(caught.value)
    assert session.messages == []
    assert len(chat_bodies(fake_server)) == 1


def test_connection_refused(make_session: MakeSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = make_session(url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(ChatError) as caught:
        session.send("hi")
    assert "cannot connect" in str(caught.value)
    assert_one_line_without_key(caught.value)
    assert session.messages == []


def test_missing_key_is_a_chat_error() -> None:
    manager = ProviderManager({"remote": {"base_url": "https://api.example.invalid/v1",
                                          "valid_models": ["m"]}})
    session = ChatSession(manager, {}, ChatSettings(), provider="remote", model="m")
    with pytest.raises(ChatError) as caught:
        session.send("hi")
    assert "REMOTE_API_KEY" in str(caught.value)
    assert session.messages == []


# -- interrupting ----------------------------------------------------------------------------

def _stop_after(count: int, action: Callable[[], None]) -> Callable[[StreamEvent], None]:
    seen: list[StreamEvent] = []

    def on_event(event: StreamEvent) -> None:
        seen.append(event)
        if len(seen) == count:
            action()

    return on_event


def _check_interrupted(session: ChatSession, result: TurnResult,
                       fake_server: FakeOpenAIServer) -> None:
    assert result.interrupted
    assert result.text == "Hello from the "
    assert session.messages[-2:] == [
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "Hello from the ", "interrupted": True}]
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
    _history(session, fake_server)
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    result = session.send("second", on_event=_stop_after(3, cancel.set), cancel=cancel)
    _check_interrupted(session, result, fake_server)


def test_keyboard_interrupt_stops_a_never_ending_stream(make_session: MakeSession,
                                                        fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    _history(session, fake_server)
    fake_server.behavior.chat_fault = "never_end"

    def interrupt() -> None:
        raise KeyboardInterrupt

    result = session.send("second", on_event=_stop_after(3, interrupt))
    _check_interrupted(session, result, fake_server)


def test_sigint_while_reading_the_stream(make_session: MakeSession,
                                        fake_server: FakeOpenAIServer) -> None:
    """A real SIGINT to the main thread, arriving while it waits in the SDK for the next chunk.

    Sent once three chunks have arrived, and again should chunks still arrive after it was
    raised (an interrupt swallowed on the way is a lost Ctrl-C, not what this test is about).
    """
    session = make_session()
    _history(session, fake_server)
    fake_server.behavior.chat_fault = "never_end"
    with Interrupter(start_after=3) as interrupter:
        result = session.send("second", on_event=lambda _event: interrupter.progress())
    assert interrupter.raised >= 1
    assert result.interrupted and result.text.startswith("Hello from the ")
    assert session.messages[-1] == {"role": "assistant", "content": result.text,
                                    "interrupted": True}
    fake_server.behavior.chat_fault = None
    assert session.send("third").text == REPLY


def test_interrupt_before_any_text_leaves_conversation(make_session: MakeSession,
                                                       fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    before = _history(session, fake_server)
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
    result = session.retry(on_event=_stop_after(2, cancel.set), cancel=cancel)
    assert result.interrupted
    assert session.messages == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Hello from ", "interrupted": True}]


# -- retry, clear, model switching, persistence -------------------------------------------

def test_retry_resends_last_user_message(make_session: MakeSession,
                                         fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("one")
    session.send("two")
    fake_server.behavior.chat_reply = "A different answer."
    result = session.retry()
    assert result.text == "A different answer."
    assert [m["content"] for m in session.messages] == ["one", REPLY, "two", "A different answer."]
    assert chat_bodies(fake_server)[-1]["messages"] == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"}]


def test_failed_retry_keeps_previous_reply(make_session: MakeSession,
                                           fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("one")
    before = [dict(m) for m in session.messages]
    fake_server.behavior.chat_status = 500
    with pytest.raises(ChatError):
        session.retry()
    assert session.messages == before


def test_retry_with_nothing_sent() -> None:
    session = ChatSession(_manager("http://127.0.0.1:9/v1"), {}, ChatSettings(), provider="local",
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


def test_to_dict_from_dict_round_trip(make_session: MakeSession,
                                      fake_server: FakeOpenAIServer) -> None:
    session = make_session(system_prompt="Be brief.")
    session.send("hi")
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    session.send("more", on_event=_stop_after(1, cancel.set), cancel=cancel)
    data = json.loads(json.dumps(session.to_dict()))
    assert KEY not in json.dumps(data)

    restored = ChatSession.from_dict(data, session.manager, session.env, session.settings)
    assert restored.messages == session.messages
    assert restored.messages[-1]["interrupted"] is True
    assert (restored.provider, restored.model, restored.system_prompt) == (
        "local", "fake-chat", "Be brief.")
    assert restored.totals == session.totals
    assert restored.to_dict() == data

    fake_server.behavior.chat_fault = None
    assert restored.send("go on").text == REPLY


@pytest.mark.parametrize("data", [
    [], "text", {"provider": "local"}, {"provider": "local", "model": "m", "messages": {}},
    {"provider": "local", "model": "m", "messages": [{"role": "robot", "content": "x"}]},
    {"provider": "local", "model": "m", "messages": [{"role": "user", "content": 3}]},
    {"provider": "local", "model": "m", "system_prompt": 5},
    {"format": "something-else", "provider": "local", "model": "m"},
    {"version": 99, "provider": "local", "model": "m"},
])
def test_from_dict_rejects_bad_data(data: object) -> None:
    manager = _manager("http://127.0.0.1:9/v1")
    with pytest.raises(StateError) as caught:
        ChatSession.from_dict(data, manager, {}, ChatSettings())
    assert "\n" not in str(caught.value)
