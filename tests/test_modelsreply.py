"""Parsing /models replies: the shapes servers use, what a listing says about a model's kind,
and the facts it gives (context, prices)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl import ModelDiscoveryService, ProviderManager
from chatrepl.config import DiscoverySettings
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.modelsreply import ListedFacts, parse_models_reply


@pytest.mark.parametrize(("body", "ids"), [
    ('{"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}', ["a", "b"]),
    ('[{"id": "a"}, "b"]', ["a", "b"]),
    ('{"models": [{"name": "a"}]}', ["a"]),
    ('{"data": null}', None),  # no models loaded yet
    ("", None),
])
def test_parse_models_reply(body: str, ids: list[str] | None) -> None:
    reply = parse_models_reply(body, "application/json")
    assert (reply.ids if reply is not None else None) == ids


# Entries as each provider documents them; names that the patterns alone would misjudge.
TOGETHER = [
    {"id": "BAAI/bge-large-en-v1.5", "object": "model", "type": "embedding"},
    {"id": "Salesforce/Llama-Rank-V1", "object": "model", "type": "rerank"},
    {"id": "meta-llama/Llama-Guard-3-11B", "object": "model", "type": "moderation"},
    {"id": "black-forest-labs/FLUX.1-pro", "object": "model", "type": "image"},
    {"id": "cartesia/sonic", "object": "model", "type": "audio"},
    {"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "type": "chat",
     "context_length": 131072, "pricing": {"input": 0.88, "output": 0.88}},
    {"id": "Qwen/Qwen2.5-Coder-32B", "object": "model", "type": "code"},
]
LITELLM = [
    {"id": "team-small", "object": "model", "mode": "embedding"},
    {"id": "team-ears", "object": "model", "mode": "audio_transcription"},
    {"id": "team-chat", "object": "model", "mode": "chat"},
    {"id": "team-other", "object": "model", "model_info": {"mode": "image_generation"}},
]
OPENROUTER = [
    {"id": "openai/gpt-4o-mini", "context_length": 128000,
     "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
     "pricing": {"prompt": "0.00000015", "completion": "0.0000006"},
     "top_provider": {"max_completion_tokens": 16384}},
    {"id": "google/gemini-2.5-flash-image", "architecture": {"output_modalities": ["image"]}},
    {"id": "x/text-embedding-ish-chat", "architecture": {"modality": "text->text"}},
]
GEMINI = [
    {"name": "models/gemini-2.0-flash", "supportedGenerationMethods": ["generateContent"]},
    {"name": "models/text-bison-embed", "supportedGenerationMethods": ["embedContent"]},
]


def discover(server: FakeOpenAIServer, home: Path, entries: list[dict[str, Any]],
             fault: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    server.behavior.models_entries = entries
    server.behavior.models_fault = fault
    manager = ProviderManager({"p": {"base_url": server.url}})
    service = ModelDiscoveryService(manager, {}, DiscoverySettings(timeout_seconds=5),
                                    DiscoveredStore(home / "state" / "discovered.json"))
    result = service.discover_models("p")
    assert result.ok, result.error
    return result.models, result.invalid


def test_together_type_decides(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    chat, invalid = discover(fake_server, chatrepl_home, TOGETHER, "bare_array")
    assert chat == ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "Qwen/Qwen2.5-Coder-32B")
    assert "BAAI/bge-large-en-v1.5" in invalid and len(invalid) == 5


def test_litellm_mode_decides_for_names_that_say_nothing(fake_server: FakeOpenAIServer,
                                                         chatrepl_home: Path) -> None:
    chat, invalid = discover(fake_server, chatrepl_home, LITELLM)
    assert chat == ("team-chat",)
    assert set(invalid) == {"team-small", "team-ears", "team-other"}


def test_openrouter_output_modalities_decide(fake_server: FakeOpenAIServer,
                                             chatrepl_home: Path) -> None:
    chat, invalid = discover(fake_server, chatrepl_home, OPENROUTER)
    assert chat == ("openai/gpt-4o-mini", "x/text-embedding-ish-chat")
    assert invalid == ("google/gemini-2.5-flash-image",)


def test_gemini_generation_methods_decide(fake_server: FakeOpenAIServer,
                                          chatrepl_home: Path) -> None:
    chat, invalid = discover(fake_server, chatrepl_home, GEMINI, "models_key")
    assert chat == ("models/gemini-2.0-flash",)
    assert invalid == ("models/text-bison-embed",)


def test_listing_facts_are_read_and_bounded() -> None:
    body = json.dumps({"data": [
        *OPENROUTER[:1],
        {"id": "nan-price", "pricing": {"prompt": "NaN", "completion": "1e300"},
         "context_length": 10**30},
    ]})
    reply = parse_models_reply(body)
    assert reply is not None
    facts = {m.id: m.facts for m in reply.models}
    assert facts["openai/gpt-4o-mini"] == ListedFacts(128000, 16384, 0.15, 0.6)
    assert facts["nan-price"] is None  # nothing usable: no facts at all


def test_listing_facts_are_kept_in_the_state_file(fake_server: FakeOpenAIServer,
                                                  chatrepl_home: Path) -> None:
    discover(fake_server, chatrepl_home, TOGETHER, "bare_array")
    known = DiscoveredStore(chatrepl_home / "state" / "discovered.json").load()["p"]
    assert known.facts == {"meta-llama/Llama-3.3-70B-Instruct-Turbo":
                           ListedFacts(131072, None, 0.88, 0.88)}
