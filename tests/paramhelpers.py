"""A REPL state on the loopback server whose two models the catalog describes differently:
`warm-model` takes a temperature (output limit 1000), `cold-model` is a reasoning model that
takes none (output limit 2000)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalogdata import model, provider
from chathelpers import chat_bodies
from fakeserver import FakeOpenAIServer
from replhelpers import BuiltRepl, build_repl_state

from chatrepl.catalog import Catalog


def _entry(model_id: str, *, temperature: bool, **facts: Any) -> dict[str, Any]:
    entry = model(model_id, **facts)
    entry["temperature"] = temperature
    return entry


CATALOG = {"testcat": provider(
    "testcat",
    _entry("warm-model", temperature=True, output=1000),
    _entry("cold-model", temperature=False, output=2000, reasoning=True),
)}


def provider_config(server: FakeOpenAIServer) -> str:
    """The `providers:` part of a config naming the loopback server as `fake`."""
    return ("providers:\n  fake:\n"
            f"    base_api_url: {server.url}\n"
            "    catalog_id: testcat\n"
            "    valid_models: [warm-model, cold-model, unknown-model]\n")


def param_repl(home: Path, server: FakeOpenAIServer, extra: str = "",
               model_id: str = "warm-model") -> BuiltRepl:
    """The state on fake/`model_id`, the config holding `extra` after the provider."""
    server.behavior.models = ["warm-model", "cold-model", "unknown-model"]
    (home / "config.yaml").write_text(provider_config(server) + extra, encoding="utf-8")
    built = build_repl_state(home, "fake", model_id)
    built.state.runtime._catalog = Catalog(data=CATALOG)
    return built


def last_body(server: FakeOpenAIServer) -> dict[str, Any]:
    """The body of the last chat request the server received."""
    bodies = chat_bodies(server)
    assert bodies, "no chat request reached the server"
    return bodies[-1]


def sampled(body: dict[str, Any]) -> dict[str, Any]:
    """The request parameters in a chat body (model, messages and streaming aside)."""
    return {k: v for k, v in body.items()
            if k not in ("model", "messages", "stream", "stream_options")}
