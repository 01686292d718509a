"""The loopback server's server-sent-event replies: a normal stream and its faults (error events,
resets, streams that never end, hostile chunks)."""

from __future__ import annotations

import json
import socket
import struct
from http.server import BaseHTTPRequestHandler
from typing import Any


class StreamingHandler(BaseHTTPRequestHandler):
    """The chat-stream half of the fake server's request handler. `server` has `behavior`
    (a fakebehavior.Behavior) and `stopping` (a threading.Event)."""

    server: Any

    def _wait(self, seconds: float) -> bool:
        """Wait as a slow server would; False if the server is stopping."""
        return not self.server.stopping.wait(seconds) if seconds > 0 else True

    def _stream(self, model: str, words: list[str], usage: dict[str, int],
                body: dict[str, Any]) -> None:
        behavior = self.server.behavior
        fault = behavior.chat_fault
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def event(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        try:
            if fault in ("done_without_finish", "nested_chunk", "huge_usage", "giant_usage",
                         "giant_event", "drip"):
                self._odd_stream(fault, words, chunk)
                return
            event(chunk({"role": "assistant", "content": ""}))
            if fault == "empty_choices":
                event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                       "model": model, "choices": []})
            for thought in behavior.reasoning_chunks or ():
                event(chunk({"reasoning_content": thought}))
            if fault == "reasoning":
                event(chunk({"reasoning_content": "Let me think. "}))
                event(chunk({"reasoning": "Still thinking. "}))
            for index, word in enumerate(words):
                if not self._wait(behavior.chunk_delay):
                    return
                event(chunk({"content": word}))
                if index == len(words) // 2:
                    if fault == "error_event":
                        event({"error": {"message": "upstream model crashed", "code": 500}})
                        return
                    if fault == "error_event_text":
                        event({"error": "overloaded, slow down"})
                        return
                    if fault == "reset_mid_stream":
                        self.connection.shutdown(2)
                        return
                    if fault == "flat_error_event":  # vLLM's shape
                        event({"object": "error", "message": "boom", "type": "BadRequestError",
                               "code": 400})
                        return
                    if fault == "rst_mid_stream":  # a reset, not an orderly close
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                        self.connection.close()
                        return
            if fault == "never_end":
                while self._wait(0.05):
                    event(chunk({"content": "."}))
                return
            event(chunk({}, "stop"))
            stream_options = body.get("stream_options") or {}
            if behavior.usage and stream_options.get("include_usage"):
                event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                       "model": model, "choices": [], "usage": usage})
            if fault != "no_done":
                event("[DONE]")
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


    def _odd_stream(self, fault: str, words: list[str], chunk: Any) -> None:
        """Streams that are valid but unusual, or hostile."""
        write = self.wfile.write
        if fault == "done_without_finish":
            # No finish_reason, no usage: only [DONE] says the reply is over. CRLF line ends,
            # and each event's JSON split over two `data:` lines.
            for word in words:
                text = json.dumps(chunk({"content": word}))
                half = text.index('"choices"')  # between two members: still one JSON text
                write(f"data: {text[:half]}\r\ndata: {text[half:]}\r\n\r\n".encode())
            write(b"data: [DONE]\r\n\r\n")
        elif fault == "nested_chunk":
            write(b"data: " + b"[" * 100_000 + b"\n\n")
        elif fault in ("huge_usage", "giant_usage"):
            count = "9" * 5000 if fault == "huge_usage" else "9" * 400
            write(f"data: {json.dumps(chunk({'content': words[0]}, 'stop'))}\n\n".encode())
            usage = '{"prompt_tokens": ' + count + ', "completion_tokens": 1}'
            write(b'data: {"choices": [], "usage": ' + usage.encode() + b"}\n\n")
            write(b"data: [DONE]\n\n")
        elif fault == "giant_event":  # one 100 MB event, sent 1 MB at a time
            write(b'data: {"choices": [{"index": 0, "delta": {"content": "')
            block = b"x" * (1024 * 1024)
            for _ in range(100):
                if self.server.stopping.is_set():
                    return
                write(block)
            write(b'"}}]}\n\n')
        elif fault == "drip":  # a byte at a time, for ever
            write(f"data: {json.dumps(chunk({'content': words[0]}))}\n\n".encode())
            while self._wait(self.server.behavior.drip_interval):
                write(b":")
                self.wfile.flush()
        self.wfile.flush()
