"""What a provider's error says, and one line of advice that fits it.

`provider_message` finds the provider's own words in the error bodies providers send (OpenAI's
`{"error": {"message"}}`, Ollama's `{"error": "text"}`, FastAPI's `{"detail": ...}`, Gemini's
`[{"error": {...}}]`, a top-level `{"message"}`, vLLM's `{"object": "error", "message"}`).
`Failure` is what went wrong, in plain data; `ADVICE` maps conditions on it to what to do,
first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

_MESSAGE_KEYS = ("error", "message", "detail", "msg", "error_message", "title")
_MAX_DEPTH = 6
_SDK_PLACEHOLDER = re.compile(r"^Error code: \d+$")

Situation = Literal["status", "stream", "timeout", "refused", "dropped", "cut", "bound"]


def provider_message(body: Any, depth: int = 0) -> str:
    """The provider's own error text in `body` (decoded JSON or raw text); '' when none."""
    if depth > _MAX_DEPTH:
        return ""
    if isinstance(body, str):
        text = body.strip()
        return "" if "<html" in text.lower() or _SDK_PLACEHOLDER.match(text) else text
    if isinstance(body, list):
        if body and all(isinstance(item, dict) and "msg" in item for item in body):
            return "; ".join(_fastapi_item(item) for item in body[:5])
        return provider_message(body[0], depth + 1) if body else ""
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            if body.get(key):
                text = provider_message(body[key], depth + 1)
                if text:
                    return text
    return ""


def _fastapi_item(item: dict[str, Any]) -> str:
    """`body.model: field required` from a FastAPI validation error item."""
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc[:6]) if isinstance(loc, list) else ""
    msg = str(item.get("msg"))
    return f"{where}: {msg}" if where else msg


def provider_code(body: Any, depth: int = 0) -> str:
    """The provider's error code or type (`insufficient_quota`, …), lowercased; '' when none."""
    if depth > _MAX_DEPTH:
        return ""
    if isinstance(body, list):
        return provider_code(body[0], depth + 1) if body else ""
    if not isinstance(body, dict):
        return ""
    for key in ("code", "type", "status"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key]).lower()
    inner = body.get("error")
    return provider_code(inner, depth + 1) if isinstance(inner, (dict, list)) else ""


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one request, as data the advice table reads."""

    situation: Situation
    status: int | None = None
    code: str = ""  # the provider's code or type, lowercased
    text: str = ""  # the provider's own words
    local: bool = False  # the provider is on this machine
    long_prompt: bool = False  # the conversation sent was large enough to overflow a context
    key_advice: str = ""  # what to check when the key is refused (ProviderConfig.key_advice)

    def says(self, pattern: re.Pattern[str]) -> bool:
        return bool(pattern.search(self.code) or pattern.search(self.text))


_QUOTA = re.compile(r"insufficient_quota|quota|billing|credit|payment|balance", re.IGNORECASE)
_CONTEXT = re.compile(
    r"context_length_exceeded|exceed_context_size|context (length|window|size)|maximum context"
    r"|too many tokens|(input|prompt|request) is too long|exceeds? (the )?(available )?context",
    re.IGNORECASE)

TOO_LONG = "the conversation is too long for this model: /clear, or pick a model with a " \
           "larger context window"
MAY_BE_TOO_LONG = "the conversation may be too long for this model: /clear, or pick a model " \
                  "with a larger context window"

# (condition, advice): the first condition that holds gives the advice.
ADVICE: tuple[tuple[Callable[[Failure], bool], str], ...] = (
    (lambda f: f.situation == "bound", "the server sent more than chatrepl reads"),
    (lambda f: f.status == 402 or (f.status in (403, 429) and f.says(_QUOTA)),
     "the account is out of quota or credit: check the plan and billing with the provider"),
    (lambda f: f.says(_CONTEXT), TOO_LONG),
    (lambda f: f.situation == "dropped" and f.long_prompt, MAY_BE_TOO_LONG),
    (lambda f: f.status == 401, "{key_advice}"),
    (lambda f: f.status == 403, "check the key's permissions"),
    (lambda f: f.status == 404, ""),
    (lambda f: f.status == 429, "wait and try again"),
    (lambda f: f.status is not None and 300 <= f.status < 400,
     "API servers do not redirect: check base_api_url"),
    (lambda f: f.status is not None and f.status >= 500,
     "the provider is having trouble, try again later"),
    (lambda f: f.status is not None, "the provider rejected the request"),
    (lambda f: f.situation == "timeout", "try again, or raise the timeout"),
    (lambda f: f.situation == "refused" and f.local, "is the server running?"),
    (lambda f: f.situation == "refused", "check your network connection and base_api_url"),
)


def advice_for(failure: Failure) -> str:
    """One line saying what to do about `failure` ('' when there is nothing to add)."""
    for applies, advice in ADVICE:
        if applies(failure):
            return advice.format(key_advice=failure.key_advice)
    return "try again"
