"""A REPL turn on the local model while its server is still loading waits for it.

The "server" is the loopback fake OpenAI server started by LocalServer in a child process. It
answers 503 to everything until a FIFO (the gate) is written to: loading, as llama.cpp's
server is for its first second or so.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path

import pytest
from replhelpers import build_repl_state

from chatrepl.chat import TurnResult
from chatrepl.localserver import LocalServer
from chatrepl.messages import Message
from chatrepl.replstate import ReplState

TESTS = Path(__file__).resolve().parent
WAIT = 20.0
GATED_SERVER = r'''
import os, socket, sys, threading
sys.path.insert(0, sys.argv[1])
from fakeserver import FakeOpenAIServer
fd, gate = int(sys.argv[2]), sys.argv[3]
server = FakeOpenAIServer(sock=socket.socket(fileno=fd))
# Set before serving: a request answered in between would see no key check and no loading.
server.behavior.api_key = os.environ["CHATREPL_LOCAL_API_KEY"]  # chatrepl must send it
server.behavior.models = ["standin-model"]
server.behavior.models_status = server.behavior.chat_status = 503  # loading
server.start()
with open(gate) as opened:
    opened.readline()
server.behavior.models_status = server.behavior.chat_status = 200
threading.Event().wait()
'''


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    path = tmp_path / "gate"
    os.mkfifo(path)
    return path


@pytest.fixture
def server(tmp_path: Path, gate: Path):
    script = tmp_path / "gated_server.py"
    script.write_text(GATED_SERVER, encoding="utf-8")
    local = LocalServer(None, tmp_path / "server.log", handle_signals=False,
                        python_args=lambda fd: [str(script), str(TESTS), str(fd), str(gate)])
    with local:
        yield local


class WatchedOut(io.StringIO):
    """A terminal stand-in that says when the waiting notice has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "waiting for the local model to load" in self.getvalue():
            self.waiting.set()
        return written


def _state(home: Path, server: LocalServer) -> tuple[ReplState, WatchedOut]:
    # No retries: a request sent while the server is loading would fail, not be retried later.
    (home / "config.yaml").write_text("chat: {max_retries: 0}\nproviders: {}\n",
                                      encoding="utf-8")
    out = WatchedOut()
    state, _out, _err = build_repl_state(home, "local", "standin-model", out=out,
                                         local_server=server)
    state.runtime.discovery.add_providers({"local": server.provider_config()})
    return state, out


def test_a_turn_typed_while_loading_waits_and_is_answered(chatrepl_home: Path,
                                                         server: LocalServer, gate: Path) -> None:
    state, out = _state(chatrepl_home, server)
    results: list[TurnResult | None] = []
    turn = threading.Thread(target=lambda: results.append(state.run_turn("hi")))
    turn.start()
    assert out.waiting.wait(WAIT)  # the turn has reached the wait: only now is the gate opened
    assert server.state == "loading" and turn.is_alive()

    with open(gate, "w") as opened:
        opened.write("go\n")
    turn.join(WAIT)

    assert not turn.is_alive()
    assert results[0] is not None, out.getvalue()
    assert results[0].text == "Hello from the fake server."
    assert "waiting for the local model to load" in out.getvalue()
    assert state.chat.messages[-1] == Message("assistant", "Hello from the fake server.")
    assert state.store.load_autosave()["messages"] == [m.to_json() for m in state.chat.messages]


def test_a_turn_on_a_server_that_died_says_why_and_keeps_the_conversation(
        chatrepl_home: Path, server: LocalServer) -> None:
    state, out = _state(chatrepl_home, server)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)

    assert state.run_turn("hi") is None
    assert "error: the local server" in out.getvalue()
    assert state.chat.messages == []
