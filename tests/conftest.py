"""Shared fixtures: a private CHATREPL_HOME for every test, and loopback OpenAI servers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeOpenAIServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def chatrepl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own CHATREPL_HOME and no provider keys from the real environment."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # private, as a real CHATREPL_HOME should be
    monkeypatch.setenv("CHATREPL_HOME", str(home))
    monkeypatch.delenv("CHATREPL_CONFIG", raising=False)
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name, raising=False)
    # No test finds whatever happens to listen on 8080 or 11434: tests that want the local
    # probe point it at their own server (see probe_ports).
    monkeypatch.setattr("chatrepl.localprobe.DEFAULT_PORTS", {})
    return home


@pytest.fixture
def probe_ports(monkeypatch: pytest.MonkeyPatch):
    """Point the local-server probe at the given ports: `probe_ports(llamacpp=server.port)`."""

    def point(**ports: int) -> None:
        monkeypatch.setattr("chatrepl.localprobe.DEFAULT_PORTS", dict(ports))

    return point


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A started OpenAI-compatible server on 127.0.0.1; stopped after the test."""
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def write_config(chatrepl_home: Path):
    """Write text to $CHATREPL_HOME/config.yaml and return its path."""

    def write(text: str) -> Path:
        path = chatrepl_home / "config.yaml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


# CI runs each property test on the same examples every time (a red CI is then a real change);
# locally every run explores new examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
