"""The openai SDK client for a provider, and one-line descriptions of its errors.

The SDK is imported on first use so that start-up does not pay for it.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chatrepl.apierrors import Failure, Situation, advice_for, provider_code, provider_message
from chatrepl.config import ProviderConfig
from chatrepl.errors import ProviderError
from chatrepl.limits import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    MAX_SHOWN_ERROR_CHARS,
    bound_of,
    reply_deadline,
)

if TYPE_CHECKING:
    from ssl import SSLContext

    from openai import OpenAI

_SSL_LOCK = threading.Lock()
_SSL_CONTEXT: list[SSLContext | None] = []  # the one shared context, once made


def _shared_ssl_context() -> SSLContext | None:
    """One TLS context for every client, made by the SDK's HTTP library as it would by default.

    Loading the CA bundle takes ~20 ms of CPU under the GIL; made per client, eight providers
    discovered at once would pay it eight times in a row.
    """
    with _SSL_LOCK:
        if not _SSL_CONTEXT:
            context = None
            for name in ("httpx2", "httpx"):  # httpx2 for SDK 3.x, httpx before
                try:
                    create = getattr(importlib.import_module(name), "create_ssl_context", None)
                except ImportError:
                    continue
                if create is not None:
                    context = create()
                    break
            _SSL_CONTEXT.append(context)
        return _SSL_CONTEXT[0]


_KEYLIKE = re.compile(r"\b(sk|gsk|xai|pk|key)[-_][A-Za-z0-9_\-]{6,}\b")
_BEARER = re.compile(r"\b(Bearer)\s+[^\s\"',;]+", re.IGNORECASE)
MIN_KEY_FRAGMENT = 8  # this many characters of a configured key in a row count as the key


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret, any run of MIN_KEY_FRAGMENT or more of its characters
    (a key cut in two), any `Bearer <token>` and anything key-shaped replaced.

    Redact before cutting text to length: a cut can leave a fragment no pattern recognises.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, redacted_key(secret))
            text = _redact_fragments(text, secret)
    text = _BEARER.sub(lambda m: f"{m.group(1)} …", text)
    return _KEYLIKE.sub(lambda m: redacted_key(m.group(0)), text)


def _redact_fragments(text: str, secret: str) -> str:
    """`text` with every run of MIN_KEY_FRAGMENT+ characters that also occurs in `secret`
    replaced by '…'."""
    size = MIN_KEY_FRAGMENT
    if len(secret) < size or len(text) < size:
        return text
    pieces = {secret[i:i + size] for i in range(len(secret) - size + 1)}
    hidden = bytearray(len(text))
    found = False
    for start in range(len(text) - size + 1):
        if text[start:start + size] in pieces:
            hidden[start:start + size] = b"\x01" * size
            found = True
    if not found:
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not hidden[index]:
            out.append(char)
        elif index == 0 or not hidden[index - 1]:
            out.append("…")
    return "".join(out)


def redacted_key(key: str) -> str:
    """`sk-…abcd`: enough to recognise a key, not enough to use it."""
    prefix = key.split("-", 1)[0] + "-" if "-" in key[:6] else ""
    return f"{prefix}…{key[-4:]}" if len(key) > 8 else "…"


def import_sdk() -> None:
    """Import the SDK and its chat resource now rather than at the first request."""
    import openai.resources.chat.completions  # noqa: F401


def make_client(provider: ProviderConfig, env: Mapping[str, str], *, timeout: float,
                connect_timeout: float | None = None, max_retries: int = 2,
                response_hook: Callable[[Any], None] | None = None,
                deadline_seconds: float | None = None, max_body_bytes: int | None = None) -> OpenAI:
    """An SDK client for `provider`; ProviderError when it has no usable key.

    Redirects are not followed (these APIs do not redirect; following one would send the
    conversation elsewhere): a 3xx is an error naming where it pointed. Every response body is
    read under `limits`' caps and within `deadline_seconds` (default: `limits.reply_deadline`
    of `timeout`). `response_hook` sees each HTTP response before its body is read (to bound
    that body more tightly).
    """
    key = provider.resolve_api_key(env)
    if key is None:
        raise ProviderError(f"{provider.id}: {provider.missing_key_reason()}")
    import openai

    from chatrepl.bounded import bound_transports

    context = _shared_ssl_context()
    options: dict[str, Any] = {"follow_redirects": False}
    if context is not None:
        options["verify"] = context
    if response_hook is not None:
        options["event_hooks"] = {"response": [response_hook]}
    http_client = openai.DefaultHttpxClient(**options)
    body_cap = max_body_bytes or MAX_BODY_BYTES
    # A response_hook bounds error bodies itself (and says so in its own words); the transport
    # then only backs it up, rather than quietly cutting an error body short underneath it.
    bound_transports(http_client, deadline_seconds=deadline_seconds or reply_deadline(timeout),
                     max_body_bytes=body_cap,
                     max_error_body_bytes=body_cap if response_hook else MAX_ERROR_BODY_BYTES)
    return openai.OpenAI(
        api_key=key,
        base_url=provider.base_api_url,
        timeout=openai.Timeout(timeout, connect=connect_timeout or min(timeout, 5.0)),
        max_retries=max_retries,
        http_client=http_client,
    )


_STATUS_LABELS = {401: "401 unauthorized", 402: "402 payment required", 403: "403 forbidden",
                  404: "404 not found", 429: "429 rate limited"}
_DEFAULT_DETAILS = {401: "bad key", 403: "no access", 404: "no such endpoint or model",
                    429: "too many requests"}


def _situation(exc: BaseException, started: bool) -> Situation:
    """Which kind of failure the SDK's exception is (see `apierrors.Failure`)."""
    import openai

    if bound_of(exc) is not None:
        return "bound"
    if isinstance(exc, openai.APIStatusError):
        return "status"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        if started:
            return "cut"
        cause = type(exc.__cause__).__name__
        return "dropped" if cause in ("RemoteProtocolError", "ReadError") else "refused"
    return "stream"


