"""Every limit on what a server may send to a chat turn, in one place, and the error for them.

A read timeout bounds one read, not a reply: a server sending a byte a second never trips it,
so a whole reply also has a deadline (`reply_deadline`).
"""

from __future__ import annotations

MAX_REPLY_CHARS = 16 * 1024 * 1024  # answer and reasoning text of one reply
MAX_SSE_EVENT_BYTES = 1024 * 1024  # one line or one event of a server-sent event stream
MAX_ERROR_BODY_BYTES = 64 * 1024  # the body of an error status; the rest is not read
MAX_BODY_BYTES = 512 * 1024 * 1024  # a successful body (a stream's JSON framing included)
REPLY_DEADLINE_FACTOR = 20  # a reply may take this many read timeouts in all, by default
MAX_TOKEN_COUNT = 10**12  # a usage figure above this is not believed
MAX_SHOWN_ERROR_CHARS = 200  # a provider's error text is cut here, after redaction


class BoundExceeded(Exception):
    """A server sent more, or for longer, than chatrepl reads. `str()` says which bound."""


class DeadlinePassed(BoundExceeded):
    """A response was still arriving when its deadline passed."""


def reply_deadline(read_timeout_seconds: float, configured: float | None = None) -> float:
    """Seconds a whole reply may take: the configured value, else a multiple of the read
    timeout (a read timeout bounds one read, not the reply)."""
    return configured if configured else read_timeout_seconds * REPLY_DEADLINE_FACTOR


def bound_of(exc: BaseException | None) -> BoundExceeded | None:
    """The BoundExceeded behind `exc` (itself, or its cause or context chain), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BoundExceeded):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
