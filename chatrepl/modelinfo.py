"""What is known about one model: ModelInfo, its formatting, and the fact filters."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from chatrepl.modelsreply import MAX_CONTEXT_TOKENS, MAX_PRICE_PER_MILLION

if TYPE_CHECKING:
    from chatrepl.modelsreply import ListedFacts

# Control characters (C0, DEL, C1) and bidi overrides: never kept in catalog text.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_TEXT_LENGTH = 200


def format_context(tokens: int | None) -> str:
    """128000 -> '128k', 131072 -> '128k', 1048576 -> '1M', 2000000 -> '2M'; None -> ''."""
    if tokens is None or tokens <= 0:
        return ""
    mebi = 1024 * 1024
    if tokens % mebi == 0:
        return f"{tokens // mebi}M"
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if tokens % 1000 == 0:
        return f"{tokens // 1000}k"
    if tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    if tokens >= 10_000:
        return f"{round(tokens / 1000)}k"
    if tokens >= 1000:
        return f"{tokens / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return str(tokens)


def format_price(usd: float | None) -> str:
    """A price per 1M tokens: 0.15 -> '$0.15', 0.6 -> '$0.60', 0.075 -> '$0.075', 0 -> '$0'."""
    if usd is None:
        return "?"
    if usd == 0:
        return "$0"
    if usd >= 100:
        return f"${usd:,.0f}"
    if round(usd, 2) == usd:
        return f"${usd:.2f}"
    return "$" + f"{usd:.4f}".rstrip("0")


def format_cost(usd: float | None) -> str:
    """What a reply cost: '$0.0012', '$0.31'; '<$0.0001' below that, '$0' for free; '' when
    unknown."""
    if usd is None:
        return ""
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the catalog knows about one model. Prices are USD per 1M tokens; None is unknown."""

    context_window: int | None = None
    max_output: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    tool_call: bool = False
    vision: bool = False
    reasoning: bool = False
    open_weights: bool = False
    release_date: str | None = None
    knowledge_cutoff: str | None = None
    name: str | None = None
    # Where the facts came from: the models.dev provider and model id that matched.
    catalog_provider: str = ""
    catalog_model: str = ""
    # Whether the model takes a temperature (models.dev's `temperature`); None when unknown.
    temperature: bool | None = None
    # True when the facts come from a catalog entry (not only the provider's own model list).
    from_catalog: bool = False
    # The input kinds the catalog lists (`text`, `image`, `pdf`, ...); None when it lists none.
    inputs: tuple[str, ...] | None = None

    def takes(self, kind: str) -> bool | None:
        """Whether the model takes `kind` input (`image`, `pdf`); None when not known."""
        return None if self.inputs is None else kind in self.inputs

    @property
    def capabilities(self) -> tuple[str, ...]:
        marks = (("tools", self.tool_call), ("vision", self.vision), ("reasoning", self.reasoning))
        return tuple(mark for mark, present in marks if present)

    def price_text(self) -> str:
        """'$0.15/$0.60' (input/output per 1M tokens), 'free', or '' when unknown."""
        if self.input_price is None and self.output_price is None:
            return ""
        if self.input_price == 0 and self.output_price == 0:
            return "free"
        return f"{format_price(self.input_price)}/{format_price(self.output_price)}"

    def short_facts(self) -> str:
        """Compact facts for completion meta: '128k · $0.15/$0.60 · tools vision'."""
        parts = [format_context(self.context_window), self.price_text(), " ".join(self.capabilities)]
        return " · ".join(part for part in parts if part)

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """USD for one request, or None when a needed price is unknown."""
        if (input_tokens and self.input_price is None) or (output_tokens and self.output_price is None):
            return None
        return (input_tokens * (self.input_price or 0.0)
                + output_tokens * (self.output_price or 0.0)) / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        """The fact fields as JSON-ready values."""
        return {name: getattr(self, name) for name in FACT_FIELDS}

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for an info card; unknown facts read 'unknown'."""

        def known(value: str) -> str:
            return value or "unknown"

        def tokens(value: int | None) -> str:
            return f"{format_context(value)} ({value:,} tokens)" if value else "unknown"

        def yes_no(value: bool) -> str:
            return "yes" if value else "no"

        def price(value: float | None) -> str:
            return "unknown" if value is None else f"{format_price(value)} / 1M tokens"

        source = f"{self.catalog_provider}/{self.catalog_model}" if self.catalog_model else ""
        return [
            ("Name", known(self.name or "")),
            ("Context window", tokens(self.context_window)),
            ("Max output", tokens(self.max_output)),
            ("Input price", price(self.input_price)),
            ("Output price", price(self.output_price)),
            ("Tool calling", yes_no(self.tool_call)),
            ("Vision", yes_no(self.vision)),
            ("Reasoning", yes_no(self.reasoning)),
            ("Open weights", yes_no(self.open_weights)),
            ("Released", known(self.release_date or "")),
            ("Knowledge cutoff", known(self.knowledge_cutoff or "")),
            ("Catalog entry", known(source)),
        ]


FACT_FIELDS: tuple[str, ...] = (
    "context_window", "max_output", "input_price", "output_price", "tool_call", "vision",
    "reasoning", "open_weights", "release_date", "knowledge_cutoff", "name",
)


def _as_int(value: Any) -> int | None:
    """A token count: positive, finite, at most MAX_CONTEXT_TOKENS; else unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not 0 < value <= MAX_CONTEXT_TOKENS:
        return None
    return int(value)