def _what_happened(failure: Failure, exc: BaseException, provider: ProviderConfig) -> str:
    """The first half of the line: what the server did."""
    url = provider.base_api_url
    status = failure.status
    if failure.situation == "bound":
        bound = bound_of(exc)
        return str(bound) if bound is not None else "sent too much"
    if failure.situation == "status" and status is not None:
        if 300 <= status < 400:
            return f"redirected ({status}) to {_location(exc)}"
        if status in _STATUS_LABELS:
            return _STATUS_LABELS[status]
        return f"server error {status}" if status >= 500 else f"error {status}"
    return {
        "timeout": f"timed out talking to {url}",
        "refused": f"cannot connect to {url}",
        "dropped": f"closed the connection to {url} without answering",
        "cut": "lost the connection in the middle of the reply",
        "stream": "reported an error in the middle of the reply",
    }.get(failure.situation, "failed")


def _location(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    location = response.headers.get("location", "") if response is not None else ""
    return " ".join(str(location).split())[:MAX_SHOWN_ERROR_CHARS] or "(no Location)"


def describe_api_error(exc: BaseException, provider: ProviderConfig, env: Mapping[str, str],
                       model: str | None = None, *, started: bool = False,
                       long_prompt: bool = False) -> str:
    """One line: provider (and model), what happened in the provider's own words, what to do.

    `started`: reply text had arrived before the failure. `long_prompt`: the conversation sent
    was large enough that a server dropping it may have run out of context. Never includes a
    key: the provider's text is redacted before it is cut to length.
    """
    where = f"{provider.id}/{model}" if model else provider.id
    return f"{where}: " + describe_api_problem(exc, provider, env, started=started,
                                                long_prompt=long_prompt)


def describe_api_problem(exc: BaseException, provider: ProviderConfig, env: Mapping[str, str],
                         *, started: bool = False, long_prompt: bool = False) -> str:
    """`describe_api_error` without the provider's name in front (for places that show it
    beside the text). Never includes a key."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    secrets = [provider.resolve_api_key(env)]
    body = getattr(exc, "body", None)
    situation = _situation(exc, started)
    detail = provider_message(body)
    if not detail and situation in ("status", "stream"):  # not the SDK's "Connection error."
        detail = provider_message(getattr(exc, "message", None) or "")
    detail = redact(" ".join(detail.split()), secrets)[:MAX_SHOWN_ERROR_CHARS]
    failure = Failure(situation, status=status, code=provider_code(body),
                      text=detail, local=provider.is_local, long_prompt=long_prompt,
                      key_advice=provider.key_advice(env))
    detail = detail or _DEFAULT_DETAILS.get(status or 0, "")
    text = _what_happened(failure, exc, provider)
    if detail and failure.situation != "bound":
        text += f" ({detail})"
    advice = advice_for(failure)
    return redact(text + (f"; {advice}" if advice else ""), secrets)


def short_api_reason(exc: BaseException) -> str:
    """A word or two for an SDK error: `timeout`, `unreachable`, or the HTTP status (`401`)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "unreachable"
    status = getattr(exc, "status_code", None)
    return str(status) if isinstance(status, int) else "failed"


def transport_error_types() -> tuple[type[BaseException], ...]:
    """The HTTP library's own errors (httpx2 for SDK 3.x, httpx before), for reads the SDK
    does not wrap."""
    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.HTTPError)
        found.append(module.StreamError)
    return tuple(found)


def _error_text(exc: Any) -> str:
    parts = [str(getattr(exc, "message", "") or "")]
    body = getattr(exc, "body", None)
    if body is not None:
        try:
            parts.append(json.dumps(body))
        except (TypeError, ValueError):
            parts.append(str(body))
    return " ".join(parts)


def mentions_stream_options(exc: Any) -> bool:
    """True when the error is about `stream_options` (a server that does not know it)."""
    text = _error_text(exc).lower()
    return "stream_options" in text or "include_usage" in text


def names_missing_model(exc: Any, model: str) -> bool:
    """True when the error says the requested model does not exist."""
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    if code == "model_not_found":
        return True
    if getattr(exc, "status_code", None) != 404:
        return False
    text = _error_text(exc)
    return model in text or re.search(r"\bmodel\b", text, re.IGNORECASE) is not None
