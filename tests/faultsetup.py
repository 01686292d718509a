"""The fault table shared by the fault tests: places that are not servers, each fault mode of
the loopback server with what chatrepl must say and how many requests it may send, and a home
with a config for one fault (`setup_maker`; the `make_setup` fixture in conftest)."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakebehavior import Behavior
from fakeserver import FakeOpenAIServer
from replhelpers import BuiltRepl, build_repl_state

from chatrepl.cli import main
from chatrepl.paths import resolve_paths

MAX_RETRIES = 1
KNOWN = ["fake-chat", "extra-a", "extra-b"]
HTML = "<html><head><title>Bad Gateway</title></head><body><h1>{} Bad Gateway</h1></body></html>"


# -- places that are not servers -------------------------------------------------------------

def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class SilentListener:
    """A listening socket whose accept queue is full, so a new connection never completes:
    a connect timeout on loopback."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(filler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()


# -- the fault table -------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    """One way a server goes wrong.

    `target` is the provider the turn goes to: `fake` (the loopback server with `behavior`
    applied) or `dead` (a closed port, or a listener that never accepts when `silent`).
    `requests` is the exact number of requests the server sees (None when there is no server).
    """

    name: str
    behavior: dict[str, Any]
    fragment: str
    requests: int | None
    target: str = "fake"
    silent: bool = False
    timeout: float = 5.0
    xfail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _html(status: int) -> str:
    return HTML.format(status)


CHAT_FAULTS = [
    Fault("connection-refused", {}, "cannot connect", None, target="dead"),
    Fault("connect-timeout", {}, "timed out", None, target="dead", silent=True, timeout=0.3),
    Fault("read-timeout-before-first-byte", {"chat_delay": 30.0}, "timed out", 1 + MAX_RETRIES,
          timeout=0.3),
    Fault("401", {"chat_status": 401}, "401 unauthorized", 1),
    Fault("403", {"chat_status": 403}, "403 forbidden", 1),
    Fault("404-unknown-model", {"unknown_models": {"fake-chat"}}, "404 not found", 1),
    Fault("429-retry-after", {"chat_status": 429, "retry_after": "0.05"}, "429 rate limited",
          1 + MAX_RETRIES),
    Fault("500-json", {"chat_status": 500}, "server error 500", 1 + MAX_RETRIES),
    Fault("500-plain", {"chat_status": 500, "error_body": "Internal Server Error",
                        "retry_after": "0.01"}, "server error 500", 1 + MAX_RETRIES),
    Fault("502-html", {"chat_status": 502, "error_body": _html(502), "retry_after": "0.01"},
          "server error 502", 1 + MAX_RETRIES),
    Fault("502-plain", {"chat_status": 502, "error_body": "Bad Gateway", "retry_after": "0.01"},
          "server error 502", 1 + MAX_RETRIES),
    Fault("503-html", {"chat_status": 503, "error_body": _html(503), "retry_after": "0.01"},
          "server error 503", 1 + MAX_RETRIES),
    Fault("503-plain", {"chat_status": 503, "error_body": "Service Unavailable",
                        "retry_after": "0.01"}, "server error 503", 1 + MAX_RETRIES),
    Fault("error-event-in-200-stream", {"chat_fault": "error_event"}, "upstream model crashed", 1),
    Fault("text-error-event-in-200-stream", {"chat_fault": "error_event_text"},
          "reported an error in the middle of the reply (overloaded, slow down)", 1),
    Fault("reset-mid-stream", {"chat_fault": "reset_mid_stream"}, "closed the connection", 1),
]

DISCOVERY_FAULTS = [
    Fault("connection-refused", {}, "cannot connect", None, target="dead"),
    Fault("connect-timeout", {}, "timed out", None, target="dead", silent=True, timeout=0.3),
    Fault("read-timeout", {"models_delay": 30.0}, "timed out", 1 + MAX_RETRIES, timeout=0.3),
    Fault("401", {"models_status": 401}, "401 unauthorized", 1),
    Fault("403", {"models_status": 403}, "403 forbidden", 1),
    Fault("404", {"models_status": 404}, "404", 1),
    Fault("429-retry-after", {"models_status": 429, "retry_after": "0.05"}, "429 rate limited",
          1 + MAX_RETRIES),
    Fault("500-plain", {"models_status": 500, "error_body": "Internal Server Error",
                        "retry_after": "0.01"}, "server error 500", 1 + MAX_RETRIES),
    Fault("502-html", {"models_status": 502, "error_body": _html(502), "retry_after": "0.01"},
          "server error 502", 1 + MAX_RETRIES),
    Fault("503-json", {"models_status": 503, "retry_after": "0.01"}, "server error 503",
          1 + MAX_RETRIES),
    Fault("malformed-json", {"models_fault": "malformed"}, "not JSON", 1),
    Fault("html-with-200", {"models_fault": "html_200"}, "HTML page", 1),
]


def params(faults: list[Fault]) -> list:
    return [pytest.param(f, id=f.name,
                         marks=[pytest.mark.xfail(reason=f.xfail, strict=True)] if f.xfail else [])
            for f in faults]


# -- a home with a config for one fault ------------------------------------------------------

@dataclass
class Setup:
    home: Path
    server: FakeOpenAIServer
    dead_url: str
    env: dict[str, str]

    @property
    def paths(self) -> Any:
        return resolve_paths(self.env)

    def main(self, *argv: str, stdout: io.StringIO | None = None) -> tuple[int, str, str]:
        out, err = stdout or io.StringIO(), io.StringIO()
        code = main(list(argv), env=self.env, stdin=io.StringIO(""), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    def apply(self, fault: Fault) -> None:
        behavior = Behavior(models=["something-else"])
        for name, value in fault.behavior.items():
            setattr(behavior, name, value)
        self.server.behavior = behavior

    def heal(self) -> None:
        self.server.behavior = Behavior(models=list(KNOWN))

    def chat_requests(self) -> int:
        return self.server.count("/chat/completions")

    def model_requests(self) -> int:
        return self.server.count("/models")

    def repl_state(self) -> BuiltRepl:
        """A REPL state on fake/fake-chat, its printer's errors apart from its output."""
        return build_repl_state(None, "fake", "fake-chat", env=self.env, separate_err=True)

    def autosave(self) -> bytes | None:
        path = self.paths.autosave_file
        return path.read_bytes() if path.exists() else None


