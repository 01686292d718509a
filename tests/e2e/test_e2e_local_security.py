"""The real llama.cpp child (chatrepl.localchild): it serves on the socket chatrepl bound,
refuses requests without the per-run key, and the key is not in its command line."""

from __future__ import annotations

import errno
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chatrepl.localserver import LocalServer

pytestmark = pytest.mark.e2e


def _get_models(server: LocalServer, key: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.base_url}/models")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read(1 << 20))
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {}


def test_the_child_refuses_requests_without_its_key(llama_server: LocalServer) -> None:
    assert _get_models(llama_server, None)[0] == 401
    assert _get_models(llama_server, "not-the-key")[0] == 401
    status, body = _get_models(llama_server, llama_server.api_key)
    assert status == 200 and [m["id"] for m in body["data"]] == [llama_server.model_id]


def test_the_child_holds_the_port_and_its_argv_holds_no_key(llama_server: LocalServer) -> None:
    argv = Path(f"/proc/{llama_server.pid}/cmdline").read_bytes().split(b"\0")
    assert b"chatrepl.localchild" in argv and b"--fd" in argv
    assert not any(llama_server.api_key.encode() in arg for arg in argv)
    assert str(llama_server.port).encode() not in argv
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        with pytest.raises(OSError) as caught:
            squatter.bind(("127.0.0.1", llama_server.port))
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        squatter.close()
