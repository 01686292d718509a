"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks the real wire format (JSON model lists, chat completions, server-sent events), so the
official SDK parses real bytes. Fault knobs reproduce what real providers do wrong.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from fakebehavior import Behavior, SeenRequest
from fakestreams import StreamingHandler


class _Handler(StreamingHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- helpers -------------------------------------------------------------------------
    def _record(self, body: Any) -> None:
        hook = self.server.behavior.on_request
        if hook is not None:
            hook(self.path)
        with self.server.lock:
            self.server.seen.append(SeenRequest(self.command, self.path, dict(self.headers), body))

    def _send(self, status: int, body: str | bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error_status(self, status: int, message: str) -> None:
        behavior = self.server.behavior
        headers = {"Retry-After": behavior.retry_after} if behavior.retry_after else {}
        if behavior.error_body is not None:
            first = behavior.error_body.lstrip()[:1]
            kind = {"<": "text/html", "{": "application/json", "[": "application/json"}.get(
                first, "text/plain")
            self._send(status, behavior.error_body, kind, headers)
            return
        body = {"error": {"message": message, "type": "invalid_request_error", "code": status}}
        self._send(status, json.dumps(body), headers=headers)

    def _authorized(self) -> bool:
        """False (after answering 401) when the server wants a key this request lacks."""
        key = self.server.behavior.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send(401, json.dumps({"error": {"message": "Invalid API key"}}))
        return False

    # -- routes --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/models") and self.path.startswith(self.server.prefix):
            self._models()
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self._record(body)
        if not self._authorized():
            return
        if self.path == f"{self.server.prefix}/chat/completions" and isinstance(body, dict):
            self._chat(body)
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

    def _redirect(self) -> bool:
        """Answer 307 when the behaviour says so; True when it did."""
        target = self.server.behavior.redirect_to
        if target is None:
            return False
        self._send(307, b"", "text/plain", {"Location": target})
        return True

    def _giant_error(self) -> None:
        """A 400 whose JSON body is 20 MB, written 64 KB at a time (never held whole here)."""
        head, block, tail = b'{"error": {"message": "', b"x" * 65536, b'"}}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + 320 * len(block) + len(tail)))
        self.end_headers()
        try:
            self.wfile.write(head)
            for _ in range(320):
                self.wfile.write(block)
            self.wfile.write(tail)
        except OSError:
            return

    def _models(self) -> None:
        behavior = self.server.behavior
        if not self._wait(behavior.models_delay):
            return
        if self._redirect():
            return
        if behavior.models_status != 200:
            self._send_error_status(behavior.models_status, "models unavailable")
            return
        entries = behavior.models_entries or [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for m in behavior.models]
        fault = behavior.models_fault
        if fault in ("endless", "drip", "drip_head", "nested", "huge_id"):
            self._hostile_models(fault)
        elif fault == "bare_array":
            self._send(200, json.dumps(entries))
        elif fault == "data_null":
            self._send(200, json.dumps({"object": "list", "data": None}))
        elif fault == "html_200":
            self._send(200, "<html><body>Please log in</body></html>", "text/html")
        elif fault == "malformed":
            self._send(200, '{"data": [{"id": "broken"')
        elif fault == "no_object_fields":
            self._send(200, json.dumps({"data": [{"id": m} for m in behavior.models]}))
        elif fault == "models_key":
            self._send(200, json.dumps({"models": behavior.models_entries
                                        or [{"name": m} for m in behavior.models]}))
        else:
            self._send(200, json.dumps({"object": "list", "data": entries}))

    def _hostile_models(self, fault: str) -> None:
        """A model list that never ends, arrives a byte at a time, nests 100,000 deep, or holds
        one 100 MB id; "drip_head" drips its headers."""
        behavior = self.server.behavior
        if fault == "drip_head":
            try:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Drip: ")
                while self._wait(behavior.drip_interval):
                    self.wfile.write(b"a")
                    self.wfile.flush()
            except OSError:
                pass
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault == "nested":
            body = b"[" * 100_000
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.end_headers()
        try:
            if fault == "huge_id":
                self.wfile.write(b'{"data": [{"id": "')
                block = b"x" * (1024 * 1024)
                for _ in range(100):
                    self.wfile.write(block)
                self.wfile.write(b'"}, {"id": "fake-chat"}]}')
            elif fault == "endless":
                self.wfile.write(b'{"data": [')
                block = b'{"id": "m"},' * 8192
                while not self.server.stopping.is_set():
                    self.wfile.write(block)
            else:  # drip: a valid start, then one byte every drip_interval, forever
                self.wfile.write(b'{"data": [{"id": "a"}')
                while self._wait(behavior.drip_interval):
                    self.wfile.write(b" ")
                    self.wfile.flush()
        except OSError:
            return

    def _chat(self, body: dict[str, Any]) -> None:
        server = self.server
        with server.in_flight_changed:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.in_flight_changed.notify_all()
        try:
            self._chat_in_flight(body)
        finally:
            with server.in_flight_changed:
                server.in_flight -= 1
                server.in_flight_changed.notify_all()

    def _hold(self, count: int, seconds: float) -> bool:
        """Wait until `count` chat requests are in flight (at most `seconds`); False if the
        server is stopping."""
        server = self.server
        deadline = time.monotonic() + seconds
        with server.in_flight_changed:
            while server.in_flight < count and not server.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                server.in_flight_changed.wait(min(left, 0.05))
        return not server.stopping.is_set()

    def _chat_in_flight(self, body: dict[str, Any]) -> None:
        behavior = self.server.behavior
        model = str(body.get("model", ""))
        if behavior.chat_hold_until:
            if not self._hold(behavior.chat_hold_until, behavior.chat_delay):
                return
        elif not self._wait(behavior.chat_delay):
            return
        if self._redirect():
            return
        if behavior.chat_fault == "drop_long_prompt" and \
                len(json.dumps(body.get("messages"))) >= behavior.long_prompt_chars:
            self.connection.shutdown(2)  # as llama.cpp's server does on an oversize prompt
            return
        if behavior.chat_fault == "empty_stream_on_long_prompt" and \
                len(json.dumps(body.get("messages"))) >= behavior.long_prompt_chars:
            self.send_response(200)  # headers, then nothing: llama-cpp-python's server does so
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            return
        if model in behavior.unknown_models:
            self._send_error_status(404, f"The model `{model}` does not exist")
            return
        if behavior.chat_status != 200:
            self._send_error_status(behavior.chat_status, "chat failed")
            return
        if behavior.chat_fault == "giant_error":
            self._giant_error()
            return
        if behavior.chat_fault == "gzip_bomb":  # 10 KB that would expand to 10 MB
            body = gzip.compress(b"data: " + b"[" * (10 * 1024 * 1024) + b"\n\n", 1)
            self._send(200, body, "text/event-stream", {"Content-Encoding": "gzip"})
            return
        if behavior.chat_fault == "reject_stream_options" and "stream_options" in body:
            self._send_error_status(400, "Unrecognized request argument: stream_options")
            return
        words = self._reply_words()
        usage = {"prompt_tokens": _count_tokens(body.get("messages")),
                 "completion_tokens": len(words), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream") or behavior.chat_fault == "plain_json":
            self._send(200, json.dumps({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(words)}}],
                "usage": usage,
            }))
            return
        self._stream(model, words, usage, body)

    def _reply_words(self) -> list[str]:
        behavior = self.server.behavior
        if behavior.content_chunks is not None:
            return list(behavior.content_chunks)
        if behavior.chunk_count is not None:
            return [f"w{i} " for i in range(behavior.chunk_count)]
        parts = behavior.chat_reply.split(" ")
        return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]

