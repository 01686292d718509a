"""Shared pieces of the ChatSession tests: the key and reply of the loopback server, a manager
with two providers on it, the bodies of the chat requests it saw, and an event callback that
acts after a number of events."""

from __future__ import annotations

from collections.abc import Callable

from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession
from chatrepl.config import ChatSettings
from chatrepl.manager import ProviderManager
from chatrepl.messages import Message
from chatrepl.reply import StreamEvent

KEY = "sk-test-SECRET1234567890"
REPLY = "Hello from the fake server."

MakeSession = Callable[..., ChatSession]


def chat_manager(url: str) -> ProviderManager:
    """Providers `local` (fake-chat, other-chat) and `second` (second-model), both at `url`."""
    return ProviderManager({
        "local": {"base_url": url, "valid_models": ["fake-chat", "other-chat"]},
        "second": {"base_url": url, "valid_models": ["second-model"]},
    })


def session_maker(fake_server: FakeOpenAIServer) -> MakeSession:
    """make(...) -> a ChatSession on `local/fake-chat` of `fake_server` (keys in its env)."""
    def make(*, max_retries: int = 0, read_timeout: float = 10.0, url: str | None = None,
             system_prompt: str | None = None) -> ChatSession:
        settings = ChatSettings(connect_timeout_seconds=5.0, read_timeout_seconds=read_timeout,
                                max_retries=max_retries)
        manager = chat_manager(url or fake_server.url)
        return ChatSession(manager, {"LOCAL_API_KEY": KEY, "SECOND_API_KEY": KEY}, settings,
                           provider="local", model="fake-chat", system_prompt=system_prompt)

    return make


def chat_bodies(server: FakeOpenAIServer) -> list[dict]:
    """The JSON bodies of the chat requests `server` received, oldest first."""
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def stop_after(count: int, action: Callable[[], None]) -> Callable[[StreamEvent], None]:
    """An on_event callback that calls `action` at the `count`th event."""
    seen: list[StreamEvent] = []

    def on_event(event: StreamEvent) -> None:
        seen.append(event)
        if len(seen) == count:
            action()

    return on_event


def first_exchange(session: ChatSession) -> list[Message]:
    """Send "first" and return the conversation after it (one question, one reply)."""
    session.send("first")
    assert len(session.messages) == 2
    return list(session.messages)
