"""Helpers shared by the discovery tests: a service over a real state file, loopback servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fakeserver import FakeOpenAIServer

from chatrepl.config import DiscoverySettings
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.discovery import ModelDiscoveryService
from chatrepl.manager import ProviderManager


def make_service(providers: Mapping[str, Mapping[str, Any]], home: Path,
                 env: Mapping[str, str] | None = None, *, clock: Any = None,
                 **settings: Any) -> tuple[ProviderManager, ModelDiscoveryService]:
    manager = ProviderManager(providers)
    options: dict[str, Any] = {"timeout_seconds": 5.0, **settings}
    extra = {} if clock is None else {"clock": clock}
    service = ModelDiscoveryService(manager, env or {}, DiscoverySettings(**options),
                                    DiscoveredStore(state_file(home)), **extra)
    return manager, service


def state_file(home: Path) -> Path:
    return home / "state" / "discovered.yaml"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def started_servers(count: int = 4) -> Iterator[list[FakeOpenAIServer]]:
    """`count` started servers, stopped on leaving."""
    started = [FakeOpenAIServer().start() for _ in range(count)]
    try:
        yield started
    finally:
        # Stopped side by side: each stop waits for its server's poll interval.
        stoppers = [threading.Thread(target=server.stop) for server in started]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)


def authorization(server: FakeOpenAIServer, index: int = -1) -> str | None:
    headers = {k.lower(): v for k, v in server.requests[index].headers.items()}
    return headers.get("authorization")
