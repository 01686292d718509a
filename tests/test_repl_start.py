"""How the REPL starts (issue 14, section 1): one way, behind the first prompt, whatever the
config; the local server is started on the main thread; other threads write through one
channel, on the prompt's thread, never over the prompt line."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from localstandin import write_standin
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl import localmodel, localserver, runtime
from chatrepl.cli import build_parser, main
from chatrepl.entry import prepare_repl, start_local_server
from chatrepl.environment import Environment
from chatrepl.paths import resolve_paths
from chatrepl.repl import Prepared, run_repl

WAIT = 30.0


class TerminalIn(io.StringIO):
    """stdin that says it is a terminal (the keys come from prompt_toolkit's pipe input)."""

    def isatty(self) -> bool:
        return True


class Recorded(io.StringIO):
    """A stream that notes which thread wrote what; `heard` is set once `awaited` is written."""

    def __init__(self, awaited: str = "\0") -> None:
        super().__init__()
        self.writes: list[tuple[threading.Thread, str]] = []
        self.awaited = awaited
        self.heard = threading.Event()

    def write(self, text: str) -> int:
        self.writes.append((threading.current_thread(), text))
        if self.awaited in self.getvalue() + text:
            self.heard.set()
        return super().write(text)

    def off_main_thread(self) -> list[str]:
        return [text for thread, text in self.writes if thread is not threading.main_thread()]


class StandinLocalServer(localserver.LocalServer):
    """The local server, serving with the llama.cpp stand-in; notes the thread `start()` ran on."""

    made: ClassVar[list[StandinLocalServer]] = []
    extra: ClassVar[tuple[str, ...]] = ()
    standin: ClassVar[Path] = Path("standin_server.py")

    def __init__(self, gguf: Path | None, log_path: Path) -> None:
        super().__init__(None, log_path, handle_signals=False,
                         python_args=lambda fd: [str(self.standin), "--fd", str(fd), *self.extra])
        self.started_on: threading.Thread | None = None
        StandinLocalServer.made.append(self)

    def start(self) -> localserver.LocalServer:
        self.started_on = threading.current_thread()
        return super().start()


@pytest.fixture
def local_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StandinLocalServer]]:
    """The bundled local model is installed; its server is the stand-in (stopped afterwards)."""
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(localmodel, "is_available", lambda cache_dir: True)
    monkeypatch.setattr(localmodel, "llama_cpp_available", lambda: True)
    monkeypatch.setattr(localmodel, "ensure_gguf", lambda path, cache_dir, on_fetch=None: gguf)
    monkeypatch.setattr(StandinLocalServer, "made", [])
    monkeypatch.setattr(StandinLocalServer, "extra", ())
    monkeypatch.setattr(StandinLocalServer, "standin", write_standin(tmp_path))
    monkeypatch.setattr(localserver, "LocalServer", StandinLocalServer)
    try:
        yield StandinLocalServer
    finally:
        for server in StandinLocalServer.made:
            server.stop()


