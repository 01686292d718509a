"""Discovery against hostile loopback servers: endless, dripping and gigantic /models bodies, and
an oversized state file. Each is bounded; nothing here asserts on time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl import DiscoveryRefresher, ModelDiscoveryService, ProviderManager
from chatrepl.cli import main
from chatrepl.config import DiscoverySettings
from chatrepl.discoveredstore import MAX_STATE_BYTES, DiscoveredStore
from chatrepl.modelsreply import MAX_ID_LENGTH, MAX_MODEL_IDS, parse_models_reply
from chatrepl.paths import resolve_paths
from chatrepl.runtime import build_runtime


def make_service(providers: dict[str, Any], home: Path, **settings: Any,
                 ) -> tuple[ProviderManager, ModelDiscoveryService]:
    manager = ProviderManager(providers)
    options: dict[str, Any] = {"timeout_seconds": 5.0, **settings}
    service = ModelDiscoveryService(manager, {}, DiscoverySettings(**options),
                                    DiscoveredStore(home / "state" / "discovered.json"))
    return manager, service


@pytest.fixture
def hostile() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_endless_models_body_is_cut_off(hostile: FakeOpenAIServer, chatrepl_home: Path) -> None:
    hostile.behavior.models_fault = "endless"
    manager, service = make_service({"squat": {"base_url": hostile.url}}, chatrepl_home)
    result = service.discover_models("squat")
    assert not result.ok
    assert "sent more than" in (result.error or "")
    assert manager["squat"].valid_models == {}


def test_endless_error_body_is_cut_off(hostile: FakeOpenAIServer, chatrepl_home: Path) -> None:
    hostile.behavior.models_status = 500
    hostile.behavior.error_body = "x" * (4 * 1024 * 1024)  # far past the error-body cap
    _, service = make_service({"squat": {"base_url": hostile.url}}, chatrepl_home,
                              timeout_seconds=5.0)
    result = service.discover_models("squat")
    assert not result.ok
    assert "sent more than" in (result.error or "")


def test_dripping_provider_times_out_without_holding_up_the_others(
        hostile: FakeOpenAIServer, fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    hostile.behavior.models_fault = "drip"
    manager, service = make_service({"drip": {"base_url": hostile.url},
                                     "good": {"base_url": fake_server.url}},
                                    chatrepl_home, timeout_seconds=0.5)
    refresher = DiscoveryRefresher(service)
    refresher.refresh()
    assert refresher.wait(timeout=30)  # the round ends although the drip never does
    assert refresher.status["drip"].state == "error"
    assert "timed out" in (refresher.status["drip"].error or "")
    assert refresher.status["good"].state == "ok"
    assert "good/fake-chat (fake-chat)" in manager.valid_scoped_models()
    # A later /discover is not blocked by the dripping server.
    fake_server.behavior.models = ["fake-chat", "fake-chat-2"]
    refresher.refresh(["good"])
    assert refresher.wait(timeout=30)
    assert refresher.status["good"].models == 2


def test_round_deadline_holds_when_headers_drip(hostile: FakeOpenAIServer,
                                                chatrepl_home: Path) -> None:
    hostile.behavior.models_fault = "drip_head"
    _, service = make_service({"drip": {"base_url": hostile.url}}, chatrepl_home,
                              timeout_seconds=0.5)
    [result] = service.discover_all()
    assert not result.ok
    assert result.error == "drip: timed out after 0.5 s"


def test_discover_command_ends_on_a_dripping_server(
        hostile: FakeOpenAIServer, chatrepl_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile.behavior.models_fault = "drip"
    (chatrepl_home / "config.yaml").write_text(
        f"discovery: {{timeout_seconds: 0.5}}\nproviders:\n  drip:\n    base_url: {hostile.url}\n")
    code = main(["discover"], env=dict(os.environ))
    assert code == 1
    assert "drip: failed: /models timed out" in capsys.readouterr().out


def test_a_100_mb_model_id_is_refused_and_nothing_stored(hostile: FakeOpenAIServer,
                                               chatrepl_home: Path) -> None:
    hostile.behavior.models_fault = "huge_id"
    _manager, service = make_service({"squat": {"base_url": hostile.url}}, chatrepl_home)
    result = service.discover_models("squat")
    # 100 MB is over the byte cap: the listing is refused whole, and nothing is stored.
    assert not result.ok and "sent more than" in (result.error or "")
    state = chatrepl_home / "state" / "discovered.json"
    assert not state.exists() or state.stat().st_size < 64 * 1024


def test_long_unprintable_and_surplus_ids_are_dropped(fake_server: FakeOpenAIServer,
                                                     chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["fake-chat", "y" * (MAX_ID_LENGTH + 1),
                                   "evil\x1b]52;c;aGk=\x07", "bidi\u202eid", ""]
    _manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    result = service.discover_models("fake")
    assert result.ok
    assert result.models == ("fake-chat",)
    assert result.dropped == 4
    assert "4 ids dropped" in result.dropped_note
    saved = (chatrepl_home / "state" / "discovered.json").read_text()
    assert "evil" not in saved and "y" * (MAX_ID_LENGTH + 1) not in saved


def test_id_count_is_capped() -> None:
    body = json.dumps({"data": [{"id": f"m{i}"} for i in range(MAX_MODEL_IDS + 5)]})
    reply = parse_models_reply(body.encode(), "application/json")
    assert reply is not None
    assert len(reply.models) == MAX_MODEL_IDS and reply.dropped == 5


def test_nested_models_body_is_not_json(hostile: FakeOpenAIServer, chatrepl_home: Path) -> None:
    hostile.behavior.models_fault = "nested"
    _, service = make_service({"squat": {"base_url": hostile.url}}, chatrepl_home)
    result = service.discover_models("squat")
    assert not result.ok and "not JSON" in (result.error or "")


def test_oversized_state_file_is_refused_with_one_line(chatrepl_home: Path,
                                                       fake_server: FakeOpenAIServer) -> None:
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_url: {fake_server.url}\n")
    paths = resolve_paths(dict(os.environ), None)
    paths.discovered_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with paths.discovered_file.open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_STATE_BYTES + 1)
    runtime = build_runtime(paths, dict(os.environ))
    assert [w for w in runtime.warnings if "not read" in w] == [
        f"{runtime.paths.discovered_file}: larger than 64 MB, not read; "
        "models will be discovered again"]
    # Start-up carries on; the next discovery replaces the file with a sane one.
    assert runtime.discovery.discover_models("fake").ok
    assert runtime.paths.discovered_file.stat().st_size < 64 * 1024