def _as_price(value: Any) -> float | None:
    """A price per 1M tokens: finite, 0 to MAX_PRICE_PER_MILLION; else unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE_PER_MILLION:
        return None
    return float(value)


def clean_text(value: str) -> str:
    """`value` without control characters or bidi overrides, at most MAX_TEXT_LENGTH long."""
    return _UNSAFE_TEXT.sub("", value)[:MAX_TEXT_LENGTH]


def _as_text(value: Any) -> str | None:
    text = clean_text(value) if isinstance(value, str) else ""
    return text or None


def without_prices(info: ModelInfo) -> ModelInfo:
    """`info` with its prices unknown: for an entry of another host than the provider's."""
    return replace(info, input_price=None, output_price=None)


def with_listing(info: ModelInfo | None, listed: ListedFacts, provider: str,
                 model_id: str) -> ModelInfo:
    """The provider's own listing over `info`: its context and prices win; capabilities and
    names come from `info`. Prices are the listing's only, never another host's."""
    base = info or ModelInfo(catalog_provider=provider,
                             catalog_model=f"{model_id} (from the provider's model list)")
    return replace(base, context_window=listed.context_window or base.context_window,
                   max_output=listed.max_output or base.max_output,
                   input_price=listed.input_price, output_price=listed.output_price)


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The map under `name`, or an empty one when it is missing or not a map."""
    value = raw.get(name)
    return value if isinstance(value, Mapping) else {}


def info_from_raw(raw: Mapping[str, Any], provider: str = "", model_id: str = "") -> ModelInfo:
    """A ModelInfo from one models.dev model entry; missing or odd fields become unknown."""
    limit = _section(raw, "limit")
    cost = _section(raw, "cost")
    modalities = _section(raw, "modalities")
    inputs = modalities.get("input")
    vision = isinstance(inputs, (list, tuple)) and "image" in inputs
    return ModelInfo(
        context_window=_as_int(limit.get("context")),
        max_output=_as_int(limit.get("output")),
        input_price=_as_price(cost.get("input")),
        output_price=_as_price(cost.get("output")),
        tool_call=raw.get("tool_call") is True,
        vision=vision,
        reasoning=raw.get("reasoning") is True,
        open_weights=raw.get("open_weights") is True,
        release_date=_as_text(raw.get("release_date")),
        knowledge_cutoff=_as_text(raw.get("knowledge")),
        name=_as_text(raw.get("name")),
        catalog_provider=clean_text(provider),
        catalog_model=clean_text(model_id or str(raw.get("id") or "")),
        temperature=raw["temperature"] if isinstance(raw.get("temperature"), bool) else None,
        from_catalog=True,
        inputs=tuple(clean_text(str(kind)) for kind in inputs[:20])
        if isinstance(inputs, (list, tuple)) else None,
    )


# -- filters and JSON ------------------------------------------------------------------------------


class _Record(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def long(self) -> str: ...


def matches_filters(info: ModelInfo | None, *, tools: bool = False, vision: bool = False,
                    reasoning: bool = False, min_context: int | None = None,
                    max_price: float | None = None) -> bool:
    """Whether `info` passes every fact filter asked for; a model with no facts passes none."""
    wanted = tools or vision or reasoning or min_context is not None or max_price is not None
    if not wanted:
        return True
    if info is None:
        return False
    if (tools and not info.tool_call) or (vision and not info.vision) or (reasoning and not info.reasoning):
        return False
    if min_context is not None and (info.context_window is None or info.context_window < min_context):
        return False
    return max_price is None or (info.input_price is not None and info.input_price <= max_price)


def info_json(record: _Record, info: ModelInfo | None) -> dict[str, Any]:
    """`--json` fields for one model: provider, model, short name, then every fact (null when
    unknown)."""
    out: dict[str, Any] = {
        "provider": record.provider,
        "model": record.long,
        "short": getattr(record, "short", record.long),
    }
    facts = info.to_dict() if info is not None else dict.fromkeys(FACT_FIELDS)
    out.update(facts)
    return out
