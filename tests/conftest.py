"""Shared fixtures: a private CHATREPL_HOME for every test, and loopback OpenAI servers.

Also the last bound on a test's time: pytest-timeout fails a test past its `timeout` with a
SIGALRM in the main thread; should the test be stuck where that cannot reach it (an exception
swallowed, a C call that never returns), a timer ends the run HARD_STOP_GRACE seconds later with
every thread's stack printed (pytest-timeout's thread method).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_timeout
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from chathelpers import MakeSession, session_maker
from fakeserver import FakeOpenAIServer
from faultsetup import Setup, setup_maker
from replhelpers import BuiltRepl, build_repl_state

FIXTURES = Path(__file__).parent / "fixtures"
HARD_STOP_GRACE = float(os.environ.get("CHATREPL_TEST_HARD_STOP_GRACE", "60"))


def _timeout_of(item: pytest.Item) -> float:
    """The item's time limit in seconds: its timeout marker, else --timeout, else the ini."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    value = item.config.getoption("timeout", None) or item.config.getini("timeout")
    return float(value) if value else 0.0


def pytest_sessionstart(session: pytest.Session) -> None:
    """Ctrl-C handled as Python handles it by default, whoever started the suite: a shell
    script's background job (`make stress &`, `nohup`) starts with SIGINT ignored, and every
    chatrepl the tests spawn would inherit that and never see the Ctrl-C a test sends."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    limit = _timeout_of(item)
    timer = None
    if limit > 0:
        hard_stop = SimpleNamespace(disable_debugger_detection=False)
        timer = threading.Timer(limit + HARD_STOP_GRACE, pytest_timeout.timeout_timer,
                                (item, hard_stop))
        timer.name, timer.daemon = "pytest-hard-stop", True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


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


@pytest.fixture(autouse=True)
def sigint_handler_kept() -> Iterator[None]:
    """A test that leaves another Ctrl-C handler installed (a prompt that did not put its own
    back) fails, and the handler is put back so later tests are not changed by it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT handled by {after!r} (was {before!r})")


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


@pytest.fixture
def make_session(fake_server: FakeOpenAIServer) -> MakeSession:
    """make(...) -> a ChatSession on `local/fake-chat` of the loopback server."""
    return session_maker(fake_server)


@pytest.fixture
def make_repl_state(chatrepl_home: Path) -> Callable[..., BuiltRepl]:
    """make(provider, model, **options) -> a REPL state over this test's CHATREPL_HOME (write
    its config first); see `replhelpers.build_repl_state`."""
    def make(provider: str = "", model: str = "", **options: Any) -> BuiltRepl:
        return build_repl_state(chatrepl_home, provider, model, **options)

    return make


@pytest.fixture
def make_setup(chatrepl_home: Path,
               fake_server: FakeOpenAIServer) -> Iterator[Callable[..., Setup]]:
    """make(fault=None) -> a home configured for one fault mode (see faultsetup.Setup)."""
    with setup_maker(chatrepl_home, fake_server) as make:
        yield make
