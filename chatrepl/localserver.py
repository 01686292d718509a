"""A local OpenAI-compatible server: llama-cpp-python's server on loopback with a small GGUF model.

The model file and how it is found or fetched are `localmodel`'s.

`LocalServer` binds a loopback port itself and runs llama-cpp-python's server on that socket
as a child (`localchild`), so no other local user can take the port first; it keeps the port
until `stop()`, so none can take it over when the child dies either. The child requires a
random per-run API key, given to it in its environment and sent by chatrepl; a server that
answers without the key is not ours and is refused.

The child runs in its own process group (so the terminal's Ctrl-C reaches chatrepl, not the
server); the whole group is stopped on `stop()`, at exit, on SIGTERM/SIGHUP, and, when
chatrepl is killed outright, by itself: the child asks Linux for a parent-death signal and
also watches its parent pid.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from chatrepl.config import ProviderConfig
from chatrepl.errors import LocalServerError
from chatrepl.fsutil import open_private, require_private_dir
from chatrepl.localchild import CHILD_BOOTSTRAP, child_environment, llama_server_args

PROVIDER_ID = "local"
PROVIDER_NAME = "Local (llama.cpp)"
LOOPBACK = "127.0.0.1"
DEFAULT_N_CTX = 2048
LOG_NAME = "local-server.log"


# -- the server process --------------------------------------------------------------------
def bind_loopback(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A TCP socket listening on `host`:`port` (0: a free port), not inherited by children
    unless handed to them. SO_REUSEADDR lets a later run reuse the port while its old
    connections linger (on Linux it never lets another socket listen beside this one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def model_alias(gguf: Path) -> str:
    """The model id the server announces: the file name without `.gguf`."""
    name = Path(gguf).name
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def short_name(model_id: str) -> str:
    """`SmolLM2-135M-Instruct.Q4_1` -> `smollm2-135m-instruct`."""
    return model_id.split(".", 1)[0].lower() or model_id


_CRASH_CODES = {-signal.SIGSEGV: "SIGSEGV", -signal.SIGILL: "SIGILL"}

PythonArgs = Callable[[int], Sequence[str]]

_LIVE: set[LocalServer] = set()
_LIVE_LOCK = threading.RLock()
_HANDLED_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                         if s is not None)
_PREVIOUS_HANDLERS: dict[int, Any] = {}
_ATEXIT_REGISTERED = False


def stop_all() -> None:
    """Stop every started LocalServer (atexit and signal handlers call this)."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop_all()
    previous = _PREVIOUS_HANDLERS.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise SystemExit(128 + signum)  # unwinds: the terminal is restored, atexit runs


def _register_cleanup(handle_signals: bool) -> None:
    global _ATEXIT_REGISTERED
    with _LIVE_LOCK:
        if not _ATEXIT_REGISTERED:
            atexit.register(stop_all)
            _ATEXIT_REGISTERED = True
        if not handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in _HANDLED_SIGNALS:
            current = signal.getsignal(signum)
            if current is _on_signal:
                continue
            _PREVIOUS_HANDLERS[signum] = current
            signal.signal(signum, _on_signal)


