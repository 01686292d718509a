"""A chat turn's errors against the loopback server: the provider's own words, advice that fits,
streams that end with `[DONE]`, /retry of a failed message, redaction, redirects, hostile replies.
"""

from __future__ import annotations

import json
import socket
import tracemalloc
from collections.abc import Callable

import openai
import pytest
from fakebehavior import ERROR_SHAPES
from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession
from chatrepl.clients import describe_api_error, make_client
from chatrepl.config import ChatSettings, ProviderConfig
from chatrepl.errors import ChatError
from chatrepl.limits import MAX_REPLY_CHARS, BoundExceeded
from chatrepl.manager import ProviderManager
from chatrepl.messages import Message
from chatrepl.reply import Reply, Usage

KEY = "sk-test-SECRET1234567890"
REPLY = "Hello from the fake server."
GOOGLE_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"  # 39 characters, the shape of a real one

MakeSession = Callable[..., ChatSession]


@pytest.fixture
def make_session(fake_server: FakeOpenAIServer) -> MakeSession:
    def make(*, url: str | None = None, key: str = KEY, max_retries: int = 0,
             **settings: float) -> ChatSession:
        manager = ProviderManager({"local": {"base_url": url or fake_server.url,
                                             "valid_models": ["fake-chat"]}})
        chat_settings = ChatSettings(connect_timeout_seconds=5.0, max_retries=max_retries,
                                     **{"read_timeout_seconds": 10.0, **settings})
        return ChatSession(manager, {"LOCAL_API_KEY": key}, chat_settings, provider="local",
                           model="fake-chat")

    return make


def failure(session: ChatSession, text: str = "hi") -> str:
    """The one line of the ChatError that `text` gets."""
    with pytest.raises(ChatError) as caught:
        session.send(text)
    line = str(caught.value)
    assert line and "\n" not in line and "Traceback" not in line
    assert KEY not in line
    return line


def chat_bodies(server: FakeOpenAIServer) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


# -- the provider's own words ----------------------------------------------------------------

@pytest.mark.parametrize("shape", sorted(ERROR_SHAPES))
def test_error_bodies_show_the_providers_text(make_session: MakeSession,
                                              fake_server: FakeOpenAIServer, shape: str) -> None:
    fake_server.behavior.chat_status = 404
    fake_server.behavior.error_body = ERROR_SHAPES[shape]
    line = failure(make_session())
    assert "not here" in line
    assert "Error code" not in line


