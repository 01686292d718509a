"""Listing models with catalog facts: the filters shared by `chatrepl models` and `/models`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chatrepl.manager import ModelRecord
from chatrepl.modelinfo import ModelInfo, format_context, info_json, matches_filters


@dataclass(frozen=True)
class ModelFilters:
    """What to keep: a provider, text terms, and catalog facts."""

    provider: str | None = None
    terms: tuple[str, ...] = ()
    tools: bool = False
    vision: bool = False
    reasoning: bool = False
    min_context: int | None = None
    max_price: float | None = None


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The filter flags, for both the CLI command and the slash command."""
    parser.add_argument("--provider", metavar="P", help="only this provider's models")
    parser.add_argument("--tools", action="store_true", help="only models with tool calling")
    parser.add_argument("--vision", action="store_true", help="only models that take images")
    parser.add_argument("--reasoning", action="store_true", help="only reasoning models")
    parser.add_argument("--min-context", type=int, metavar="N",
                        help="only models whose context window is at least N tokens")
    parser.add_argument("--max-price", type=float, metavar="X",
                        help="only models whose input price is at most X $ per 1M tokens")


def filters_from(args: argparse.Namespace, terms: Sequence[str] = ()) -> ModelFilters:
    return ModelFilters(args.provider, tuple(t.lower() for t in terms), args.tools, args.vision,
                        args.reasoning, args.min_context, args.max_price)


def select(records: Iterable[ModelRecord], facts: Callable[[ModelRecord], ModelInfo | None],
           filters: ModelFilters,
           ) -> list[tuple[ModelRecord, ModelInfo | None]]:
    """Records passing every filter, each with its catalog facts (`facts(record)`)."""
    wanted = filters.provider.lower() if filters.provider else None
    needs_facts = (filters.tools or filters.vision or filters.reasoning
                   or filters.min_context is not None or filters.max_price is not None)
    kept = []
    for record in records:
        if wanted is not None and record.provider.lower() != wanted:
            continue
        if not all(t in record.scoped_lower or t in record.short_lower for t in filters.terms):
            continue
        info = facts(record)
        if needs_facts and not matches_filters(
                info, tools=filters.tools, vision=filters.vision, reasoning=filters.reasoning,
                min_context=filters.min_context, max_price=filters.max_price):
            continue
        kept.append((record, info))
    return kept


def as_json(rows: Iterable[tuple[ModelRecord, ModelInfo | None]]) -> list[dict[str, Any]]:
    """`{"provider", "model", "short", "scoped", ...facts}` per model."""
    return [{**info_json(record, info), "scoped": record.scoped} for record, info in rows]


def as_table(rows: Sequence[tuple[ModelRecord, ModelInfo | None]]) -> list[str]:
    """Aligned lines: scoped name, short name, context, price, capabilities."""
    cells = []
    for record, info in rows:
        short = "" if record.short == record.long else record.short
        context = format_context(info.context_window) if info else ""
        price = info.price_text() if info else ""
        caps = " ".join(info.capabilities) if info else ""
        cells.append((record.scoped, short, context, price, caps))
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    return ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
            for row in cells]


def info_card(scoped: str, info: ModelInfo | None) -> list[str]:
    """Every fact about one model as aligned `label  value` lines."""
    if info is None:
        return [scoped, "  the catalog has no entry for this model"]
    rows = info.rows()
    width = max(len(label) for label, _ in rows)
    return [scoped, *(f"  {label:<{width}}  {value}" for label, value in rows)]
