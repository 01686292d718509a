"""Catalog facts come from the right place, and a downloaded catalog cannot hurt: bounded gzip,
no NaN/Infinity, numbers in range, no control characters, https kept across redirects."""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from catalogdata import RAW, api_server, model, provider
from fakeserver import FakeOpenAIServer

from chatrepl.catalog import Catalog
from chatrepl.catalogsource import _SafeRedirects, redirect_allowed
from chatrepl.errors import CatalogError
from chatrepl.modelsreply import ListedFacts
from chatrepl.paths import resolve_paths
from chatrepl.runtime import build_runtime

LLAMA = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
HOSTED: dict[str, Any] = {
    **RAW,
    "hostco": {**provider("hostco", model("llama-3.3-70b", price=(0.2, 0.3))),
               "api": "https://api.hostco.example/v1"},
}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(data=HOSTED)


# -- where facts come from -----------------------------------------------------------------------

def test_another_resellers_price_is_never_this_providers(catalog: Catalog) -> None:
    # togetherai lists this id at 0.88; "acme" is not togetherai and has no catalog_id.
    info = catalog.lookup("acme", LLAMA, None, "https://api.acme.example/v1")
    assert info is not None
    assert (info.input_price, info.output_price) == (None, None)
    assert info.cost(1000, 1000) is None  # session costs do not use a stranger's price


def test_the_providers_own_listing_gives_its_price(catalog: Catalog) -> None:
    listed = ListedFacts(131072, None, 0.88, 0.88)
    info = catalog.lookup("acme", LLAMA, None, "https://api.acme.example/v1", listed)
    assert info is not None
    assert (info.input_price, info.output_price, info.context_window) == (0.88, 0.88, 131072)


def test_the_base_url_host_finds_the_providers_own_entry(catalog: Catalog) -> None:
    info = catalog.lookup("mine", "llama-3.3-70b", None, "https://api.hostco.example/v1",
                          ListedFacts(None, None, 5.0, 5.0))
    assert info is not None and info.catalog_provider == "hostco"
    assert (info.input_price, info.output_price) == (0.2, 0.3)  # its own entry comes first


def test_the_makers_price_only_for_the_maker(catalog: Catalog) -> None:
    assert catalog.lookup("openai", "gpt-4o-mini").input_price == 0.15  # type: ignore[union-attr]
    proxied = catalog.lookup("my-proxy", "gpt-4o-mini")
    assert proxied is not None and proxied.catalog_provider == "openai"
    assert proxied.context_window == 128000 and proxied.vision  # facts, not the price
    assert proxied.input_price is None


def test_runtime_uses_the_listing_kept_by_discovery(
        chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models_entries = [
        {"id": LLAMA, "object": "model", "type": "chat", "context_length": 131072,
         "pricing": {"input": 0.9, "output": 0.95}}]
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  acme:\n    base_url: {fake_server.url}\n")
    env = dict(os.environ)
    runtime = build_runtime(resolve_paths(env, None), env, synchronous=True)
    runtime._catalog = Catalog(data=HOSTED)
    assert runtime.discovery.discover_models("acme").ok
    info = runtime.model_info("acme", LLAMA)
    assert info is not None and (info.input_price, info.output_price) == (0.9, 0.95)
    # A later start reads the listing's facts back from the state file.
    again = build_runtime(resolve_paths(env, None), env, synchronous=True)
    again._catalog = Catalog(data=HOSTED)
    assert again.model_info("acme", LLAMA) == info


# -- what a downloaded catalog may hold ----------------------------------------------------------

def test_a_gzip_bomb_is_refused_and_not_cached(tmp_path: Path) -> None:
    cache = tmp_path / "api.json"
    bomb = gzip.compress(b'{"p": {"models": {}}, "pad": "' + b" " * (80 * 1024 * 1024) + b'"}',
                         compresslevel=9)
    assert len(bomb) < 1024 * 1024
    with api_server() as (url, routes):
        routes.body = bomb
        catalog = Catalog(cache, url, 3600, data=RAW)
        result = catalog.refresh()
    assert not result.ok and "expands to more than 64 MB" in (result.error or "")
    assert not cache.exists()
    assert catalog.lookup("openai", "gpt-4o-mini") is not None  # the old data stays


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(tmp_path: Path, number: str) -> None:
    cache = tmp_path / "api.json"
    entry = '{"id": "m", "cost": {"input": NUM}, "limit": {"context": NUM}}'.replace("NUM", number)
    body = ('{"p": {"models": {"m": ' + entry + "}}}").encode()
    with api_server() as (url, routes):
        routes.body = body
        catalog = Catalog(cache, url, 3600, data=RAW)
        result = catalog.refresh()
    assert not result.ok and "not a number" in (result.error or "")
    assert not cache.exists()
    assert catalog.lookup("p", "m") is None


def test_out_of_range_numbers_and_control_characters_are_dropped() -> None:
    entry = model("m", context=10**12, output=16384, price=(1e9, 1e999),
                  name="evil\x1b]0;title\x07\u202ename")
    catalog = Catalog(data={"p": provider("p", entry)})
    info = catalog.lookup("p", "m")
    assert info is not None
    assert (info.context_window, info.max_output) == (None, 16384)
    assert (info.input_price, info.output_price) == (None, None)
    assert info.name == "evil]0;titlename"
    assert info.price_text() == "" and info.short_facts()


def test_a_catalog_cache_planted_too_large_is_not_read(tmp_path: Path) -> None:
    cache = tmp_path / "api.json"
    with cache.open("wb") as handle:  # sparse
        handle.truncate(65 * 1024 * 1024)
    result = Catalog(cache, None, 3600, data=RAW).refresh()
    assert not result.ok and "larger than" in (result.error or "")


def test_https_is_kept_across_redirects() -> None:
    assert not redirect_allowed("https://models.dev/api.json", "http://evil.example/api.json")
    assert not redirect_allowed("https://models.dev/api.json", "file:///etc/passwd")
    assert redirect_allowed("https://models.dev/api.json", "https://cdn.models.dev/api.json")
    assert redirect_allowed("http://127.0.0.1/api.json", "http://127.0.0.1/v2/api.json")
    handler = _SafeRedirects()
    request = urllib.request.Request("https://models.dev/api.json")
    with pytest.raises(CatalogError, match="stays https"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://evil.example/api.json")
    followed = handler.redirect_request(request, None, 302, "Found", {},
                                        "https://cdn.models.dev/api.json")
    assert followed is not None and followed.full_url == "https://cdn.models.dev/api.json"


def test_a_json_catalog_download_still_works(tmp_path: Path) -> None:
    with api_server() as (url, routes):
        routes.body = gzip.compress(json.dumps(HOSTED).encode())
        result = Catalog(tmp_path / "api.json", url, 3600, data=RAW).refresh()
    assert result.ok and result.models == 14
