"""Bounds on what a server may send: byte caps and a wall-clock deadline on every response.

The limits themselves are in `limits`. `BoundedTransport` wraps the HTTP
library's transport under the openai SDK's client (see `clients.make_client`): each response
body is read through `BoundedStream`, which ends an error body quietly at its cap, refuses a
larger successful body, and refuses to read on once the request's deadline has passed (a read
timeout only bounds one read, so a server dripping a byte a second would otherwise never end).
It also asks for uncompressed bodies, so a cap on the bytes read is a cap on what is held.

Imported only once the SDK (and so its HTTP library) is loaded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from chatrepl.limits import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES, BoundExceeded, DeadlinePassed

try:  # httpx2 for SDK 3.x, httpx before
    import httpx2 as http
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as http  # type: ignore[no-redef]  # the same name, from the other library


class BoundedStream(http.SyncByteStream):
    """A response body read under a byte cap and a deadline (`seconds` after the request
    `started`, by time.monotonic()). `truncate`: end quietly at the cap (an error body) instead
    of refusing the body."""

    def __init__(self, inner: Any, *, cap: int, started: float, seconds: float,
                 truncate: bool) -> None:
        self._inner = inner
        self._cap = cap
        self._seconds = seconds
        self._deadline = started + seconds
        self._truncate = truncate

    def __iter__(self) -> Iterator[bytes]:
        read = 0
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise DeadlinePassed(f"was still sending after {self._seconds:g} s in all; "
                                    "stopped reading")
            if read + len(chunk) > self._cap:
                if self._truncate:
                    yield chunk[: self._cap - read]
                    return
                raise BoundExceeded(f"sent more than {self._cap / (1024 * 1024):g} MB; "
                                    "stopped reading")
            read += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class BoundedTransport(http.BaseTransport):
    """Wraps a transport so that every response body is read under caps and a deadline."""

    def __init__(self, inner: Any, *, deadline_seconds: float, max_body_bytes: int = MAX_BODY_BYTES,
                 max_error_body_bytes: int = MAX_ERROR_BODY_BYTES) -> None:
        self._inner = inner
        self._deadline_seconds = deadline_seconds
        self._max_body = max_body_bytes
        self._max_error_body = max_error_body_bytes

    def handle_request(self, request: Any) -> Any:
        request.headers["Accept-Encoding"] = "identity"
        started = time.monotonic()
        response = self._inner.handle_request(request)
        failed = response.status_code >= 300
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Not asked for; decoding it could turn a small body into a huge one.
            response.close()
            raise BoundExceeded(f"answered with a compressed body ({encoding[:20]}) although "
                                "none was asked for")
        response.stream = BoundedStream(
            response.stream, started=started, seconds=self._deadline_seconds, truncate=failed,
            cap=self._max_error_body if failed else self._max_body)
        return response

    def close(self) -> None:
        self._inner.close()


def bound_transports(client: Any, *, deadline_seconds: float,
                     max_body_bytes: int = MAX_BODY_BYTES,
                     max_error_body_bytes: int = MAX_ERROR_BODY_BYTES) -> None:
    """Put every transport of an HTTP client (the default one and any proxy's) under bounds.

    Done after the client is built, because handing the client a transport of our own would
    turn off the environment's proxy settings.
    """
    def wrap(transport: Any) -> Any:
        if transport is None or isinstance(transport, BoundedTransport):
            return transport
        return BoundedTransport(transport, deadline_seconds=deadline_seconds,
                                max_body_bytes=max_body_bytes,
                                max_error_body_bytes=max_error_body_bytes)

    client._transport = wrap(client._transport)
    mounts = getattr(client, "_mounts", None)
    if isinstance(mounts, dict):
        client._mounts = {pattern: wrap(transport) for pattern, transport in mounts.items()}
