"""A provider's /models reply: read within a byte cap and a deadline, then parsed.

Parsing accepts the shapes servers use (`{"data": [...]}`, a bare array, `{"models": [...]}`),
keeps only short printable ids (at most MAX_MODEL_IDS), and takes from each entry what the
listing says about the model: its kind (Together's `type`, LiteLLM's `mode`, OpenRouter's
`architecture.output_modalities`, Gemini's `supportedGenerationMethods`) and its facts
(`context_length`, `pricing`). The name patterns in `is_chat_model` are the fallback.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chatrepl.errors import ModelsReplyError

MAX_MODELS_BYTES = 16 * 1024 * 1024  # 100,000 ids in OpenAI's entry shape; OpenRouter sends ~1.5 MB
MAX_ERROR_BYTES = 64 * 1024  # an error body only needs its message
MAX_MODEL_IDS = 100_000
MAX_ID_LENGTH = 256
MAX_CONTEXT_TOKENS = 100_000_000
MAX_PRICE_PER_MILLION = 100_000.0  # USD per 1M tokens; anything above is not a real price

NON_CHAT_PATTERN = re.compile(
    r"(embed|embedding|whisper|transcri|tts|text-to-speech|dall-e|dalle|gpt-image|image-gen"
    r"|stable-diffusion|sdxl|flux|moderation|rerank|guard-?\d|davinci-00|babbage|speech)",
    re.IGNORECASE,
)

# Kinds as providers name them: text generation is chat; anything else is not.
_CHAT_KINDS = frozenset({"chat", "language", "code", "completion", "responses", "text"})


def is_chat_model(model_id: str) -> bool:
    """False for ids that are clearly embeddings, audio, image, moderation or rerank models."""
    return NON_CHAT_PATTERN.search(model_id) is None


# -- reading -----------------------------------------------------------------------------------


class CappedStream:
    """Wraps an HTTP response's raw byte stream: raises ModelsReplyError past `limit` bytes or
    after the monotonic `deadline`, so no reader (ours or the SDK's) can hold more or wait
    longer."""

    def __init__(self, inner: Any, limit: int, deadline: float) -> None:
        self.inner = inner
        self.limit = limit
        self.deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self.inner:
            size += len(chunk)
            if size > self.limit:
                raise ModelsReplyError(f"sent more than {self.limit // 1024} KB; "
                                       "is this an OpenAI-compatible endpoint?", "too big")
            if time.monotonic() > self.deadline:
                raise ModelsReplyError("timed out while sending the model list", "timeout")
            yield chunk

    def close(self) -> None:
        self.inner.close()


@functools.lru_cache(maxsize=4)
def _capped_stream_class(base: type) -> type:
    """CappedStream as a subclass of the HTTP library's own SyncByteStream, which it checks."""
    return type("CappedByteStream", (CappedStream, base), {})


def cap_models_response(response: Any, deadline: float) -> None:
    """An HTTP client response hook: bound the body of a /models answer (smaller for errors)."""
    limit = MAX_MODELS_BYTES if response.status_code < 400 else MAX_ERROR_BYTES
    library = sys.modules[type(response).__module__.partition(".")[0]]  # httpx or httpx2
    stream_class = _capped_stream_class(library.SyncByteStream)
    response.stream = stream_class(response.stream, limit, deadline)


def read_models_body(chunks: Iterator[bytes], deadline: float,
                     limit: int = MAX_MODELS_BYTES) -> bytes:
    """The decoded body from `chunks`, at most `limit` bytes and before `deadline`."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ModelsReplyError(f"sent more than {limit // 1024} KB; "
                                   "is this an OpenAI-compatible endpoint?", "too big")
        if time.monotonic() > deadline:
            raise ModelsReplyError("timed out while sending the model list", "timeout")
        parts.append(chunk)
    return b"".join(parts)


# -- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedFacts:
    """Facts a provider's own listing gives about a model. Prices are USD per 1M tokens."""

    context_window: int | None = None
    max_output: int | None = None
    input_price: float | None = None
    output_price: float | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.context_window, self.max_output,
                                            self.input_price, self.output_price))

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("context_window", self.context_window),
                                  ("max_output", self.max_output),
                                  ("input_price", self.input_price),
                                  ("output_price", self.output_price)) if v is not None}

    @classmethod
    def from_json(cls, raw: Any) -> ListedFacts | None:
        """Facts as written by `as_json`; odd or out-of-range values become unknown."""
        if not isinstance(raw, Mapping):
            return None
        facts = cls(tokens(raw.get("context_window")), tokens(raw.get("max_output")),
                    price(raw.get("input_price")), price(raw.get("output_price")))
        return facts or None


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One model of a listing: its id, whether the listing says it is a chat model (None when
    it says nothing), and the facts it gives."""

    id: str
    chat: bool | None = None
    facts: ListedFacts | None = None

    @property
    def is_chat(self) -> bool:
        return self.chat if self.chat is not None else is_chat_model(self.id)


@dataclass(frozen=True, slots=True)
class ModelsReply:
    """A parsed listing; `dropped` counts ids refused (too long, unprintable, over the cap)."""

    models: tuple[ListedModel, ...]
    dropped: int = 0

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]


def tokens(value: Any) -> int | None:
    """A positive token count within reason, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not 0 < value <= MAX_CONTEXT_TOKENS:
        return None
    return int(value)