def test_a_status_is_said_once(make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 502
    fake_server.behavior.error_body = ""
    line = failure(make_session())
    assert line.count("502") == 1, line


# -- advice that fits ------------------------------------------------------------------------

def test_quota_429_is_not_wait_and_retry(make_session: MakeSession,
                                         fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 429
    fake_server.behavior.retry_after = "0"
    fake_server.behavior.error_body = json.dumps({"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "code": "insufficient_quota"}})
    line = failure(make_session())
    assert "billing" in line and "wait and try again" not in line


def test_context_length_exceeded_says_the_conversation_is_too_long(
        make_session: MakeSession, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 400
    fake_server.behavior.error_body = json.dumps({"error": {
        "message": "This model's maximum context length is 8192 tokens.",
        "code": "context_length_exceeded"}})
    line = failure(make_session())
    assert "too long" in line and "/clear" in line and "try again" not in line


@pytest.mark.parametrize("fault", ["drop_long_prompt", "empty_stream_on_long_prompt"])
def test_server_dropping_a_long_prompt_says_it_may_be_too_long(
        make_session: MakeSession, fake_server: FakeOpenAIServer, fault: str) -> None:
    fake_server.behavior.chat_fault = fault
    session = make_session()
    assert session.send("short").text == REPLY  # a short prompt is answered
    line = failure(session, "word " * 2000)
    assert "too long" in line and "/clear" in line
    assert "cannot connect" not in line and "is the server running" not in line


def test_connection_reset_after_text_is_lost_in_the_middle(make_session: MakeSession,
                                                          fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "rst_mid_stream"
    with pytest.raises(ChatError) as caught:
        make_session().send("hi")
    assert "lost the connection in the middle of the reply" in str(caught.value)
    assert "cannot connect" not in str(caught.value)
    assert caught.value.partial == "Hello from the "


def test_cannot_connect_to_a_hosted_service_suggests_the_network() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    local = ProviderConfig(id="local", base_api_url=f"http://127.0.0.1:{port}/v1")
    client = make_client(local, {}, timeout=5.0, max_retries=0)
    with pytest.raises(openai.APIConnectionError) as caught:  # a real refused connection
        client.models.list()
    hosted = ProviderConfig(id="hosted", base_api_url="https://api.example.com/v1")
    on_hosted = describe_api_error(caught.value, hosted, {"HOSTED_API_KEY": KEY})
    assert "cannot connect" in on_hosted and "network" in on_hosted
    assert "is the server running" not in on_hosted
    assert "is the server running" in describe_api_error(caught.value, local, {})


def test_flat_error_event_mid_stream_shows_its_message(make_session: MakeSession,
                                                      fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "flat_error_event"
    line = failure(make_session())
    assert "boom" in line and "closed the connection" not in line


# -- [DONE] ends a reply ---------------------------------------------------------------------

def test_done_ends_a_reply_without_finish_reason(make_session: MakeSession,
                                                 fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "done_without_finish"
    session = make_session()
    result = session.send("hi")
    assert result.text == REPLY and not result.interrupted
    assert session.messages == [Message("user", "hi"),
                                Message("assistant", REPLY)]


# -- /retry of a failed message --------------------------------------------------------------

def test_retry_after_a_failed_turn_sends_the_failed_message(make_session: MakeSession,
                                                            fake_server: FakeOpenAIServer) -> None:
    session = make_session()
    session.send("one")
    fake_server.behavior.chat_status = 500
    with pytest.raises(ChatError):
        session.send("two")
    assert session.unsent == "two" and len(session.messages) == 2
    assert session.to_dict()["unsent"] == "two"  # saved with the conversation

    fake_server.behavior.chat_status = 200
    result = session.retry()
    assert result.text == REPLY
    assert [m.content for m in session.messages] == ["one", REPLY, "two", REPLY]
    assert [m["content"] for m in chat_bodies(fake_server)[-1]["messages"]] == ["one", REPLY, "two"]
    assert session.unsent is None


def test_retry_of_a_first_message_that_failed(make_session: MakeSession,
                                              fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 503
    session = make_session()
    with pytest.raises(ChatError):
        session.send("only")
    assert session.can_retry()
    fake_server.behavior.chat_status = 200
    assert session.retry().text == REPLY
    assert [m.content for m in session.messages] == ["only", REPLY]


# -- keys and redirects ----------------------------------------------------------------------

def test_key_after_180_characters_is_redacted_before_the_cut(make_session: MakeSession,
                                                             fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 400
    fake_server.behavior.error_body = json.dumps({"error": {
        "message": "x" * 180 + f" key {GOOGLE_KEY} with header Bearer tok_abcdef0123456789"}})
    line = failure(make_session(key=GOOGLE_KEY))
    fragments = {GOOGLE_KEY[i:i + 8] for i in range(len(GOOGLE_KEY) - 7)}
    assert not [f for f in fragments if f in line], line
    assert "tok_abcdef0123456789"[:8] not in line


def test_a_key_cut_in_two_is_still_redacted(make_session: MakeSession,
                                            fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_status = 400
    fake_server.behavior.error_body = json.dumps({"error": {
        "message": f"bad key {GOOGLE_KEY[:20]}"}})  # the provider itself cut the key
    line = failure(make_session(key=GOOGLE_KEY))
    assert GOOGLE_KEY[:8] not in line and GOOGLE_KEY[8:16] not in line


def test_a_redirect_is_an_error_naming_where_it_pointed(make_session: MakeSession,
                                                        fake_server: FakeOpenAIServer) -> None:
    with FakeOpenAIServer() as elsewhere:
        fake_server.behavior.redirect_to = f"{elsewhere.url}/chat/completions"
        line = failure(make_session())
        assert "redirect" in line and elsewhere.url in line
        assert elsewhere.requests == []  # the conversation went nowhere else

        client = make_client(ProviderConfig(id="local", base_api_url=fake_server.url),
                             {"LOCAL_API_KEY": KEY}, timeout=5.0, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:  # /models does not follow either
            client.models.list()
        assert caught.value.status_code == 307
        assert elsewhere.requests == []


# -- hostile replies: one line each, never a crash -------------------------------------------

def test_deeply_nested_chunk_is_one_line_in_words(make_session: MakeSession,
                                                  fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "nested_chunk"
    line = failure(make_session())
    assert "malformed reply (nested too deeply)" in line
    assert "RecursionError" not in line and "Error)" not in line  # no Python class names


def test_usage_count_too_long_for_int_keeps_the_reply(make_session: MakeSession,
                                                      fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "huge_usage"  # a 5,000-digit prompt_tokens
    session = make_session()
    result = session.send("hi")
    assert result.text == "Hello " and result.usage is None  # unknown usage: estimated later
    assert [m.content for m in session.messages] == ["hi", "Hello "]
    assert session.totals == Usage()


def test_absurd_usage_is_not_believed(make_session: MakeSession,
                                      fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "giant_usage"  # a 400-digit count: valid JSON
    session = make_session()
    result = session.send("hi")
    assert result.text == "Hello " and result.usage is None
    assert session.totals == Usage()


def test_session_file_with_absurd_totals_loads_with_none(make_session: MakeSession) -> None:
    data = make_session().to_dict()
    data["totals"] = {"prompt_tokens": 10**400, "completion_tokens": -5}
    session = ChatSession.from_dict(data, ProviderManager({}), {}, ChatSettings())
    assert session.totals == Usage()
    assert f"{session.totals.total_tokens:,}" == "0"


def test_one_giant_stream_event_is_refused_not_held(make_session: MakeSession,
                                                    fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "giant_event"  # one 100 MB event
    tracemalloc.start()
    try:
        line = failure(make_session())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than" in line
    assert peak < 16 * 1024 * 1024, peak


def test_error_body_is_read_only_up_to_its_cap(make_session: MakeSession,
                                               fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "giant_error"  # a 400 with a 20 MB body
    tracemalloc.start()
    try:
        failure(make_session())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


def test_a_compressed_body_nobody_asked_for_is_refused(make_session: MakeSession,
                                                        fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "gzip_bomb"
    line = failure(make_session())
    assert "compressed" in line
    assert fake_server.requests[-1].headers.get("Accept-Encoding") == "identity"


def test_a_dripping_server_is_stopped_at_the_reply_deadline(make_session: MakeSession,
                                                            fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.chat_fault = "drip"  # a byte every 50 ms, for ever
    session = make_session(read_timeout_seconds=5.0, reply_deadline_seconds=1.0)
    with pytest.raises(ChatError) as caught:
        session.send("hi")
    assert "still sending after 1 s" in str(caught.value)
    assert "reply_deadline_seconds" in str(caught.value)
    assert caught.value.partial == "Hello "
    assert session.messages == [] and session.unsent == "hi"


@pytest.mark.parametrize("chunk", [{"choices": 5}, {"choices": "abc"}, {"choices": [5]},
                                   {"choices": [{"delta": 5}]}, {"usage": 5}, [1], "x", None])
def test_odd_chunk_shapes_are_skipped(chunk: object) -> None:
    reply = Reply(None)
    reply.add_chunk(chunk)
    reply.add_chunk({"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]})
    assert reply.text == "ok" and reply.complete


def test_reply_text_is_capped() -> None:
    reply = Reply(None)
    block = {"choices": [{"index": 0, "delta": {"content": "x" * (1024 * 1024)}}]}
    with pytest.raises(BoundExceeded):
        for _ in range(MAX_REPLY_CHARS // (1024 * 1024) + 1):
            reply.add_chunk(block)
    assert len(reply.text) <= MAX_REPLY_CHARS
