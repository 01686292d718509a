"""Shared pieces of the /compare tests: three loopback servers (one provider each, so each can
have its own delay or fault), a config naming them, and a base ChatSession over them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from chathelpers import KEY
from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession
from chatrepl.compare import Contender
from chatrepl.config import ChatSettings
from chatrepl.manager import ProviderManager

NAMES = ("alpha", "beta", "gamma")
CONTENDERS = [Contender(name, f"{name}-model") for name in NAMES]


@contextmanager
def started_servers(count: int = 3) -> Iterator[list[FakeOpenAIServer]]:
    """`count` loopback servers, each answering `<name> says hi` by default; stopped after."""
    with ExitStack() as stack:
        servers = [stack.enter_context(FakeOpenAIServer()) for _ in range(count)]
        for name, server in zip(NAMES, servers, strict=False):
            server.behavior.chat_reply = f"{name} says hi"
        yield servers


def config_text(servers: list[FakeOpenAIServer]) -> str:
    """A config with provider NAME (model NAME-model, short NAME) on each server."""
    lines = ["providers:"]
    for name, server in zip(NAMES, servers, strict=False):
        lines += [f"  {name}:", f"    base_api_url: {server.url}",
                  f"    valid_models: {{{name}-model: {name[:2]}}}"]
    return "\n".join(lines) + "\n"


def base_session(servers: list[FakeOpenAIServer], *, read_timeout: float = 10.0) -> ChatSession:
    """A ChatSession on alpha whose manager knows every server's provider."""
    manager = ProviderManager({name: {"base_url": server.url, "valid_models": [f"{name}-model"]}
                               for name, server in zip(NAMES, servers, strict=False)})
    settings = ChatSettings(connect_timeout_seconds=5.0, read_timeout_seconds=read_timeout,
                            max_retries=0)
    env = {f"{name.upper()}_API_KEY": KEY for name in NAMES}
    return ChatSession(manager, env, settings, provider="alpha", model="alpha-model")


def chat_bodies_of(server: FakeOpenAIServer) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]