class LocalServer:
    """llama-cpp-python's OpenAI-compatible server as a child process on a loopback port.

    `start()` binds the port (`port`, else a free one) and returns at once (call it from the
    main thread: Linux's parent-death signal is tied to the thread that forks); `wait_ready()`
    polls `/v1/models` and may run on another thread. `python_args(fd)` replaces the server's
    Python arguments (tests use a stand-in script): it must serve on the inherited listening
    socket `fd` and require `api_key`, which it finds in the environment (`localchild.KEY_ENV`).
    """

    def __init__(self, gguf: Path | None, log_path: Path, *, host: str = LOOPBACK,
                 port: int | None = None, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 alias: str | None = None, python_args: PythonArgs | None = None,
                 env: dict[str, str] | None = None, handle_signals: bool = True) -> None:
        if gguf is None and python_args is None:
            raise ValueError("LocalServer needs a GGUF file or python_args")
        self.gguf = Path(gguf) if gguf is not None else None
        self.log_path = Path(log_path)
        self.host = host
        self.port = port or 0
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.alias = alias or (model_alias(self.gguf) if self.gguf else "model")
        self._python_args = python_args
        self._env = env
        self._handle_signals = handle_signals
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._models: tuple[str, ...] = ()
        self._reaped = False
        self._listener: socket.socket | None = None
        self._problem: str | None = None  # why a server that answers is not ours
        self.api_key = secrets.token_urlsafe(32)
        self.started_at: float | None = None
        self.ready_after: float | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self, fd: int) -> list[str]:
        """The full argv of the child that serves on the listening socket `fd` (no key in it)."""
        if self._python_args is not None:
            args = list(self._python_args(fd))
        else:
            assert self.gguf is not None
            args = llama_server_args(self.gguf, fd, n_ctx=self.n_ctx, alias=self.alias,
                                     n_threads=self.n_threads)
        deathsig = "1" if threading.current_thread() is threading.main_thread() else "0"
        return [sys.executable, "-c", CHILD_BOOTSTRAP, str(os.getpid()), deathsig, *args]

    def start(self) -> LocalServer:
        """Spawn the server (once); LocalServerError if it cannot be spawned."""
        with self._lock:
            if self._proc is not None:
                return self
            if self._stopping.is_set():
                raise LocalServerError("this local server was stopped; make a new one")
            require_private_dir(self.log_path.parent)
            try:
                listener = bind_loopback(self.host, self.port)
            except OSError as exc:
                raise LocalServerError(f"could not listen on {self.host}:{self.port or 'a free port'}"
                                       f" for the local server: {exc.strerror or exc}") from None
            self.port = int(listener.getsockname()[1])
            try:
                with open_private(self.log_path) as log:
                    self._proc = subprocess.Popen(
                        self.command(listener.fileno()), stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, env=child_environment(self.api_key, self._env),
                        start_new_session=True, close_fds=True, pass_fds=(listener.fileno(),))
            except OSError as exc:
                listener.close()
                raise LocalServerError(f"could not start the local server: {exc}") from None
            self._listener = listener  # kept until stop(): the port stays ours if the child dies
            self.started_at = time.monotonic()
            with _LIVE_LOCK:
                _LIVE.add(self)
            _register_cleanup(self._handle_signals)
            return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def running(self) -> bool:
        """Started, not stopped, and the process has not exited."""
        proc = self._proc
        return proc is not None and not self._stopping.is_set() and proc.poll() is None

    @property
    def state(self) -> str:
        """`new`, `loading`, `ready`, `failed` (exited by itself) or `stopped`: for a toolbar."""
        if self._stopping.is_set():
            return "stopped"
        if self._proc is None:
            return "new"
        if self._proc.poll() is not None or self._problem is not None:
            return "failed"
        return "ready" if self._ready.is_set() else "loading"

    def _ask_models(self, timeout: float, *, with_key: bool = True) -> tuple[int, tuple[str, ...]] | None:
        """(HTTP status, model ids) of GET /v1/models, sent with the key or without it; None
        when nothing answered within `timeout`. Redirects are not followed."""
        request = urllib.request.Request(f"{self.base_url}/models")
        if with_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        try:
            with opener.open(request, timeout=timeout) as reply:
                status, body = int(reply.status), reply.read(1 << 20)
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, ()
        except (OSError, ValueError):
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return status, ()
        items = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            return status, ()
        ids = [i.get("id") if isinstance(i, dict) else i for i in items]
        return status, tuple(i for i in ids if isinstance(i, str))

    def _check_answer(self, timeout: float) -> tuple[str, ...] | None:
        """The model ids when our child answers: it lists models for our key and refuses a
        request without it. Sets `_problem` when what answers is not our child."""
        keyed = self._ask_models(timeout)
        if keyed is None or (keyed[0] != 200 and keyed[0] not in (401, 403)):
            return None  # not answering yet, or loading (503)
        where = f"{self.host}:{self.port}"
        if keyed[0] != 200:
            self._problem = (f"the server on {where} refused the local server's key"
                             f" (HTTP {keyed[0]}); it is not the server chatrepl started")
            return None
        if not keyed[1]:
            return None
        unkeyed = self._ask_models(timeout, with_key=False)
        if unkeyed is None:
            return None
        if unkeyed[0] not in (401, 403):
            self._problem = (f"the server on {where} answers without the local server's key"
                             f" (HTTP {unkeyed[0]}); it is not the server chatrepl started")
            return None
        return keyed[1]

    def wait_ready(self, timeout: float = 120.0, poll: float = 0.1) -> bool:
        """Poll GET /v1/models until it lists a model; False on timeout, exit or stop(), and
        when what answers is not our child (see `_check_answer`)."""
        if self._ready.is_set():
            return True
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None or proc.poll() is not None or self._problem is not None:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            models = self._check_answer(min(2.0, max(0.05, remaining)))
            if models:
                with self._lock:
                    self._models = models
                    if self.started_at is not None and self.ready_after is None:
                        self.ready_after = time.monotonic() - self.started_at
                self._ready.set()
                return True
            self._stopping.wait(min(poll, max(0.0, deadline - time.monotonic())))
        return False

    def wait_ready_in_background(self, timeout: float = 120.0,
                                 on_done: Callable[[bool], None] | None = None) -> threading.Thread:
        """`wait_ready` on a daemon thread; `on_done(ready)` runs on that thread afterwards."""

        def run() -> None:
            ready = self.wait_ready(timeout)
            if on_done is not None:
                on_done(ready)

        thread = threading.Thread(target=run, name="chatrepl-local-ready", daemon=True)
        thread.start()
        return thread

    def ensure_ready(self, timeout: float = 120.0) -> LocalServer:
        """`start()` and `wait_ready()`, or stop and raise LocalServerError with the reason."""
        self.start()
        if self.wait_ready(timeout):
            return self
        reason = self.failure_reason(timeout)
        self.stop()
        raise LocalServerError(reason)

    def failure_reason(self, timeout: float | None = None) -> str:
        """One line on why the server is not ready, with the last line of its log."""
        proc = self._proc
        if self._problem is not None:
            what = self._problem
        elif proc is not None and proc.poll() is not None and proc.returncode in _CRASH_CODES:
            what = (f"the local server crashed ({_CRASH_CODES[proc.returncode]}); if llama.cpp was"
                    " built for this CPU, rebuild it portable: CMAKE_ARGS=-DGGML_NATIVE=OFF pip"
                    " install --force-reinstall --no-cache-dir llama-cpp-python")
        elif proc is not None and proc.poll() is not None:
            what = f"the local server exited with code {proc.returncode}"
        elif timeout is not None:
            what = f"the local server did not answer within {timeout:g} s"
        else:
            what = "the local server is not ready"
        tail = self.log_tail(1)
        return f"{what}: {tail[-1]} (log: {self.log_path})" if tail else f"{what} (log: {self.log_path})"

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last non-empty lines of the server's log."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 16384))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after `timeout`). Idempotent."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
            with _LIVE_LOCK:
                _LIVE.discard(self)
            if proc is None or self._reaped:
                return
            self._reaped = True
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout)
            # Anything the server started in its group goes too (no-op when the group is gone).
            _signal_group(proc.pid, signal.SIGKILL)
            if self._listener is not None:
                self._listener.close()  # only now is the port free again

    # -- what chatrepl needs ----------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """The model id from /v1/models once ready; the announced alias before that."""
        return self._models[0] if self._models else self.alias

    @property
    def models(self) -> tuple[str, ...]:
        return self._models

    def provider_config(self) -> ProviderConfig:
        """Provider `local` at this server's URL with its one model (usable before ready)."""
        return ProviderConfig(id=PROVIDER_ID, name=PROVIDER_NAME, base_api_url=self.base_url,
                              api_key=self.api_key,
                              valid_models={self.model_id: short_name(self.model_id)})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the HTTP error it is, not followed (with the key) elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


__all__ = ["PROVIDER_ID", "PROVIDER_NAME", "LocalServer", "LocalServerError", "stop_all"]
