"""A local OpenAI-compatible server: llama-cpp-python's server on loopback with a small GGUF model.

The model file and how it is found or fetched are `localmodel`'s.

`LocalServer` runs `python -m llama_cpp.server` as a child in its own process group (so the
terminal's Ctrl-C reaches chatrepl, not the server) and stops the whole group on `stop()`,
at exit, on SIGTERM/SIGHUP, and, when chatrepl is killed outright, by itself: the child asks
Linux for a parent-death signal and also watches its parent pid.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
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
from chatrepl.localmodel import LocalServerError

PROVIDER_ID = "local"
PROVIDER_NAME = "Local (llama.cpp)"
LOOPBACK = "127.0.0.1"
DEFAULT_N_CTX = 2048
LOG_NAME = "local-server.log"

# Settings llama_cpp.server also reads from the environment (pydantic-settings, any case), and
# HOST/PORT, which it prefers over its own --host/--port. The child gets none of them.
_SERVER_ENV_NAMES = frozenset({
    "api_key", "cache", "cache_size", "cache_type", "chat_format", "chat_template_kwargs",
    "clip_model_path", "config_file", "disable_ping_events", "draft_model",
    "draft_model_num_pred_tokens", "embedding", "flash_attn", "hf_model_repo_id",
    "hf_pretrained_model_name_or_path", "hf_tokenizer_config_path", "host", "interrupt_requests",
    "kv_overrides", "last_n_tokens_size", "logits_all", "lora_base", "lora_path", "main_gpu",
    "model", "model_alias", "models", "mul_mat_q", "n_batch", "n_ctx", "n_gpu_layers",
    "n_threads", "n_threads_batch", "n_ubatch", "numa", "offload_kqv", "port", "root_path",
    "rope_freq_base", "rope_freq_scale", "rope_scaling_type", "rpc_servers", "seed",
    "split_mode", "ssl_certfile", "ssl_keyfile", "tensor_split", "type_k", "type_v",
    "use_mlock", "use_mmap", "verbose", "vocab_only", "yarn_attn_factor", "yarn_beta_fast",
    "yarn_beta_slow", "yarn_ext_factor", "yarn_orig_ctx",
})

# Runs in the child before the server: die with the parent (prctl PR_SET_PDEATHSIG where the
# parent started us from its main thread, plus a watcher of the parent pid everywhere), then
# run the server module or script as __main__. Self-contained: imports nothing of chatrepl.
_CHILD_BOOTSTRAP = """\
import os, sys, threading
parent, deathsig, args = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
if deathsig and sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 15, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:
        pass
if os.getppid() != parent:
    os._exit(0)
def _watch():
    pause = threading.Event()
    while not pause.wait(0.25):
        if os.getppid() != parent:
            os._exit(0)
threading.Thread(target=_watch, name="chatrepl-parent-watch", daemon=True).start()
import runpy
if sys.path and sys.path[0] == "":
    del sys.path[0]
if args[0] == "-m":
    sys.argv = [args[1], *args[2:]]
    runpy.run_module(args[1], run_name="__main__", alter_sys=True)
else:
    sys.argv = list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
    runpy.run_path(args[0], run_name="__main__")
"""


# -- the server process --------------------------------------------------------------------
def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def model_alias(gguf: Path) -> str:
    """The model id the server announces: the file name without `.gguf`."""
    name = Path(gguf).name
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def short_name(model_id: str) -> str:
    """`SmolLM2-135M-Instruct.Q4_1` -> `smollm2-135m-instruct`."""
    return model_id.split(".", 1)[0].lower() or model_id


def default_threads() -> int:
    """Half the CPUs this process may use, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 2
    return max(1, cpus // 2)


def llama_server_args(gguf: Path, host: str, port: int, *, n_ctx: int = DEFAULT_N_CTX,
                      alias: str | None = None, n_threads: int | None = None) -> list[str]:
    """Python arguments that run llama-cpp-python's server (its flags are `--snake_case`).

    The prompt is processed with as many threads as generation uses (the server's default is
    every CPU): OpenMP threads that outnumber the free cores spin against each other, and on
    2 busy cores that made the first token 5-13 s late instead of well under 1 s.
    """
    threads = str(n_threads or default_threads())
    return ["-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
            alias or model_alias(gguf), "--host", host, "--port", str(port), "--n_ctx", str(n_ctx),
            "--n_threads", threads, "--n_threads_batch", threads]


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) without the variables that would reconfigure the server."""
    source = dict(os.environ if env is None else env)
    return {k: v for k, v in source.items() if k.lower() not in _SERVER_ENV_NAMES}


_CRASH_CODES = {-signal.SIGSEGV: "SIGSEGV", -signal.SIGILL: "SIGILL"}

PythonArgs = Callable[[str, int], Sequence[str]]

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
    """llama-cpp-python's OpenAI-compatible server as a child process on a free loopback port.

    `start()` returns at once (call it from the main thread: Linux's parent-death signal is
    tied to the thread that forks); `wait_ready()` polls `/v1/models` and may run on another
    thread. `python_args(host, port)` replaces the server's Python arguments (tests use a
    stand-in script).
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
        self.started_at: float | None = None
        self.ready_after: float | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self) -> list[str]:
        """The full argv of the child."""
        if self._python_args is not None:
            args = list(self._python_args(self.host, self.port))
        else:
            assert self.gguf is not None
            args = llama_server_args(self.gguf, self.host, self.port, n_ctx=self.n_ctx,
                                     alias=self.alias, n_threads=self.n_threads)
        deathsig = "1" if threading.current_thread() is threading.main_thread() else "0"
        return [sys.executable, "-c", _CHILD_BOOTSTRAP, str(os.getpid()), deathsig, *args]

    def start(self) -> LocalServer:
        """Spawn the server (once); LocalServerError if it cannot be spawned."""
        with self._lock:
            if self._proc is not None:
                return self
            if self._stopping.is_set():
                raise LocalServerError("this local server was stopped; make a new one")
            if not self.port:
                self.port = free_port(self.host)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(self.log_path, "wb") as log:
                    self._proc = subprocess.Popen(
                        self.command(), stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, env=child_environment(self._env),
                        start_new_session=True, close_fds=True)
            except OSError as exc:
                raise LocalServerError(f"could not start the local server: {exc}") from None
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
        if self._proc.poll() is not None:
            return "failed"
        return "ready" if self._ready.is_set() else "loading"

    def _ask_models(self, timeout: float) -> tuple[str, ...] | None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.base_url}/models", timeout=timeout) as reply:
                if reply.status != 200:
                    return None
                payload = json.loads(reply.read(1 << 20))
        except (OSError, ValueError, urllib.error.URLError):
            return None
        items = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            return None
        ids = [i.get("id") if isinstance(i, dict) else i for i in items]
        return tuple(i for i in ids if isinstance(i, str))

    def wait_ready(self, timeout: float = 120.0, poll: float = 0.1) -> bool:
        """Poll GET /v1/models until it lists a model; False on timeout, exit or stop()."""
        if self._ready.is_set():
            return True
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            models = self._ask_models(min(2.0, max(0.05, remaining)))
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
        if proc is not None and proc.poll() is not None and proc.returncode in _CRASH_CODES:
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
                              valid_models={self.model_id: short_name(self.model_id)})


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


__all__ = ["PROVIDER_ID", "PROVIDER_NAME", "LocalServer", "LocalServerError", "stop_all"]