def run_interactive(argv: list[str], home: Path, keys: str, *, stdout: io.StringIO | None = None,
                    stderr: io.StringIO | None = None,
                    typed_when: Callable[[], bool] | None = None) -> tuple[int, str, str]:
    """`chatrepl ARGV` at a terminal: `keys` are typed (once `typed_when()` holds, if given)."""
    out, err = stdout or io.StringIO(), stderr or io.StringIO()
    pipe: PipeInput
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        def type_keys() -> None:
            if typed_when is not None:
                typed_when()
            pipe.send_text(keys)

        typist = threading.Thread(target=type_keys, daemon=True)
        typist.start()
        code = main(argv, env={"CHATREPL_HOME": str(home)}, stdin=TerminalIn(), stdout=out,
                    stderr=err)
        typist.join(WAIT)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def build_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads the runtime (the config stack) is built on."""
    names: list[str] = []
    build = runtime.build_runtime

    def recorded(*args, **kwargs):
        names.append(threading.current_thread().name)
        return build(*args, **kwargs)

    monkeypatch.setattr(runtime, "build_runtime", recorded)
    return names


@pytest.mark.parametrize("config", [None, "providers: {}\n",
                                    "providers:\n  p:\n    base_url: http://127.0.0.1:9/v1\n"])
def test_the_repl_is_built_behind_the_first_prompt_with_any_config(
        chatrepl_home: Path, build_threads: list[str], monkeypatch: pytest.MonkeyPatch,
        config: str | None) -> None:
    """No config file, one without providers, one with: the same loader path."""
    monkeypatch.setattr(localmodel, "is_available", lambda cache_dir: False)
    if config is not None:
        (chatrepl_home / "config.yaml").write_text(config, encoding="utf-8")
    code, _out, err = run_interactive(["--no-discover"], chatrepl_home, "/exit\r")
    assert (code, err) == (0, "")
    assert build_threads == ["chatrepl-load"]


def test_local_is_built_behind_the_prompt_and_its_server_started_on_the_main_thread(
        chatrepl_home: Path, build_threads: list[str], local_model) -> None:
    code, _out, err = run_interactive(["--local", "--no-discover"], chatrepl_home, "/exit\r")
    assert (code, err) == (0, "")
    assert build_threads == ["chatrepl-load"]
    [server] = local_model.made
    assert server.started_on is threading.main_thread()
    assert server.state == "stopped"  # the REPL stopped it on its way out


def test_a_config_without_providers_starts_the_local_server_on_the_main_thread(
        chatrepl_home: Path, local_model) -> None:
    """The loader thread hands `LocalServer.start()` to the main thread (Linux ties the child's
    parent-death signal to the thread that forks it)."""
    (chatrepl_home / "config.yaml").write_text("providers: {}\ndiscovery: {on_startup: false}\n",
                                               encoding="utf-8")
    code, out, err = run_interactive([], chatrepl_home, "/exit\r")
    assert (code, err) == (0, "")
    [server] = local_model.made
    assert server.started_on is threading.main_thread()
    assert "chatting with the bundled local model" in out
    assert server.state == "stopped"


def test_the_local_servers_failure_is_written_by_the_prompts_thread(chatrepl_home: Path,
                                                                     local_model) -> None:
    """The reason the local server failed comes from its waiting thread; it is written above
    the prompt by the prompt's own thread, never from that thread into the prompt line."""
    local_model.extra = ("--exit", "1")
    out, err = Recorded(), Recorded("exited with code 1")
    code, _out, _err = run_interactive(["--local", "--no-discover"], chatrepl_home, "\x04",
                                       stdout=out, stderr=err,
                                       typed_when=lambda: err.heard.wait(WAIT))
    assert code == 0
    assert "the local server exited with code 1" in err.getvalue()
    assert out.off_main_thread() == [] and err.off_main_thread() == []


def test_lines_said_from_another_thread_are_written_on_the_prompts_thread(
        chatrepl_home: Path) -> None:
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    rt = runtime.build_runtime(resolve_paths(env), env, synchronous=True)
    out = Recorded("from a thread")
    args = build_parser().parse_args(["--no-discover"])
    state = prepare_repl(rt, args, out, out).state

    def say_from_a_thread() -> None:
        threading.Thread(target=state.say, args=(["from a thread"],), daemon=True).start()

    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        def end_once_said() -> None:
            out.heard.wait(WAIT)
            pipe.send_text("\x04")

        closer = threading.Thread(target=end_once_said, daemon=True)
        closer.start()
        assert run_repl(lambda _terminal: Prepared(state, (), say_from_a_thread),
                        input=pipe, output=DummyOutput()) == 0
        closer.join(WAIT)
    assert "from a thread" in out.getvalue()
    assert out.off_main_thread() == []


def test_starting_the_local_server_leaves_the_arguments_as_they_were(chatrepl_home: Path,
                                                                     local_model) -> None:
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    rt = runtime.build_runtime(resolve_paths(env), env, synchronous=True)
    args = build_parser().parse_args(["--local", "--no-discover"])
    before = dict(vars(args))
    server = start_local_server(rt, args, lambda line: None)
    assert server is not None
    state = prepare_repl(rt, args, io.StringIO(), io.StringIO(), local_server=server).state
    assert vars(args) == before
    assert state.current_model == f"local/{server.model_id}"


def test_the_environment_object_decides_what_is_a_terminal(chatrepl_home: Path) -> None:
    """A test's own Environment: stdin a StringIO that counts as a terminal opens the REPL."""
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(argv=["--no-discover"], env={"CHATREPL_HOME": str(chatrepl_home)},
                              stdin=io.StringIO("not a prompt"), stdout=out, stderr=err,
                              stdin_isatty=True)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/exit\r")
        assert main(environment=environment) == 0
    assert err.getvalue() == ""
    assert environment.stdin.read() == "not a prompt"  # never read as a one-shot prompt
    piped = Environment(argv=["--version"], stdout=io.StringIO(), stdin=io.StringIO())
    assert piped.stdin_isatty is False and main(environment=piped) == 0
    assert piped.stdout.getvalue().startswith("chatrepl ")  # type: ignore[attr-defined]
