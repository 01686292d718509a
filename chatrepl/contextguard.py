"""The context guard: whether the next message fits the model's window, leaving the oldest
turns out so that it does, and what takes the room (`/context`).

No prompt_toolkit and no printing: `sendguard` asks the questions and says the lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chatrepl.contextsize import (
    ContextMeter,
    format_tokens,
    message_tokens,
    output_reserve,
    requested_max_tokens,
    wire_tokens,
)
from chatrepl.messages import Message
from chatrepl.modelinfo import format_context
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.chat import ChatSession
    from chatrepl.modelinfo import ModelInfo

# The attachment records that go with a message (`Message.attachments`).
Attachments = Sequence[Mapping[str, Any]]
_EXCERPT = 40


@dataclass(frozen=True, slots=True)
class Fit:
    """The next request's size against the window: `needed` = prompt + `reserve` for the reply."""

    prompt: int
    reserve: int
    window: int | None
    estimated: bool

    @property
    def needed(self) -> int:
        return self.prompt + self.reserve

    @property
    def overflows(self) -> bool:
        return self.window is not None and self.needed > self.window

    def describe(self, model: str) -> str:
        """`~130.2k tokens (history and message ~126.1k + 4.1k for the reply) do not fit
        openai/gpt-4o's 128k window`."""
        mark = "~" if self.estimated else ""
        return (f"{mark}{format_tokens(self.needed)} tokens (history and message"
                f" {mark}{format_tokens(self.prompt)} + {format_tokens(self.reserve)} for the"
                f" reply) do not fit {model}'s {format_context(self.window)} window")


def outgoing(chat: ChatSession, text: str | None, attachments: Attachments = ()
             ) -> tuple[list[Message], list[Message]]:
    """(the conversation kept, the message to send) for `send(text, attachments=...)`, or for
    `retry()` when `text` is None: the failed message, else the last user message again."""
    if text is not None:
        return list(chat.messages), [Message("user", text, attachments=tuple(attachments))]
    if chat.unsent is not None:
        return list(chat.messages), [Message("user", chat.unsent,
                                             attachments=chat.unsent_attachments)]
    messages = list(chat.messages)
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return messages[:index], [messages[index]]
    return messages, []


def fit(meter: ContextMeter, chat: ChatSession, info: ModelInfo | None,
        text: str | None, attachments: Attachments = ()) -> Fit:
    """How the next request (`text` with `attachments`, or a retry when None) fits the current
    model's window."""
    prompt, estimated = _prompt_size(meter, chat, text, attachments)
    window = info.context_window if info is not None else None
    return Fit(prompt, output_reserve(info, requested_max_tokens(chat)), window, estimated)


def _prompt_size(meter: ContextMeter, chat: ChatSession, text: str | None,
                 attachments: Attachments) -> tuple[int, bool]:
    """(tokens, estimated) of the next request's prompt: what `fit` weighs, and where
    `leave_out_oldest` starts from, so the two never disagree about whether it fits."""
    base, new = outgoing(chat, text, attachments)
    if text is not None or chat.unsent is not None:
        size = meter.size(chat, new)
        return size.tokens, size.estimated
    # A retry of the last message: its reply is not sent.
    return meter.scale(chat, wire_tokens(chat.wire_messages([*base, *new]))), True


def messages_tokens(chat: ChatSession, messages: Sequence[Message]) -> int:
    """The estimated size of `messages` as the session puts them on the wire (attachments
    and all; left-out ones count nothing), without the system prompt."""
    system = message_tokens({"content": chat.system_prompt}) if chat.system_prompt else 0
    return wire_tokens(chat.wire_messages(list(messages))) - system


def turn_starts(messages: Sequence[Message]) -> list[int]:
    """Indexes where a turn starts (a user message) among the messages still sent."""
    return [i for i, m in enumerate(messages) if m.role == "user" and not m.left_out]


def leave_out_oldest(meter: ContextMeter, chat: ChatSession, text: str | None, window: int,
                     reserve: int, attachments: Attachments = ()) -> int:
    """Mark the oldest turns `left_out` (kept, not sent) until the next request fits `window`
    with `reserve` for the reply, or only the newest message is left. Returns how many
    messages were left out. The conversation list is replaced, never edited in place."""
    base, _new = outgoing(chat, text, attachments)
    budget = window - reserve
    total = _prompt_size(meter, chat, text, attachments)[0]
    if total <= budget:
        return 0
    cut = 0
    for start in [*turn_starts(base)[1:], len(base)]:
        dropped = meter.scale(chat, messages_tokens(chat, base[cut:start]))
        total -= dropped
        cut = start
        if total <= budget:
            break
    count = sum(1 for m in base[:cut] if not m.left_out)
    marked = [replace(m, left_out=True) if i < cut and not m.left_out else m
              for i, m in enumerate(base)]
    chat.messages = [*marked, *chat.messages[len(base):]]
    return count


def restore_left_out(chat: ChatSession) -> int:
    """Send every message again; returns how many were left out."""
    count = sum(1 for m in chat.messages if m.left_out)
    if count:
        chat.messages = [replace(m, left_out=False) if m.left_out else m for m in chat.messages]
    return count


def _excerpt(text: str) -> str:
    flat = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1].rstrip() + "…"


def room_lines(chat: ChatSession, info: ModelInfo | None, meter: ContextMeter) -> list[str]:
    """What `/context` shows: the window, then the system prompt, each turn (or the left-out
    ones as one line), the reserve for the reply and what is free."""
    model = f"{chat.provider}/{chat.model}" if chat.model else "no model"
    window = info.context_window if info is not None else None
    size = meter.size(chat)
    mark = "~" if size.estimated else ""
    head = f"{model}: {mark}{format_tokens(size.tokens)} of " + (
        f"{format_context(window)} tokens" if window else "an unknown window")
    lines = [head]
    if chat.system_prompt:
        tokens = message_tokens({"content": chat.system_prompt})
        lines.append(f"  system prompt        ~{format_tokens(tokens):>6}")
    messages = chat.messages
    left = [m for m in messages if m.left_out]
    if left:
        tokens = messages_tokens(chat, [replace(m, left_out=False) for m in left])
        lines.append(f"  left out (not sent)  ~{format_tokens(tokens):>6}  "
                     f"{plural(len(left), 'message')}; /context --restore sends them again")
    number = 0
    for index, message in enumerate(messages):
        if message.left_out or message.role != "user":
            continue
        number += 1
        end = next((j for j in range(index + 1, len(messages)) if messages[j].role == "user"),
                   len(messages))
        tokens = messages_tokens(chat, messages[index:end])
        lines.append(f"  turn {number:<16}~{format_tokens(tokens):>6}  {_excerpt(message.content)}")
    reserve = output_reserve(info, requested_max_tokens(chat))
    lines.append(f"  reply reserve         {format_tokens(reserve):>6}"
                 + ("  (max_tokens)" if requested_max_tokens(chat) else ""))
    if window:
        free = window - size.tokens - reserve
        lines.append(f"  free                 {mark}{format_tokens(max(free, 0)):>6}"
                     + ("  (over the window: the next message asks what to do)"
                        if free < 0 else ""))
    return lines