def price(value: Any, scale: float = 1.0) -> float | None:
    """A finite, non-negative price within reason (USD per 1M tokens after `scale`), else None.
    Strings holding a number are accepted, as OpenRouter sends them."""
    if isinstance(value, str) and len(value) <= 32:
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value) * scale
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE_PER_MILLION:
        return None
    return round(value, 6)


def valid_id(value: Any) -> bool:
    """A model id worth keeping: a non-empty printable string of at most MAX_ID_LENGTH."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH
            and value.isprintable() and value.strip() == value)


def _kind(entry: Mapping[str, Any]) -> bool | None:
    """What the entry says about being a chat model, or None when it says nothing."""
    methods = entry.get("supportedGenerationMethods")  # Gemini
    if isinstance(methods, list):
        return "generateContent" in methods
    architecture = entry.get("architecture")  # OpenRouter
    if isinstance(architecture, Mapping):
        outputs = architecture.get("output_modalities")
        if isinstance(outputs, list):
            return "text" in outputs
        modality = architecture.get("modality")
        if isinstance(modality, str) and "->" in modality:
            return "text" in modality.split("->", 1)[1].split("+")
    info = entry.get("model_info")
    for kind in (entry.get("type"), entry.get("mode"),  # Together, LiteLLM
                 info.get("mode") if isinstance(info, Mapping) else None):
        if isinstance(kind, str) and kind:
            return kind.lower() in _CHAT_KINDS
    return None


_FACT_KEYS = frozenset({"context_length", "top_provider", "max_output_tokens", "pricing"})


def _facts(entry: Mapping[str, Any]) -> ListedFacts | None:
    """Context and prices as OpenRouter (USD per token, strings) and Together (USD per 1M
    tokens) send them."""
    if not _FACT_KEYS.intersection(entry):
        return None
    top = entry.get("top_provider")
    top = top if isinstance(top, Mapping) else {}
    context = tokens(entry.get("context_length")) or tokens(top.get("context_length"))
    output = tokens(top.get("max_completion_tokens")) or tokens(entry.get("max_output_tokens"))
    pricing = entry.get("pricing")
    input_price = output_price = None
    if isinstance(pricing, Mapping):
        if "prompt" in pricing or "completion" in pricing:  # OpenRouter: per token
            input_price = price(pricing.get("prompt"), 1_000_000)
            output_price = price(pricing.get("completion"), 1_000_000)
        else:  # Together: per 1M tokens
            input_price = price(pricing.get("input"))
            output_price = price(pricing.get("output"))
    facts = ListedFacts(context, output, input_price, output_price)
    return facts or None


def parse_models_reply(text: str | bytes, content_type: str = "") -> ModelsReply | None:
    """The models in a /models body in any of the shapes servers use.

    None for `{"data": null}`: a server with no models loaded yet, which is not an error.
    """
    head = text[:64].lstrip()
    if "html" in content_type.lower() or head[:1] in ("<", b"<"):
        raise ModelsReplyError("answered an HTML page instead of a model list "
                               "(a login portal or proxy?); check base_api_url", "HTML page")
    try:
        payload = json.loads(text) if head else None
    except (ValueError, RecursionError):
        raise ModelsReplyError("answered something that is not JSON; check base_api_url",
                               "not JSON") from None
    if isinstance(payload, dict):
        items = payload.get("data", payload.get("models", ...))
        if items is ...:
            raise ModelsReplyError("answered JSON without a `data` list; is this an "
                                   "OpenAI-compatible endpoint?", "no model list")
    else:
        items = payload
    if items is None:
        return None
    if not isinstance(items, list):
        raise ModelsReplyError("answered a model list of an unexpected shape", "bad model list")
    models: dict[str, ListedModel] = {}
    dropped = 0
    for item in items:
        if isinstance(item, str):
            model_id: Any = item
            entry: Mapping[str, Any] = {}
        elif isinstance(item, dict):
            model_id = item.get("id") or item.get("name")
            entry = item
        else:
            continue
        if not valid_id(model_id) or (model_id not in models and len(models) >= MAX_MODEL_IDS):
            dropped += 1
            continue
        models.setdefault(model_id, ListedModel(model_id, _kind(entry), _facts(entry)))
    return ModelsReply(tuple(models.values()), dropped)
