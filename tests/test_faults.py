"""Faulty servers: every fault mode in one-shot mode, in the REPL layer and for discovery.

For each mode: one clear line (no traceback), the conversation exactly as before the failed turn,
the REPL alive afterwards, the provider's last known models kept, and the number of requests
the server saw bounded by 1 + max_retries (max_retries is 1 in these configs).
"""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Behavior, FakeOpenAIServer
from interrupts import Interrupter
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from replhelpers import build_repl_state

from chatrepl.cli import main
from chatrepl.discoveredstore import DiscoveredModels, DiscoveredStore
from chatrepl.discovery import ModelDiscoveryService
from chatrepl.messages import Message
from chatrepl.paths import resolve_paths
from chatrepl.render import Printer
from chatrepl.repl import Prepared, discovery_status, handle_line, run_repl
from chatrepl.replstate import ReplState
from chatrepl.runtime import build_runtime

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

    def autosave(self) -> bytes | None:
        path = self.paths.autosave_file
        return path.read_bytes() if path.exists() else None


@pytest.fixture
def make_setup(chatrepl_home: Path, fake_server: FakeOpenAIServer) -> Iterator:
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

    yield make
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


# -- one-shot mode ---------------------------------------------------------------------------

@pytest.mark.parametrize("fault", params(CHAT_FAULTS))
def test_one_shot_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    model = f"{fault.target}/fake-chat"
    code, out, err = setup.main("-m", "fake/fake-chat", "first")
    assert (code, err) == (0, "")
    saved = setup.autosave()
    assert saved is not None and json.loads(saved)["messages"][0]["content"] == "first"

    setup.apply(fault)
    before = setup.chat_requests()
    code, out, err = setup.main("--continue", "-m", model, "second")
    assert code == 1
    # Only a reply cut off mid-stream has shown some text; nothing else prints a reply.
    assert out.startswith("Hello from the ") if fault.behavior.get("chat_fault") else out == ""
    one_error_line(err, f"chatrepl: {model}: ", fault.fragment)
    check_request_count(fault, setup.chat_requests() - before)
    assert setup.autosave() == saved  # the saved conversation is exactly as before the turn

    setup.heal()
    code, _out, err = setup.main("--continue", "-m", "fake/fake-chat", "third")
    assert (code, err) == (0, "")
    messages = json.loads(setup.autosave() or b"{}")["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["first", "third"]


@pytest.mark.parametrize("fault", params([f for f in CHAT_FAULTS
                                          if f.behavior.get("chat_fault")]))
def test_one_shot_error_after_partial_text_ends_the_line_first(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    setup.apply(fault)
    code, out, _err = setup.main("-m", "fake/fake-chat", "hello")
    assert code == 1 and out.startswith("Hello from the ")
    assert out.endswith("\n")


def counting_printer(interrupter: Interrupter) -> type[Printer]:
    """A Printer that tells `interrupter` of each piece of the reply (one per chunk read)."""

    class CountingPrinter(Printer):
        def content(self, text: str) -> None:
            super().content(text)
            interrupter.progress()

    return CountingPrinter


def test_one_shot_never_ending_stream_interrupted(make_setup, monkeypatch) -> None:
    """Ctrl-C (a real SIGINT) once three chunks have arrived, again if chunks still come."""
    setup = make_setup()
    setup.server.behavior.chat_fault = "never_end"
    with Interrupter(start_after=3) as interrupter:
        monkeypatch.setattr("chatrepl.entry.Printer", counting_printer(interrupter))
        code, out, err = setup.main("-m", "fake/fake-chat", "hello")
    assert interrupter.raised >= 1
    assert code == 130
    assert "Traceback" not in err and err.count("\n") <= 1
    assert out.startswith("Hello from the ")
    assert setup.chat_requests() == 1
    messages = json.loads(setup.autosave() or b"{}")["messages"]
    assert messages[0] == {"role": "user", "content": "hello"}
    assert messages[1]["interrupted"] is True
    assert out.startswith(messages[1]["content"]) and messages[1]["content"]


# -- the REPL layer --------------------------------------------------------------------------

def build_state(setup: Setup) -> tuple[ReplState, io.StringIO, io.StringIO]:
    return build_repl_state(None, "fake", "fake-chat", env=setup.env, separate_err=True)


@pytest.mark.parametrize("fault", params(CHAT_FAULTS))
def test_repl_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    state, _out, err = build_state(setup)
    handle_line(state, "first")
    assert err.getvalue() == "" and len(state.chat.messages) == 2
    before = list(state.chat.messages)
    saved = setup.autosave()

    setup.apply(fault)
    if fault.target != "fake":
        handle_line(state, f"/model {fault.target}/fake-chat")
    requests = setup.chat_requests()
    handle_line(state, "second")
    one_error_line(err.getvalue(), f"error: {fault.target}/fake-chat: ", fault.fragment)
    check_request_count(fault, setup.chat_requests() - requests)
    assert state.chat.messages == before
    assert setup.autosave() == saved
    assert not state.should_exit

    # Alive: the next turn works and carries the conversation on.
    setup.heal()
    handle_line(state, "/model fake/fake-chat")
    handle_line(state, "third")
    assert [m.content for m in state.chat.messages if m.role == "user"] == ["first", "third"]
    sent = setup.server.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["first", "third"]


def test_repl_unknown_model_is_marked_and_others_suggested(make_setup) -> None:
    setup = make_setup()
    setup.server.behavior.unknown_models = {"fake-chat"}
    state, out, err = build_state(setup)
    handle_line(state, "hello")
    assert "404" in err.getvalue()
    assert "fake-chat" in state.runtime.manager["fake"].invalid_models
    assert "try: dead/fake-chat" in out.getvalue()
    assert state.chat.messages == []


def test_repl_never_ending_stream_ctrl_c(make_setup) -> None:
    setup = make_setup()
    state, _out, err = build_state(setup)
    handle_line(state, "first")
    before = list(state.chat.messages)
    setup.server.behavior.chat_fault = "never_end"
    out = io.StringIO()
    with Interrupter(start_after=4) as interrupter:
        state.printer = counting_printer(interrupter)(out, err)
        handle_line(state, "second")
    assert interrupter.raised >= 1
    assert err.getvalue() == ""
    assert "[interrupted]" in out.getvalue()
    assert state.chat.messages[:2] == before
    partial = state.chat.messages[3]
    assert state.chat.messages[2] == Message("user", "second")
    assert partial.interrupted is True and partial.content.startswith("Hello")
    assert json.loads(setup.autosave() or b"{}")["messages"][3]["interrupted"] is True

    setup.heal()
    handle_line(state, "third")
    assert len(state.chat.messages) == 6
    sent = setup.server.requests[-1].body["messages"]
    assert all(set(m) == {"role", "content"} for m in sent)
    assert sent[3]["content"] == partial.content


def test_repl_loop_stays_alive_through_errors(make_setup) -> None:
    """The real loop (pipe input): a refused connection in the middle of a session."""
    setup = make_setup()
    state, _out, err = build_state(setup)
    lines = ["first", "/model dead/fake-chat", "second", "/model fake/fake-chat", "third",
             "/save after-errors"]
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        for line in lines:
            pipe.send_text(line + "\r")
        pipe.send_text("\x04")
        assert run_repl(lambda _terminal: Prepared(state), input=pipe, output=DummyOutput(),
                        history_path=state.runtime.paths.history_file) == 0
    assert err.getvalue().count("\n") == 1 and "cannot connect" in err.getvalue()
    assert [m.content for m in state.chat.messages if m.role == "user"] == ["first", "third"]
    assert state.store.load("after-errors")["messages"] == [m.to_json() for m in state.chat.messages]


# -- discovery -------------------------------------------------------------------------------

def first_discovery(setup: Setup, fault: Fault) -> None:
    """Give the target provider last known models: a real discovery, or (for a provider that
    cannot answer) the state a past discovery left."""
    if fault.target == "fake":
        code, out, _ = setup.main("discover", "fake")
        assert code == 0 and out.startswith("fake: 3 models")
    else:
        DiscoveredStore(setup.paths.discovered_file).save({"dead": DiscoveredModels(
            setup.dead_url, tuple(KNOWN), (), time.time() - 3600, "dead")})


def known_models(setup: Setup, provider: str) -> list[str]:
    code, out, _ = setup.main("models", "--json")
    assert code == 0
    return [row["model"] for row in json.loads(out) if row["provider"] == provider]


@pytest.mark.parametrize("fault", params(DISCOVERY_FAULTS))
def test_discover_command_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    first_discovery(setup, fault)
    state_file = setup.paths.discovered_file
    saved = state_file.read_bytes()
    assert known_models(setup, fault.target) == KNOWN

    setup.apply(fault)
    requests = setup.model_requests()
    code, out, err = setup.main("discover", fault.target)
    check_request_count(fault, setup.model_requests() - requests)
    assert err == ""
    assert known_models(setup, fault.target) == KNOWN
    assert state_file.read_bytes() == saved
    assert code == 1
    one_error_line(out, f"{fault.target}: failed: ", fault.fragment)


def test_data_null_keeps_the_last_known_models(make_setup) -> None:
    """`{"data": null}` (no models loaded yet) is no error, and it never wipes a known list."""
    fault = Fault("data-null", {"models_fault": "data_null"}, "", 1)
    setup = make_setup(fault)
    first_discovery(setup, fault)
    setup.apply(fault)
    code, out, err = setup.main("discover", fault.target, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["ok"] is True
    assert known_models(setup, fault.target) == KNOWN


@pytest.mark.parametrize("fault", params(DISCOVERY_FAULTS))
def test_repl_discover_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    first_discovery(setup, fault)
    state, _out, err = build_state(setup)
    assert list(state.runtime.manager[fault.target].valid_models) == KNOWN

    setup.apply(fault)
    requests = setup.model_requests()
    handle_line(state, f"/discover {fault.target}")
    check_request_count(fault, setup.model_requests() - requests)
    assert err.getvalue() == ""
    assert list(state.runtime.manager[fault.target].valid_models) == KNOWN
    status = state.runtime.refresher.status[fault.target]
    assert status.state == "error" and status.error and "\n" not in status.error
    assert fault.fragment in status.error
    assert f"{fault.target} ✗" in discovery_status(state)
    # Still usable: a chat turn to the healthy provider works.
    setup.heal()
    handle_line(state, "hello")
    assert len(state.chat.messages) == 2


def test_discovery_service_result_keeps_last_known(make_setup) -> None:
    setup = make_setup()
    env = setup.env
    runtime = build_runtime(setup.paths, env, synchronous=True)
    service: ModelDiscoveryService = runtime.discovery
    assert service.discover_models("fake", force_refresh=True).ok
    setup.apply(Fault("x", {"models_status": 500, "retry_after": "0.01"}, "", 2))
    result = service.discover_models("fake", force_refresh=True)
    assert not result.ok and result.error and "500" in result.error
    assert list(result.models) == KNOWN
    # A fresh start reads the same last known models from the state file.
    again = build_runtime(setup.paths, env, synchronous=True)
    assert list(again.manager["fake"].valid_models) == KNOWN


@pytest.mark.parametrize(("fault", "expected"), [
    ("bare_array", ["fake-chat", "extra-a", "extra-b"]),
    ("models_key", ["fake-chat", "extra-a", "extra-b"]),
    ("no_object_fields", ["fake-chat", "extra-a", "extra-b"]),
])
def test_other_model_list_shapes_are_read(make_setup, fault: str, expected: list[str]) -> None:
    setup = make_setup()
    setup.server.behavior.models_fault = fault
    code, _out, err = setup.main("discover", "fake")
    assert (code, err) == (0, "")
    assert known_models(setup, "fake") == expected
    assert setup.model_requests() == 1
