"""Message: one turn of a conversation as a small frozen value (no I/O, stdlib only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "system"]
ROLES: frozenset[str] = frozenset({"user", "assistant", "system"})


@dataclass(frozen=True, slots=True)
class Message:
    """One message: `role`, `content` and whether the reply was cut short (`interrupted`).

    `attachments` are what was sent with a user message (files, images, command output), each
    a mapping as `Attachment.record()` makes it, holding its content so it is sent again as it
    was (see attachwire); `parameters` are the request parameters a reply was asked with
    (temperature, ...). `left_out`: kept in the conversation but no longer sent (the context
    guard dropped it to fit the model's window).
    """

    role: Role
    content: str
    interrupted: bool = False
    attachments: tuple[Mapping[str, Any], ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    left_out: bool = False

    def wire(self) -> dict[str, Any]:
        """What the provider is sent: role and content (with its attachments' parts)."""
        if self.attachments:
            from chatrepl.attachwire import wire_content

            return {"role": self.role, "content": wire_content(self.content, self.attachments)}
        return {"role": self.role, "content": self.content}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data as saved files hold it; empty extras are left out, so a file without
        attachments reads as it always has."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.interrupted:
            data["interrupted"] = True
        if self.attachments:
            data["attachments"] = [dict(a) for a in self.attachments]
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        if self.left_out:
            data["left_out"] = True
        return data


def user(text: str) -> Message:
    """A user message."""
    return Message("user", text)


def assistant(text: str, *, interrupted: bool = False,
              parameters: Mapping[str, Any] | None = None) -> Message:
    """An assistant reply (`interrupted` when it was cut short; `parameters`: the request
    parameters it was asked with)."""
    return Message("assistant", text, interrupted=interrupted, parameters=dict(parameters or {}))