@contextmanager
def setup_maker(chatrepl_home: Path,
                fake_server: FakeOpenAIServer) -> Iterator[Callable[[Fault | None], Setup]]:
    """make(fault) -> a Setup whose config points `fake` at `fake_server` and `dead` at a
    closed port (or a listener that never answers); listeners are closed on exit."""
    listeners: list[SilentListener] = []

    def make(fault: Fault | None = None) -> Setup:
        timeout = fault.timeout if fault else 5.0
        if fault is not None and fault.silent:
            listeners.append(SilentListener())
            dead_url = listeners[-1].url
        else:
            dead_url = closed_port_url()
        (chatrepl_home / "config.yaml").write_text(
            "discovery:\n"
            "  on_startup: false\n"
            f"  timeout_seconds: {timeout}\n"
            "chat:\n"
            f"  max_retries: {MAX_RETRIES}\n"
            f"  connect_timeout_seconds: {timeout}\n"
            f"  read_timeout_seconds: {timeout}\n"
            "providers:\n"
            "  fake:\n"
            f"    base_url: {fake_server.url}\n"
            "    valid_models: [fake-chat]\n"
            "  dead:\n"
            f"    base_url: {dead_url}\n"
            "    valid_models: [fake-chat]\n", encoding="utf-8")
        fake_server.behavior = Behavior(models=list(KNOWN))
        return Setup(chatrepl_home, fake_server, dead_url, {"CHATREPL_HOME": str(chatrepl_home)})

    try:
        yield make
    finally:
        for listener in listeners:
            listener.close()


def one_error_line(text: str, prefix: str, fragment: str) -> str:
    """`text` is exactly one line starting with `prefix` and holding `fragment`; returns it."""
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert text.startswith(prefix), text
    assert fragment in text, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "<html" not in text.lower() and "<body" not in text.lower(), text
    return text


def check_request_count(fault: Fault, seen: int) -> None:
    if fault.requests is None:
        assert seen == 0
    else:
        assert seen == fault.requests, (fault.name, seen)
        assert seen <= 1 + MAX_RETRIES
