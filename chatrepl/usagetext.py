"""Token usage as shown after a reply: reported by the provider, or estimated locally."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chatrepl.attachwire import content_tokens
from chatrepl.modelinfo import format_cost
from chatrepl.reply import Usage

if TYPE_CHECKING:
    from chatrepl.chat import ChatSession

CHARS_PER_TOKEN = 4  # a rough figure for English text; the estimate is marked with "~"


def estimate_tokens(text: str) -> int:
    """A rough token count of `text` (4 characters a token, at least 1 for any text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def estimate_usage(sent: Iterable[Mapping[str, Any]], reply: str) -> Usage:
    """Usage estimated from the messages sent and the reply text (reasoning included)."""
    prompt = sum(content_tokens(message.get("content", "")) for message in sent)
    return Usage(prompt, estimate_tokens(reply))


def usage_line(usage: Usage, cost: float | None, *, estimated: bool = False) -> str:
    """`123 in · 45 out · $0.0001`; `~123 in · ~45 out` when estimated; no cost when unknown."""
    mark = "~" if estimated else ""
    price = f" · {mark}{format_cost(cost)}" if cost is not None else ""
    return f"{mark}{usage.prompt_tokens} in · {mark}{usage.completion_tokens} out{price}"


def sent_messages(chat: ChatSession) -> list[dict[str, Any]]:
    """What a ChatSession's last turn sent: its wire messages without the last reply."""
    wire: list[dict[str, Any]] = chat.wire_messages()
    return wire[:-1] if wire and wire[-1]["role"] == "assistant" else wire
