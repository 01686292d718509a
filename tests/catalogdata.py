"""A small models.dev catalog for tests: `model()` and `provider()` build entries in its shape,
`RAW` is a catalog with the cases matching has to get right, `api_server()` serves a catalog
(`NEW_RAW` unless told otherwise) on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def model(model_id: str, *, context: int | None = 128000, output: int | None = 16384,
          price: tuple[float, float] | None = (1.0, 2.0), tools: bool = True, vision: bool = False,
          reasoning: bool = False, open_weights: bool = False, name: str | None = None) -> dict[str, Any]:
    limit: dict[str, Any] = {}
    if context is not None:
        limit["context"] = context
    if output is not None:
        limit["output"] = output
    entry: dict[str, Any] = {
        "id": model_id, "name": name or model_id, "attachment": vision, "reasoning": reasoning,
        "tool_call": tools, "open_weights": open_weights, "release_date": "2024-07-18",
        "last_updated": "2024-07-18", "knowledge": "2023-09",
        "modalities": {"input": ["text", "image"] if vision else ["text"], "output": ["text"]},
        "limit": limit,
    }
    if price is not None:
        entry["cost"] = {"input": price[0], "output": price[1]}
    return entry


def provider(pid: str, *models: dict[str, Any]) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "env": [], "npm": "", "doc": "",
            "models": {m["id"]: m for m in models}}


RAW: dict[str, Any] = {
    # Sorts first, so it is what a plain "first provider" fallback would pick.
    "aaa-reseller": provider(
        "aaa-reseller",
        model("gpt-4o-mini", price=(9.0, 9.0)),
        model("mystery-7b", context=8192, price=None, tools=False),
        model("meta-llama/llama-3.3-70b-instruct", price=(0.5, 0.5)),
    ),
    "anthropic": provider(
        "anthropic",
        model("claude-3-5-sonnet-20240620", context=200000, price=(3.0, 15.0), vision=True),
        model("claude-3-5-sonnet-20241022", context=200000, price=(3.0, 15.0), vision=True),
        model("claude-3-opus-20240229", context=200000, price=(15.0, 75.0), vision=True),
    ),
    "google": provider(
        "google",
        model("gemini-2.5-flash", context=1048576, price=(0.3, 2.5), vision=True, reasoning=True),
    ),
    "llama": provider("llama", model("llama-3.3-70b-instruct", price=(0.0, 0.0))),
    "openai": provider(
        "openai",
        model("gpt-4o-mini", context=128000, output=16384, price=(0.15, 0.6), vision=True,
              name="GPT-4o mini"),
        model("gpt-4o", price=(2.5, 10.0), vision=True),
        model("gpt-4o-2024-08-06", price=(2.5, 10.0), vision=True, name="GPT-4o Aug"),
        model("o3-mini", context=200000, price=(1.1, 4.4), reasoning=True),
    ),
    "togetherai": provider(
        "togetherai",
        model("meta-llama/Llama-3.3-70B-Instruct-Turbo", context=131072, price=(0.88, 0.88),
              open_weights=True),
    ),
}


NEW_RAW = {"newco": provider("newco", model("new-model-1", context=32768, price=(0.1, 0.2)))}


class _Routes:
    def __init__(self) -> None:
        self.status = 200
        self.body = json.dumps(NEW_RAW).encode()
        self.hits = 0
        self.lock = threading.Lock()


@contextmanager
def api_server() -> Iterator[tuple[str, _Routes]]:
    """A loopback HTTP server that answers GET /api.json with `routes.body`."""
    routes = _Routes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with routes.lock:
                routes.hits += 1
            status, body = (routes.status, routes.body) if self.path == "/api.json" else (404, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api.json", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
