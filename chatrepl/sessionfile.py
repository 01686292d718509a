"""The saved-conversation file format: a pydantic model that reads `ChatSession.to_dict()` data.

Versions: 1 is every file written so far (`unsent` and `totals` were added later and are
optional, so older version-1 files load). Fields this version does not know are ignored; a file
with a newer `version` is refused with a line saying to upgrade. `format` and `version` may be
missing (the first files had neither).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from chatrepl.errors import StateError
from chatrepl.limits import MAX_TOKEN_COUNT
from chatrepl.messages import Message

SESSION_FORMAT: Final = "chatrepl-session"  # Final: its type is the literal, as `format` wants
SESSION_VERSION = 1


class _Saved(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SavedMessage(_Saved):
    role: Literal["user", "assistant", "system"]
    content: str
    interrupted: bool = False
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    left_out: bool = False

    def message(self) -> Message:
        return Message(self.role, self.content, interrupted=self.interrupted,
                       attachments=tuple(self.attachments), parameters=self.parameters,
                       left_out=self.left_out)


class SavedTotals(_Saved):
    prompt_tokens: int = Field(default=0, ge=0, le=MAX_TOKEN_COUNT)
    completion_tokens: int = Field(default=0, ge=0, le=MAX_TOKEN_COUNT)


class SavedSession(_Saved):
    """One saved conversation, as `ChatSession.to_dict()` writes it."""

    format: Literal["chatrepl-session"] = SESSION_FORMAT
    version: int = SESSION_VERSION
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    system_prompt: str | None = None
    messages: list[SavedMessage] = Field(default_factory=list)
    unsent: str | None = None
    totals: SavedTotals | None = None

    @field_validator("totals", mode="wrap")
    @classmethod
    def _drop_unbelievable_totals(cls, value: Any,
                                  handler: ValidatorFunctionWrapHandler) -> SavedTotals | None:
        """Usage totals are only a display: counts that cannot be real are dropped, the
        conversation still loads."""
        try:
            return handler(value)
        except ValidationError:
            return None


def _where(loc: tuple[int | str, ...]) -> str:
    """`messages[3].role` for a pydantic error location (message numbers from 1)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text = f"message {part + 1}" if text == "messages" else f"{text}[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def read_session(data: Any) -> SavedSession:
    """`data` (parsed JSON) as a SavedSession; StateError with one line when it is not one."""
    if not isinstance(data, dict):
        raise StateError("not a chatrepl session: expected a JSON object")
    if data.get("format", SESSION_FORMAT) != SESSION_FORMAT:
        raise StateError(f"not a chatrepl session (format {data.get('format')!r})")
    version = data.get("version", SESSION_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > SESSION_VERSION:
        raise StateError(f"session format version {version!r} is newer than this chatrepl "
                         "understands; upgrade chatrepl")
    try:
        return SavedSession.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"])) or "session"
        raise StateError(f"damaged session: {where}: {first['msg'].lower()}") from None
