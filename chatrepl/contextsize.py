"""How much of the model's context window a conversation takes: a local estimate from the wire
messages, corrected by the prompt tokens the provider reported for the last reply.

No I/O and no prompt_toolkit. The estimate is a function of what goes on the wire
(`ChatSession.wire_messages()`), so whatever a message carries there (text parts, images)
counts. The toolbar asks on every redraw: the figure is cached per conversation list (a
ChatSession replaces its list at the end of each turn, never edits it in place).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatrepl.usagetext import estimate_tokens

if TYPE_CHECKING:
    from chatrepl.chat import ChatSession, TurnResult
    from chatrepl.messages import Message
    from chatrepl.modelinfo import ModelInfo

MESSAGE_OVERHEAD = 4  # role and separators around each message, in tokens
IMAGE_TOKENS = 1000  # an image part: about what a high-detail tile set costs at OpenAI
DEFAULT_RESERVE = 4096  # room kept for the reply when no max_tokens is set
MIN_RATIO, MAX_RATIO = 0.25, 4.0  # a reported count further off than this is not believed


def part_tokens(part: Any) -> int:
    """Tokens of one content part: text by its length, an image as IMAGE_TOKENS, anything
    else by the length of its JSON."""
    if isinstance(part, str):
        return estimate_tokens(part)
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind == "text":
            return estimate_tokens(str(part.get("text", "")))
        if kind in ("image_url", "input_image", "image"):
            return IMAGE_TOKENS
    try:
        return estimate_tokens(json.dumps(part, default=str))
    except (TypeError, ValueError, RecursionError):
        return 0


def message_tokens(message: Mapping[str, Any]) -> int:
    """Tokens of one wire message: its content (a string or a list of parts) and overhead."""
    content = message.get("content", "")
    if isinstance(content, (list, tuple)):
        return MESSAGE_OVERHEAD + sum(part_tokens(part) for part in content)
    return MESSAGE_OVERHEAD + part_tokens("" if content is None else content)


def wire_tokens(wire: Iterable[Mapping[str, Any]]) -> int:
    """The estimated prompt size of `wire` (a list of wire messages)."""
    return sum(message_tokens(message) for message in wire)


def output_reserve(info: ModelInfo | None, max_tokens: int | None) -> int:
    """Room the reply needs: `max_tokens` when set, else DEFAULT_RESERVE, no more than the
    model's output limit nor a quarter of its window."""
    if max_tokens:
        return max_tokens
    reserve = DEFAULT_RESERVE
    if info is not None and info.max_output:
        reserve = min(reserve, info.max_output)
    if info is not None and info.context_window:
        reserve = min(reserve, info.context_window // 4)
    return reserve


def requested_max_tokens(chat: ChatSession) -> int | None:
    """The `max_tokens` the next request asks for, if the parameters in force set one (as sent:
    no more than the model's output limit; see chatrepl.parameters)."""
    value = chat.request_parameters().values.get("max_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def format_tokens(tokens: int) -> str:
    """850 -> '850', 12345 -> '12.3k', 128000 -> '128k', 1234567 -> '1.2M'."""
    if tokens < 1000:
        return str(tokens)
    if tokens < 100_000:
        return f"{tokens / 1000:.1f}".removesuffix(".0") + "k"
    if tokens < 1_000_000:
        return f"{round(tokens / 1000)}k"
    return f"{tokens / 1_000_000:.1f}".removesuffix(".0") + "M"


@dataclass(frozen=True, slots=True)
class ContextSize:
    """A conversation's size in tokens; `estimated` when (part of) it is a local estimate."""

    tokens: int
    estimated: bool


@dataclass(frozen=True, slots=True)
class _Anchor:
    """What the provider reported for the conversation `messages` on `model`."""

    messages: Sequence[Message]
    model: str
    system_prompt: str | None
    tokens: int


class ContextMeter:
    """The size of a ChatSession's conversation, estimated and corrected by reported usage.

    After a reply with usage, the conversation then is `prompt_tokens` plus the reply: exact.
    Messages added later are estimated, scaled by how far the last report was from the
    estimate for that model. Used from the REPL's thread only.
    """

    def __init__(self) -> None:
        self._anchor: _Anchor | None = None
        self._ratio: dict[str, float] = {}
        self._cached: tuple[Sequence[Message], str, str | None, ContextSize] | None = None

    def observe(self, chat: ChatSession, result: TurnResult, sent: list[dict[str, Any]]) -> None:
        """A reply came back: remember the reported prompt size (and how far off the estimate
        of `sent` was); nothing when the server reported no usage."""
        usage = result.usage
        if usage is None or not usage.prompt_tokens:
            return
        model = f"{result.provider}/{result.model}"
        guess = wire_tokens(sent)
        if guess:
            ratio = usage.prompt_tokens / guess
            if MIN_RATIO <= ratio <= MAX_RATIO:
                self._ratio[model] = ratio
        reply = usage.completion_tokens if not result.reasoning else \
            self._scaled(model, message_tokens({"content": result.text}))
        self._anchor = _Anchor(chat.messages, model, chat.system_prompt,
                               usage.prompt_tokens + reply)
        self._cached = None

    def _scaled(self, model: str, tokens: int) -> int:
        return round(tokens * self._ratio.get(model, 1.0))

    def scale(self, chat: ChatSession, tokens: int) -> int:
        """A local estimate for the session's current model, corrected by its last report."""
        return self._scaled(f"{chat.provider}/{chat.model}", tokens)

    def size(self, chat: ChatSession, extra: Sequence[Message] = ()) -> ContextSize:
        """The size of what the next request would send: the conversation plus `extra`."""
        model = f"{chat.provider}/{chat.model}"
        cached = self._cached
        if not extra and cached is not None and cached[0] is chat.messages \
                and cached[1] == model and cached[2] == chat.system_prompt:
            return cached[3]
        size = self._measure(chat, model, extra)
        if not extra:
            self._cached = (chat.messages, model, chat.system_prompt, size)
        return size

    def _measure(self, chat: ChatSession, model: str, extra: Sequence[Message]) -> ContextSize:
        messages = chat.messages
        anchor = self._anchor
        if anchor is not None and anchor.model == model \
                and anchor.system_prompt == chat.system_prompt and _extends(messages, anchor):
            tail = [*messages[len(anchor.messages):], *extra]
            if not tail:
                return ContextSize(anchor.tokens, False)
            added = wire_tokens(chat.wire_messages(tail)) - self._system_tokens(chat)
            return ContextSize(anchor.tokens + self._scaled(model, added), True)
        total = wire_tokens(chat.wire_messages([*messages, *extra]))
        return ContextSize(self._scaled(model, total), True)

    @staticmethod
    def _system_tokens(chat: ChatSession) -> int:
        return message_tokens({"content": chat.system_prompt}) if chat.system_prompt else 0


def _extends(messages: Sequence[Message], anchor: _Anchor) -> bool:
    """True when `messages` starts with the very messages the anchor measured."""
    count = len(anchor.messages)
    if len(messages) < count:
        return False
    return count == 0 or (messages[count - 1] is anchor.messages[count - 1]
                          and messages[0] is anchor.messages[0])
