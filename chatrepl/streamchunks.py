"""Chat-completion chunks off an openai SDK stream as plain JSON data.

The SDK decodes the server-sent events, maps transport failures to `APITimeoutError` /
`APIConnectionError` and turns `{"error": ...}` events into `APIError`; all of that is kept.
What is skipped is building a pydantic model per chunk, which is about nine tenths of the
SDK's per-chunk cost: each chunk is one `json.loads`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def iter_chunks(stream: Any) -> Iterator[Any]:
    """Each chunk of `stream` (an `openai.Stream`) as decoded JSON, until `[DONE]` or the end.

    Raises `openai.APIError` for an error event and `json.JSONDecodeError` for a data line that
    is not JSON. An SDK without `Stream._iter_events` is read through its own iteration (model
    objects; the caller reads both). The HTTP response is closed when iteration stops.
    """
    events = getattr(stream, "_iter_events", None)
    if events is None:
        yield from stream
        return
    loads = json.loads
    try:
        for event in events():
            data = event.data
            if data.startswith("[DONE]"):
                break
            chunk = loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                raise _error_event(chunk["error"], stream)
            yield chunk
    finally:
        stream.response.close()


def _error_event(error: Any, stream: Any) -> Exception:
    """The `openai.APIError` the SDK raises for an `{"error": ...}` event in a stream."""
    import openai

    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=stream.response.request, body=error)