def _count_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, prefix: str, port: int = 0, sock: socket.socket | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler, bind_and_activate=sock is None)
        if sock is not None:  # serve on a socket that is already listening (inherited)
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()
        self.prefix = prefix
        self.behavior = Behavior()
        self.seen: list[SeenRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.in_flight = 0  # chat requests being answered now; guarded by in_flight_changed
        self.max_in_flight = 0
        self.in_flight_changed = threading.Condition()


class FakeOpenAIServer:
    """Start with `start()` (or as a context manager); `url` is the base URL with `/v1`.

    `sock`: serve on this listening socket instead of binding `port`.
    """

    def __init__(self, prefix: str = "/v1", port: int = 0, sock: socket.socket | None = None) -> None:
        self._server = _Server(prefix, port, sock)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="fake-openai-server", daemon=True)

    @property
    def behavior(self) -> Behavior:
        return self._server.behavior

    @behavior.setter
    def behavior(self, value: Behavior) -> None:
        self._server.behavior = value

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root_url + self._server.prefix

    @property
    def requests(self) -> list[SeenRequest]:
        with self._server.lock:
            return list(self._server.seen)

    @property
    def max_in_flight(self) -> int:
        """The most chat requests this server has answered at the same time."""
        with self._server.in_flight_changed:
            return self._server.max_in_flight

    def count(self, path_suffix: str) -> int:
        return sum(1 for r in self.requests if r.path.rstrip("/").endswith(path_suffix))

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
