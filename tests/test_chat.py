"""ChatSession against the loopback OpenAI server: real HTTP through the official SDK."""

from __future__ import annotations

import json
import socket

import pytest
from chathelpers import KEY, REPLY, MakeSession, chat_bodies, first_exchange
from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession, TurnResult
from chatrepl.config import ChatSettings
from chatrepl.errors import ChatError
from chatrepl.manager import ProviderManager
from chatrepl.messages import Message
from chatrepl.reply import StreamEvent, Usage


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
    assert session.messages == [Message("user", "hi there"),
                                Message("assistant", REPLY)]
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
    assert [m.role for m in session.messages] == ["user", "assistant"]


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
    assert session.messages[-1] == Message("assistant", REPLY)

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
    assert session.messages[-1] == Message("assistant", REPLY)
    assert len(chat_bodies(fake_server)) == 1


# -- errors: one line, no key, conversation unchanged, bounded requests --------------------

def test_error_event_mid_stream(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    session = make_session(max_retries=2)
    before = first_exchange(session)
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
    assert [m.content for m in session.messages] == ["first", REPLY, "third", REPLY]


def test_reset_mid_stream(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    session = make_session(max_retries=2)
    before = first_exchange(session)
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
    before = first_exchange(session)
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
    before = first_exchange(session)
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
