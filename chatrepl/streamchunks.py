"""Chat-completion chunks off an openai SDK stream as plain JSON data, read under bounds.

The server-sent events are decoded here from the response's bytes rather than by the SDK,
whose decoder holds a line or an event of any size: here one line or one event is at most
`limits.MAX_SSE_EVENT_BYTES`. Transport failures become the SDK's `APITimeoutError` /
`APIConnectionError` and error events its `APIError`, as the SDK would raise them. No pydantic
model is built per chunk (about nine tenths of the SDK's per-chunk cost): each chunk is one
`json.loads`.

This is the one module that reads an SDK stream: whichever way a chunk arrives, the rest of
chatrepl gets it as the JSON object the server sent (a dict, or whatever other JSON value a
broken server sent; readers check).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chatrepl.apierrors import provider_message
from chatrepl.limits import MAX_SSE_EVENT_BYTES, BoundExceeded

_LINE_END = re.compile(rb"\r\n|\r|\n")


class MalformedChunk(ValueError):
    """A `data:` event that is not JSON chatrepl can read (bad syntax, absurd nesting or
    numbers)."""


def iter_chunks(stream: Any, on_done: Callable[[], None] | None = None) -> Iterator[Any]:
    """Each chunk of `stream` (an `openai.Stream`) as decoded JSON, until `[DONE]` or the end.

    `on_done` is called when the server sent `[DONE]`, which says the reply is complete.
    Raises `openai.APIError` for an error event (`{"error": ...}` or vLLM's flat
    `{"object": "error", ...}`), `MalformedChunk` for a data event that cannot be read, and
    `BoundExceeded` for an event over the size cap. A stream without a `response` (a stand-in
    for another SDK) is read through its own iteration, each chunk object dumped to the same
    plain data. The HTTP response is closed when iteration stops.
    """
    response = getattr(stream, "response", None)
    if response is None or not hasattr(response, "iter_bytes"):
        for chunk in stream:
            yield as_data(chunk)
        return
    try:
        for data in sse_data(_bytes_of(response)):
            if data.startswith("[DONE]"):
                if on_done is not None:
                    on_done()
                break
            chunk = _decode(data)
            error = _error_in(chunk)
            if error is not None:
                raise _error_event(error, response)
            yield chunk
    finally:
        response.close()


def as_data(chunk: Any) -> Any:
    """An SDK chunk object as the JSON object it was read from (the SDK's own `to_dict()`:
    the server's field names, only the fields it sent); plain data is returned as it is."""
    to_dict = getattr(chunk, "to_dict", None)
    return to_dict() if callable(to_dict) and not isinstance(chunk, dict) else chunk


def sse_data(byte_chunks: Iterable[bytes], max_bytes: int = MAX_SSE_EVENT_BYTES) -> Iterator[str]:
    """The data of each server-sent event in `byte_chunks` (lines end in CR, LF or CRLF; the
    `data:` lines of one event are joined with newlines). BoundExceeded for a line or an event
    longer than `max_bytes`: neither is ever held larger than that."""
    buffer = bytearray()  # the start of a line whose end has not arrived yet
    data: list[bytes] = []
    size = 0
    skip_lf = False  # the last block ended in CR: a LF starting the next one ends no line
    for block in byte_chunks:
        start = 1 if skip_lf and block[:1] == b"\n" else 0
        skip_lf = False
        for match in _LINE_END.finditer(block, start):
            buffer += memoryview(block)[start:match.start()]
            start = match.end()
            skip_lf = match.group() == b"\r" and start == len(block)
            line = bytes(buffer)
            buffer.clear()
            if not line:
                if data:
                    yield b"\n".join(data).decode("utf-8", "replace")
                data, size = [], 0
            elif line.startswith(b"data:"):
                value = line[6:] if line.startswith(b"data: ") else line[5:]
                size += len(value) + 1
                if size > max_bytes:
                    raise _too_big(max_bytes)
                data.append(value)
        buffer += memoryview(block)[start:]
        if len(buffer) > max_bytes:
            raise _too_big(max_bytes)
    if buffer.startswith(b"data:"):
        data.append(bytes(buffer[6:] if buffer.startswith(b"data: ") else buffer[5:]))
    if data:
        yield b"\n".join(data).decode("utf-8", "replace")


def _too_big(max_bytes: int) -> BoundExceeded:
    return BoundExceeded(f"sent a stream event larger than {max_bytes / (1024 * 1024):g} MB; "
                         "stopped reading")


def _bytes_of(response: Any) -> Iterator[bytes]:
    """The response body, with transport failures raised as the SDK raises them."""
    import openai

    from chatrepl.bounded import http

    try:
        yield from response.iter_bytes()
    except http.TimeoutException as err:
        raise openai.APITimeoutError(request=response.request) from err
    except http.TransportError as err:
        raise openai.APIConnectionError(request=response.request) from err


_MAX_INT_DIGITS = 100
_ABSURD = 10**_MAX_INT_DIGITS  # beyond any real count: readers that bound numbers refuse it


def _int(text: str) -> int:
    """A JSON integer; an absurdly long one (5,000 digits) as a number no bound accepts."""
    if len(text) > _MAX_INT_DIGITS:
        return -_ABSURD if text.startswith("-") else _ABSURD
    return int(text)


def _decode(data: str) -> Any:
    try:
        return json.loads(data, parse_int=_int)
    except RecursionError:
        raise MalformedChunk("sent a malformed reply (nested too deeply)") from None
    except ValueError:  # bad JSON
        raise MalformedChunk("sent a malformed reply") from None


def _error_in(chunk: Any) -> Any:
    """The error an event carries, or None: `{"error": ...}`, or vLLM's flat error object."""
    if not isinstance(chunk, dict):
        return None
    if chunk.get("error"):
        return chunk["error"]
    return chunk if chunk.get("object") == "error" else None


def _error_event(error: Any, response: Any) -> Exception:
    """The `openai.APIError` the SDK raises for an error event in a stream."""
    import openai

    message = provider_message(error) or "An error occurred during streaming"
    return openai.APIError(message=message, request=response.request, body=error)
