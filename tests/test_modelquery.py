"""Model listing filters (shared by `chatrepl models` and `/models`) over a small literal catalog."""

from __future__ import annotations

from typing import Any

import pytest
from catalogdata import RAW
from test_catalog import RECORDS

from chatrepl.catalog import Catalog
from chatrepl.manager import ModelRecord
from chatrepl.modelquery import ModelFilters, as_json, as_table, select


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(data=RAW)


def pick(records: Any, catalog: Catalog, *, catalog_ids: dict[str, str] | None = None,
         **filters: Any) -> list[ModelRecord]:
    ids = catalog_ids or {}

    def facts(record: ModelRecord) -> Any:
        return catalog.lookup(record.provider, record.long, ids.get(record.provider))

    return [record for record, _info in select(records, facts, ModelFilters(**filters))]


def longs(records: list[Any]) -> list[str]:
    return [r.long for r in records]


def test_no_filter_keeps_everything(catalog: Catalog) -> None:
    assert pick(RECORDS, catalog) == list(RECORDS)


def test_provider_filter_is_not_a_fact_filter(catalog: Catalog) -> None:
    assert longs(pick(RECORDS, catalog, provider="Local")) == ["unknown-model"]


def test_capability_filters(catalog: Catalog) -> None:
    assert longs(pick(RECORDS, catalog, vision=True)) == [
        "gpt-4o-mini", "models/gemini-2.5-flash"]
    assert longs(pick(RECORDS, catalog, reasoning=True)) == [
        "o3-mini", "models/gemini-2.5-flash"]
    assert longs(pick(RECORDS, catalog, tools=True, vision=True, reasoning=True)) == [
        "models/gemini-2.5-flash"]
    assert "unknown-model" not in longs(pick(RECORDS, catalog, tools=True))


def test_context_and_price_filters(catalog: Catalog) -> None:
    assert longs(pick(RECORDS, catalog, min_context=200_000)) == [
        "o3-mini", "models/gemini-2.5-flash"]
    assert longs(pick(RECORDS, catalog, max_price=0.5)) == [
        "gpt-4o-mini", "models/gemini-2.5-flash"]
    assert longs(pick(RECORDS, catalog, provider="openai", max_price=0.15)) == ["gpt-4o-mini"]


def test_filters_use_the_configured_catalog_ids(catalog: Catalog) -> None:
    records = [ModelRecord("corp", "gpt-4o-mini", "gpt-4o-mini")]
    # Through the reseller entry the price is 9.0, above the limit.
    assert pick(records, catalog, max_price=1.0, catalog_ids={"corp": "aaa-reseller"}) == []
    # Without a catalog id, corp is not OpenAI: the maker's price is not corp's price.
    assert pick(records, catalog, max_price=1.0) == []
    assert pick(records, catalog, max_price=1.0, catalog_ids={"corp": "openai"}) == records


def test_text_terms_must_all_match(catalog: Catalog) -> None:
    assert longs(pick(RECORDS, catalog, terms=("openai", "mini"))) == ["gpt-4o-mini", "o3-mini"]
    assert longs(pick(RECORDS, catalog, terms=("o3", "gemini"))) == []


def test_json_and_table_carry_facts(catalog: Catalog) -> None:
    rows = select(RECORDS[:1], lambda r: catalog.lookup(r.provider, r.long), ModelFilters())
    data = as_json(rows)
    assert data[0]["scoped"] == "openai/gpt-4o-mini" and data[0]["context_window"]
    line = as_table(rows)[0]
    assert line.startswith("openai/gpt-4o-mini") and "$" in line


@pytest.mark.parametrize("unknown", [ModelRecord("local", "unknown-model", "unknown-model")])
def test_model_without_facts_fails_fact_filters_only(catalog: Catalog, unknown: ModelRecord) -> None:
    assert pick([unknown], catalog) == [unknown]
    assert pick([unknown], catalog, min_context=1) == []
