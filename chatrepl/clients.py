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

from chatrepl.config import ProviderConfig
from chatrepl.errors import ProviderError

if TYPE_CHECKING:
    from openai import OpenAI

_SSL_LOCK = threading.Lock()
_SSL_CONTEXT: list[Any] = []  # the one shared context, once made


def _shared_ssl_context() -> Any:
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


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and anything key-shaped replaced by a redacted form."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, redacted_key(secret))
    return _KEYLIKE.sub(lambda m: redacted_key(m.group(0)), text)


def redacted_key(key: str) -> str:
    """`sk-…abcd`: enough to recognise a key, not enough to use it."""
    prefix = key.split("-", 1)[0] + "-" if "-" in key[:6] else ""
    return f"{prefix}…{key[-4:]}" if len(key) > 8 else "…"


def import_sdk() -> None:
    """Import the SDK and its chat resource now rather than at the first request."""
    import openai.resources.chat.completions  # noqa: F401


def make_client(provider: ProviderConfig, env: Mapping[str, str], *, timeout: float,
                connect_timeout: float | None = None, max_retries: int = 2,
                response_hook: Callable[[Any], None] | None = None) -> OpenAI:
    """An SDK client for `provider`; ProviderError when it has no usable key.

    `response_hook` sees each HTTP response before its body is read (to bound that body)."""
    key = provider.resolve_api_key(env)
    if key is None:
        raise ProviderError(f"{provider.id}: {provider.missing_key_reason()}")
    import openai

    context = _shared_ssl_context()
    hooks = {"response": [response_hook]} if response_hook is not None else None
    http_client = None if context is None and hooks is None else openai.DefaultHttpxClient(
        verify=context if context is not None else True, event_hooks=hooks)
    return openai.OpenAI(
        api_key=key,
        base_url=provider.base_api_url,
        timeout=openai.Timeout(timeout, connect=connect_timeout or min(timeout, 5.0)),
        max_retries=max_retries,
        http_client=http_client,
    )


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    message = getattr(exc, "message", None) or str(exc)
    return "" if "<html" in message.lower() else message


def describe_api_error(exc: BaseException, provider: ProviderConfig, env: Mapping[str, str],
                       model: str | None = None) -> str:
    """One line: provider (and model), what happened, what to do. Never includes a key."""
    import openai

    where = f"{provider.id}/{model}" if model else provider.id
    status = getattr(exc, "status_code", None)
    detail = " ".join(_error_detail(exc).split())[:200]
    if isinstance(exc, openai.APITimeoutError):
        text = f"{where}: timed out talking to {provider.base_api_url}; try again, or raise the timeout"
    elif isinstance(exc, openai.APIConnectionError):
        text = f"{where}: cannot connect to {provider.base_api_url}; is the server running?"
    elif status == 401:
        text = f"{where}: 401 unauthorized ({detail or 'bad key'}); {provider.key_advice(env)}"
    elif status == 403:
        text = f"{where}: 403 forbidden ({detail or 'no access'}); check the key's permissions"
    elif status == 404:
        text = f"{where}: 404 not found ({detail or 'no such endpoint or model'})"
    elif status == 429:
        text = f"{where}: 429 rate limited ({detail or 'too many requests'}); wait and try again"
    elif isinstance(status, int) and status >= 500:
        text = f"{where}: server error {status}" + (f" ({detail})" if detail else "")
        text += "; the provider is having trouble, try again later"
    elif isinstance(status, int):
        text = f"{where}: error {status}" + (f" ({detail})" if detail else "")
    else:
        text = f"{where}: {detail or type(exc).__name__}"
    return redact(text, [provider.resolve_api_key(env)])


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
