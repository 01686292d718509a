"""How a message's stored attachments go on the wire (stdlib only, no I/O).

Text (files, command output, stdin, a PDF's extracted text) goes before the typed text, each
under a header naming its source. With only text, the content stays one string (every
OpenAI-compatible server takes that); images add `image_url` parts with data URLs, and PDFs
sent whole a `file` part. Everything comes from what `Message.attachments` stores, so a
resumed conversation sends the same bytes without reading any file again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

IMAGE_TOKENS = 1000  # an estimate per image, as contextsize counts an image part


def text_block(record: Mapping[str, Any]) -> str:
    """One text attachment with a header line naming it and a line closing it."""
    name = str(record.get("name") or record.get("source") or "attachment")
    body = str(record.get("text", ""))
    return f"===== {name} =====\n{body}{'' if body.endswith(chr(10)) else chr(10)}===== end of {name} ====="


def wire_content(text: str, records: Iterable[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    """The `content` of a user message with these attachments."""
    blocks: list[str] = []
    parts: list[dict[str, Any]] = []
    for record in records:
        sent_as = record.get("sent_as", "text")
        mime = str(record.get("mime", ""))
        data = str(record.get("data", ""))
        if sent_as == "image":
            parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
        elif sent_as == "file":
            parts.append({"type": "file", "file": {
                "filename": str(record.get("name", "file")).rsplit("/", 1)[-1],
                "file_data": f"data:{mime};base64,{data}"}})
        else:
            blocks.append(text_block(record))
    body = "\n\n".join([*blocks, text])
    if not parts:
        return body
    return [{"type": "text", "text": body}, *parts]


def stored_bytes(messages: Iterable[Any]) -> int:
    """How much attachment content `messages` (Message objects) hold, as stored."""
    return sum(len(str(a.get("text", ""))) + len(str(a.get("data", "")))
               for m in messages for a in m.attachments)


def record_tokens(record: Mapping[str, Any]) -> int:
    """A local estimate of what one stored attachment costs in tokens."""
    if record.get("sent_as") == "image":
        return IMAGE_TOKENS
    if record.get("sent_as") == "file":
        return int(record.get("size", 0)) // 6
    return -(-len(str(record.get("text", ""))) // 4) + 20


def content_tokens(content: Any) -> int:
    """A local estimate of a wire `content` (a string, or a list of parts)."""
    if isinstance(content, str):
        return -(-len(content) // 4)
    total = 0
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            total += -(-len(str(part.get("text", ""))) // 4)
        elif part.get("type") == "image_url":
            total += IMAGE_TOKENS
        else:
            total += len(str(part.get("file", ""))) // 8
    return total
