"""iter_chunks: chunks off a real SDK stream from the loopback server, as plain JSON data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession
from chatrepl.config import ChatSettings
from chatrepl.manager import ProviderManager
from chatrepl.reply import Reply
from chatrepl.streamchunks import iter_chunks


def _stream(server: FakeOpenAIServer) -> Any:
    # The SDK's own default client, given explicitly: openai < 1.55.3 builds its default with
    # `proxies=`, which httpx 0.28 no longer takes (chatrepl's clients pass one too).
    client = openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0,
                           http_client=openai.DefaultHttpxClient())
    return client.chat.completions.create(model="fake-chat", stream=True,
                                          messages=[{"role": "user", "content": "hi"}])


class _PublicIterationOnly:
    """An SDK stream seen only through its public iteration (as in an SDK without
    `Stream._iter_events`)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[Any]:
        return iter(self._stream)


def _content(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or [{}]
    return choices[0].get("delta", {}).get("content") or ""


def test_chunks_are_plain_dicts_and_stop_at_done(fake_server: FakeOpenAIServer) -> None:
    stream = _stream(fake_server)
    chunks = list(iter_chunks(stream))

    assert all(isinstance(chunk, dict) for chunk in chunks)
    assert "".join(_content(c) for c in chunks) == fake_server.behavior.chat_reply
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert stream.response.is_closed


def test_a_stream_read_through_the_sdks_iteration_gives_the_same_plain_dicts(
        fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.reasoning_chunks = ["Thinking it over."]  # a field the SDK does not name
    fast = list(iter_chunks(_stream(fake_server)))
    fallback = list(iter_chunks(_PublicIterationOnly(_stream(fake_server))))

    assert all(type(chunk) is dict for chunk in fallback)
    assert fallback == fast
    assert fast[1]["choices"][0]["delta"] == {"reasoning_content": "Thinking it over."}
    assert "".join(_content(c) for c in fallback) == fake_server.behavior.chat_reply


@pytest.mark.parametrize(("fault", "message"), [
    ("error_event", "upstream model crashed"),
    ("error_event_text", "overloaded, slow down"),  # the provider's own words
])
def test_an_error_event_raises_the_sdks_api_error(fake_server: FakeOpenAIServer, fault: str,
                                                  message: str) -> None:
    fake_server.behavior.chat_fault = fault
    stream = _stream(fake_server)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in iter_chunks(stream):
            received.append(_content(chunk))

    assert caught.value.message == message
    assert "".join(received) == "Hello from the "
    assert stream.response.is_closed


def test_the_installed_sdk_takes_the_fast_path(fake_server: FakeOpenAIServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn with the installed openai SDK reads plain JSON off `Stream._iter_events`; an SDK
    change that sends it down the fallback (one model object per chunk, several times slower)
    fails here rather than silently slowing every reply."""
    assert callable(getattr(openai.Stream, "_iter_events", None)), (
        f"openai {openai.__version__}: no Stream._iter_events, streaming takes the slow path")
    kinds: list[type] = []
    add_chunk = Reply.add_chunk

    def spy(reply: Reply, chunk: Any) -> None:
        kinds.append(type(chunk))
        add_chunk(reply, chunk)

    monkeypatch.setattr(Reply, "add_chunk", spy)
    manager = ProviderManager({"local": {"base_url": fake_server.url, "valid_models": ["fake-chat"]}})
    session = ChatSession(manager, {"LOCAL_API_KEY": "sk-test"}, ChatSettings(max_retries=0),
                          provider="local", model="fake-chat")
    result = session.send("hi")

    assert result.text == fake_server.behavior.chat_reply
    assert kinds and set(kinds) == {dict}
