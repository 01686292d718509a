"""One reply as it arrives: stream chunks (or a whole completion) in, text and events out.

Chunks and completions are the JSON data the server sent (`streamchunks` hands every chunk
over in that one shape); a field of the wrong JSON type is skipped, as is a chunk that is not
an object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chatrepl.limits import MAX_REPLY_CHARS, MAX_TOKEN_COUNT, BoundExceeded


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A piece of the reply as it arrives: answer text ('content') or thinking ('reasoning')."""

    kind: Literal["content", "reasoning"]
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as reported by the provider."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens)


EventCallback = Callable[[StreamEvent], None]


def _field(obj: Any, name: str) -> Any:
    """A field of a JSON object; None when absent or when `obj` is not an object."""
    return obj.get(name) if isinstance(obj, dict) else None  # dict: the Mapping ABC costs more


def usage_from(raw: Any) -> Usage | None:
    """Usage from a chunk's or a saved session's token counts; None when there are none or
    they are not believable (negative, or beyond any real count)."""
    if raw is None:
        return None
    prompt, completion = _field(raw, "prompt_tokens"), _field(raw, "completion_tokens")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    counts = [value if isinstance(value, int) else 0 for value in (prompt, completion)]
    if not all(0 <= count <= MAX_TOKEN_COUNT for count in counts):
        return None
    return Usage(counts[0], counts[1])


def _reasoning_of(part: Any) -> str:
    for name in ("reasoning_content", "reasoning"):
        value = _field(part, name)
        if isinstance(value, str) and value:
            return value
    return ""


class Reply:
    """Collects one reply from stream chunks (or a whole completion) and emits events."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self._on_event = on_event
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.chunks = 0
        self.size = 0  # characters of answer and reasoning so far
        self.done = False  # the server said `[DONE]`
        self.interrupted = False

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def complete(self) -> bool:
        """True when the server said the reply was over: a finish reason, the usage chunk or
        `[DONE]`."""
        return self.finish_reason is not None or self.usage is not None or self.done

    def mark_done(self) -> None:
        """The server sent `[DONE]`."""
        self.done = True

    def _emit(self, kind: Literal["content", "reasoning"], text: str) -> None:
        self.size += len(text)
        if self.size > MAX_REPLY_CHARS:
            raise BoundExceeded(f"sent a reply longer than {MAX_REPLY_CHARS // (1024 * 1024)} "
                                "MB of text; stopped reading")
        (self.content if kind == "content" else self.reasoning).append(text)
        if self._on_event is not None:
            self._on_event(StreamEvent(kind, text))

    def add_chunk(self, chunk: Any) -> None:
        self.chunks += 1
        usage = usage_from(_field(chunk, "usage"))
        if usage is not None:
            self.usage = usage
        choices = _field(chunk, "choices")
        for choice in choices if isinstance(choices, list) else ():
            if _field(choice, "index") not in (None, 0):
                continue
            finish = _field(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self.finish_reason = finish
            delta = _field(choice, "delta")
            if delta is not None:
                self._emit_parts(delta)

    def add_completion(self, data: Mapping[str, Any]) -> None:
        """A whole (non-streamed) chat completion, as from a server that ignored `stream`."""
        self.chunks += 1
        self.usage = usage_from(data.get("usage"))
        choices = data.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices else {}
        message = _field(choice, "message") or {}
        self.finish_reason = _field(choice, "finish_reason") or "stop"
        self._emit_parts(message)

    def _emit_parts(self, part: Any) -> None:
        """Reasoning, then answer text, of a delta or a whole message."""
        thought = _reasoning_of(part)
        if thought:
            self._emit("reasoning", thought)
        content = _field(part, "content")
        if isinstance(content, str) and content:
            self._emit("content", content)
