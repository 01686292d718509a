"""How stored conversations are shown: listing lines, search hits, Markdown and JSON exports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from chatrepl.historydb import Conversation, ConversationRow, SearchHit, iso_time
from chatrepl.wording import plural

EXCERPT = 100


def day(stamp: float) -> str:
    """`2026-12-01 04:41` in local time."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _one_line(text: str, limit: int = EXCERPT) -> str:
    flat = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def row_line(row: ConversationRow, number: int | None = None) -> str:
    """`3. #12 2026-12-01 04:41 openai/gpt-4o  Title (8 messages, branches)`."""
    lead = f"{number:>2}. " if number is not None else ""
    name = f" [{row.name}]" if row.name else ""
    extra = plural(row.messages, "message") + (", branches" if row.branched else "")
    model = f"{row.provider}/{row.model}" if row.model else "no model"
    return (f"{lead}#{row.id} {day(row.updated)} {model}  {_one_line(row.title, 60) or '(empty)'}"
            f"{name} ({extra})")


def hit_lines(hit: SearchHit, number: int | None = None) -> list[str]:
    """A search hit: its conversation's line, then the matching text with the match marked."""
    who = "you" if hit.role == "user" else hit.role
    return [row_line(hit.conversation, number), f"      {who}: {_one_line(hit.marked(), 160)}"]


def listing(rows: Sequence[ConversationRow]) -> list[str]:
    return [row_line(row, i) for i, row in enumerate(rows, 1)]


def as_markdown(conversation: Conversation) -> str:
    """The current path as Markdown: a title, then each message under its role."""
    row = conversation.row
    lines = [f"# {row.title or 'Conversation'} (#{row.id})", "",
             f"- model: {row.provider}/{row.model}", f"- started: {iso_time(row.created)}",
             f"- updated: {iso_time(row.updated)}", ""]
    if conversation.system_prompt:
        lines += ["## system", "", conversation.system_prompt, ""]
    for stored in conversation.path:
        message = stored.message
        heading = "you" if message.role == "user" else (stored.model or message.role)
        lines += [f"## {heading}" + (" (interrupted)" if message.interrupted else ""), "",
                  message.content, ""]
    return "\n".join(lines)


def as_json(conversation: Conversation) -> dict[str, Any]:
    """The current path in the saved-session format (loadable with /load PATH), plus ids."""
    row = conversation.row
    messages = []
    for stored in conversation.path:
        data = stored.message.to_json()
        for key, value in (("model", stored.model), ("provider", stored.provider),
                           ("usage", stored.usage), ("cost", stored.cost)):
            if value is not None:
                data[key] = value
        data["created"] = iso_time(stored.created)
        messages.append(data)
    return {"format": "chatrepl-session", "version": 1, "id": row.id, "title": row.title,
            "name": row.name, "provider": row.provider or "unknown",
            "model": row.model or "unknown", "system_prompt": conversation.system_prompt,
            "created": iso_time(row.created), "updated": iso_time(row.updated),
            "messages": messages}
