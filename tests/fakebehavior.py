"""What the loopback OpenAI server does (`Behavior`, the fault names it knows, the error body
shapes of real providers) and what it saw (`SeenRequest`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Values for Behavior.models_fault and Behavior.chat_fault.
MODELS_FAULTS = ("bare_array", "data_null", "html_200", "malformed", "no_object_fields",
                 "models_key", "endless", "drip", "drip_head", "nested", "huge_id")
CHAT_FAULTS = ("error_event", "error_event_text", "reset_mid_stream", "never_end", "no_done", "plain_json",
               "reject_stream_options", "empty_choices", "reasoning", "done_without_finish",
               "flat_error_event", "rst_mid_stream", "drop_long_prompt", "nested_chunk",
               "huge_usage", "giant_usage", "giant_event", "drip", "giant_error",
               "empty_stream_on_long_prompt", "gzip_bomb")
# Error bodies as providers send them (for Behavior.error_body): the text to show is "not here".
ERROR_SHAPES = {
    "openai": '{"error": {"message": "not here", "type": "invalid_request_error"}}',
    "ollama": '{"error": "not here"}',
    "fastapi": '{"detail": [{"loc": ["body", "model"], "msg": "not here", "type": "missing"}]}',
    "fastapi_text": '{"detail": "not here"}',
    "gemini": '[{"error": {"code": 404, "message": "not here", "status": "NOT_FOUND"}}]',
    "message": '{"message": "not here"}',
    "vllm": '{"object": "error", "message": "not here", "type": "NotFoundError", "code": 404}',
}


@dataclass
class Behavior:
    """What the server does. Tests change fields between requests."""

    models: list[str] = field(default_factory=lambda: ["fake-chat", "fake-embedding-small"])
    models_status: int = 200
    models_fault: str | None = None
    models_delay: float = 0.0
    models_entries: list[dict[str, Any]] | None = None  # sent as they are, instead of `models`
    drip_interval: float = 0.05  # seconds between bytes for the "drip" fault
    chat_reply: str = "Hello from the fake server."
    chat_status: int = 200
    chat_fault: str | None = None
    chat_delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_count: int | None = None  # send this many one-word chunks instead of chat_reply
    retry_after: str | None = None
    error_body: str | None = None  # raw body for error statuses (e.g. HTML)
    unknown_models: set[str] = field(default_factory=set)  # chat on these answers 404
    usage: bool = True
    api_key: str | None = None  # when set, a request without `Bearer <api_key>` answers 401
    content_chunks: list[str] | None = None  # send exactly these content deltas
    reasoning_chunks: list[str] | None = None  # reasoning deltas sent before the content
    redirect_to: str | None = None  # chat and /models answer 307 with this Location
    long_prompt_chars: int = 4000  # drop_long_prompt: a prompt this long gets no answer
    drip_interval: float = 0.05  # drip: seconds between the bytes of an endless reply
    # A chat request waits (at most `chat_delay` seconds) until this many are in flight at
    # once, so requests a client sends together overlap however slowly they arrive.
    chat_hold_until: int = 0
    on_request: Callable[[str], None] | None = None  # called with each request's path, first


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
