"""Catalog refresh: downloading models.dev data, the cache, and keeping the old data when the
download is corrupt, refused or offline."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogdata import NEW_RAW, RAW, api_server

from chatrepl.catalog import (
    Catalog,
)

# -- refresh ---------------------------------------------------------------------------------


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
