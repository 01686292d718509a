"""Model discovery against real loopback HTTP servers, through the real openai SDK."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from discoveryhelpers import authorization, closed_port, make_service, started_servers, state_file
from fakeserver import FakeOpenAIServer

from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.discovery import DiscoveryResult, is_chat_model

SECRET = "sk-test-secret-abcdef123456"


@pytest.fixture
def servers() -> Iterator[list[FakeOpenAIServer]]:
    """Four started servers, stopped after the test."""
    with started_servers() as started:
        yield started


# -- one provider, the shapes real servers answer --------------------------------------------

def test_normal_list(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    result = service.discover_models("fake")
    assert result.ok and result.error is None
    assert result.models == ("fake-chat",)
    assert result.invalid == ("fake-embedding-small",)
    assert not result.from_cache
    assert manager.valid_scoped_models() == ["fake/fake-chat (fake-chat)"]
    assert list(manager["fake"].invalid_models) == ["fake-embedding-small"]
    assert fake_server.count("/models") == 1
    assert fake_server.count("/chat/completions") == 0


def test_other_list_shapes(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    manager, service = make_service({"local": {"base_url": fake_server.url}}, chatrepl_home)
    for index, fault in enumerate(["bare_array", "no_object_fields", "models_key"]):
        fake_server.behavior.models = [f"llama-{index}", "Qwen/Qwen2.5-7B", "nomic-embed-text"]
        fake_server.behavior.models_fault = fault
        result = service.discover_models("local", force_refresh=True)
        assert result.ok, (fault, result.error)
        assert result.models == (f"llama-{index}", "Qwen/Qwen2.5-7B"), fault
        assert result.invalid == ("nomic-embed-text",), fault
        assert manager.resolve("local/Qwen/Qwen2.5-7B")[1] == "Qwen/Qwen2.5-7B"
        assert manager.resolve(f"llama-{index}")[0].id == "local"
    assert fake_server.count("/models") == 3


def test_data_null_is_an_empty_list(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    fake_server.behavior.models_fault = "data_null"
    manager, service = make_service({"local": {"base_url": fake_server.url}}, chatrepl_home)
    result = service.discover_models("local")
    assert result.ok and result.error is None
    assert result.models == () and result.invalid == ()
    assert manager.valid_scoped_models() == []


def test_html_page_is_an_error_with_hint(fake_server: FakeOpenAIServer,
                                         chatrepl_home: Path) -> None:
    fake_server.behavior.models_fault = "html_200"
    _, service = make_service({"portal": {"base_url": fake_server.url}}, chatrepl_home)
    result = service.discover_models("portal")
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("portal: ")
    assert "HTML" in result.error and "base_api_url" in result.error
    assert "<html" not in result.error


def test_malformed_json_is_an_error(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    fake_server.behavior.models_fault = "malformed"
    _, service = make_service({"broken": {"base_url": fake_server.url}}, chatrepl_home)
    result = service.discover_models("broken")
    assert not result.ok
    assert result.error is not None and "not JSON" in result.error
    assert result.models == ()


def test_error_status_keeps_last_known_list(fake_server: FakeOpenAIServer,
                                            chatrepl_home: Path) -> None:
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert service.discover_models("fake").ok
    expected = {401: ["401", "FAKE_API_KEY"], 404: ["404", fake_server.url], 500: ["500"]}
    for status, words in expected.items():
        fake_server.behavior.models_status = status
        result = service.discover_models("fake", force_refresh=True)
        assert not result.ok, status
        assert result.models == ("fake-chat",), status  # the last known list, not an empty one
        assert result.error is not None
        for word in words:
            assert word in result.error, (status, result.error)
        assert manager.valid_scoped_models() == ["fake/fake-chat (fake-chat)"]


def test_error_never_shows_the_key(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    fake_server.behavior.models_status = 401
    fake_server.behavior.error_body = f"invalid api key {SECRET}"
    _, service = make_service({"fake": {"base_url": fake_server.url, "api_key_env": "FAKE_KEY"}},
                              chatrepl_home, {"FAKE_KEY": SECRET})
    result = service.discover_models("fake")
    assert not result.ok
    assert result.error is not None and "401" in result.error
    assert SECRET not in result.error
    assert authorization(fake_server) == f"Bearer {SECRET}"


def test_base_url_without_v1_gives_hint(fake_server: FakeOpenAIServer,
                                        chatrepl_home: Path) -> None:
    _, service = make_service({"root": {"base_url": fake_server.root_url}}, chatrepl_home)
    result = service.discover_models("root")
    assert not result.ok
    assert result.error is not None
    assert "404" in result.error and "/v1" in result.error


def test_connection_refused(chatrepl_home: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    _, service = make_service({"down": {"base_url": url}}, chatrepl_home)
    result = service.discover_models("down")
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("down: ")
    assert "connect" in result.error and url in result.error


# -- the TTL cache ---------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_ttl_cache(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    clock = FakeClock()
    _, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home,
                              clock=clock, ttl_seconds=300)
    first = service.discover_models("fake")
    assert fake_server.count("/models") == 1
    clock.now += 299
    second = service.discover_models("fake")
    assert fake_server.count("/models") == 1
    assert second.from_cache and second.ok
    assert second.models == first.models
    assert service.stale_providers() == []

    forced = service.discover_models("fake", force_refresh=True)
    assert fake_server.count("/models") == 2
    assert not forced.from_cache

    clock.now += 301
    assert service.stale_providers() == ["fake"]
    assert not service.discover_models("fake").from_cache
    assert fake_server.count("/models") == 3


def test_failure_is_not_cached(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    fake_server.behavior.models_status = 401
    _, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert not service.discover_models("fake").ok
    fake_server.behavior.models_status = 200
    assert service.discover_models("fake").ok
    assert fake_server.count("/models") == 2


# -- chat and non-chat ids -------------------------------------------------------------------

NON_CHAT = ["text-embedding-3-large", "whisper-1", "gpt-4o-transcribe", "tts-1-hd", "dall-e-3",
            "omni-moderation-latest", "rerank-english-v3.0", "BAAI/bge-reranker-v2-m3"]
CHAT = ["gpt-4o", "o3-mini", "meta-llama/Llama-3.3-70B-Instruct"]


def test_is_chat_model() -> None:
    assert all(is_chat_model(m) for m in CHAT)
    assert not any(is_chat_model(m) for m in NON_CHAT)


def test_non_chat_ids_are_invalid_without_chat_requests(fake_server: FakeOpenAIServer,
                                                        chatrepl_home: Path) -> None:
    fake_server.behavior.models = CHAT + NON_CHAT
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    (result,) = service.discover_all(validate=True)
    assert result.ok
    assert set(result.invalid) == set(NON_CHAT)
    assert set(result.models) == set(CHAT)
    assert set(manager["fake"].invalid_models) == set(NON_CHAT)
    probed = {r.body["model"] for r in fake_server.requests if r.path.endswith("/chat/completions")}
    assert probed == set(CHAT)  # validation never asks about the non-chat ids


def test_user_short_names_and_listed_models_win(fake_server: FakeOpenAIServer,
                                                chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["fake-chat", "fake-embed-ada", "other"]
    config = {"base_url": fake_server.url,
              "valid_models": {"fake-chat": "fc", "fake-embed-ada": "ada", "mine": "m"}}
    manager, service = make_service({"fake": config}, chatrepl_home)
    service.discover_models("fake")
    assert manager["fake"].usable_models() == {"fake-chat": "fc", "fake-embed-ada": "ada",
                                                  "mine": "m", "other": "other"}
    assert "fake-embed-ada" not in manager["fake"].invalid_models


# -- keys ------------------------------------------------------------------------------------

def test_provider_without_key_is_skipped(chatrepl_home: Path) -> None:
    _, service = make_service({"remote": {"base_url": "https://api.remote.example/v1"}},
                              chatrepl_home)
    result = service.discover_models("remote")
    assert result.skipped and not result.ok
    assert result.error is not None and "REMOTE_API_KEY" in result.error
    assert not state_file(chatrepl_home).exists()


def test_key_from_env_is_sent(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    _, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home,
                              {"FAKE_API_KEY": SECRET})
    assert service.discover_models("fake").ok
    assert authorization(fake_server, 0) == f"Bearer {SECRET}"


# -- the state file --------------------------------------------------------------------------

def test_state_file_written_and_merged_on_next_start(fake_server: FakeOpenAIServer,
                                                     chatrepl_home: Path) -> None:
    providers = {"fake": {"base_url": fake_server.url, "api_key": SECRET,
                          "valid_models": {"fake-chat": "fc"}}}
    fake_server.behavior.models = ["fake-chat", "fake-new", "text-embedding-3-small"]
    _, service = make_service(providers, chatrepl_home)
    assert service.discover_models("fake").ok

    path = state_file(chatrepl_home)
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text and "api_key" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(text)
    entry = data["providers"]["fake"]
    assert entry["base_api_url"] == fake_server.url
    assert set(entry["valid_models"]) == {"fake-chat", "fake-new"}
    assert entry["invalid_models"] == ["text-embedding-3-small"]
    assert list(path.parent.glob(".*.tmp")) == []  # the atomic write left no temp file

    requests_before = fake_server.count("/models")
    manager2, service2 = make_service(providers, chatrepl_home)
    assert fake_server.count("/models") == requests_before  # merged without asking again
    assert manager2["fake"].usable_models() == {"fake-chat": "fc", "fake-new": "fake-new"}
    assert list(manager2["fake"].invalid_models) == ["text-embedding-3-small"]
    assert service2.last_discovered("fake") is not None
    assert service2.discover_models("fake").from_cache


def test_state_for_another_base_url_is_ignored(fake_server: FakeOpenAIServer,
                                               chatrepl_home: Path) -> None:
    _, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert service.discover_models("fake").ok
    moved = {"fake": {"base_url": "http://127.0.0.1:1/v1"}}
    manager2, service2 = make_service(moved, chatrepl_home)
    assert manager2.valid_scoped_models() == []
    assert service2.stale_providers() == ["fake"]


def test_damaged_state_file_reads_as_empty(fake_server: FakeOpenAIServer,
                                           chatrepl_home: Path) -> None:
    path = state_file(chatrepl_home)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert manager.valid_scoped_models() == []
    assert service.discover_models("fake").ok
    assert "fake" in json.loads(path.read_text(encoding="utf-8"))["providers"]


# -- several providers at once ---------------------------------------------------------------

def test_all_providers_in_state_file_after_concurrent_discovery(
        servers: list[FakeOpenAIServer], chatrepl_home: Path) -> None:
    providers = {f"p{i}": {"base_url": s.url} for i, s in enumerate(servers)}
    for i, server in enumerate(servers):
        server.behavior.models = [f"model-{i}"]
    manager, service = make_service(providers, chatrepl_home)
    results = service.discover_all()
    assert [r.provider for r in results] == ["p0", "p1", "p2", "p3"]
    assert all(r.ok for r in results)
    saved = json.loads(state_file(chatrepl_home).read_text(encoding="utf-8"))["providers"]
    assert {pid: list(e["valid_models"]) for pid, e in saved.items()} == {
        f"p{i}": [f"model-{i}"] for i in range(4)}
    assert sorted(manager.valid_scoped_models()) == [f"p{i}/model-{i} (model-{i})"
                                                     for i in range(4)]


def test_slow_provider_does_not_hold_up_the_others(servers: list[FakeOpenAIServer],
                                                   chatrepl_home: Path) -> None:
    slow, fast = servers[0], servers[1:]
    slow.behavior.models_delay = 60  # answers only when the server stops
    providers = {"slow": {"base_url": slow.url},
                 **{f"fast{i}": {"base_url": s.url} for i, s in enumerate(fast)}}
    fast_done = threading.Event()
    arrived: list[DiscoveryResult] = []
    lock = threading.Lock()

    def on_result(result: DiscoveryResult) -> None:
        with lock:
            arrived.append(result)
            if sum(r.provider.startswith("fast") for r in arrived) == len(fast):
                fast_done.set()

    manager, service = make_service(providers, chatrepl_home)
    outcome: list[list[DiscoveryResult]] = []
    runner = threading.Thread(target=lambda: outcome.append(service.discover_all(
        on_result=on_result)))
    runner.start()
    try:
        assert fast_done.wait(timeout=20)
        with lock:
            assert all(r.ok for r in arrived)
            assert "slow" not in {r.provider for r in arrived}  # still waiting on the slow one
        assert {r.provider for r in manager.model_records()} == {"fast0", "fast1", "fast2"}
    finally:
        slow.stop()  # the slow server drops its connection
        runner.join(timeout=20)
    assert not runner.is_alive()
    (results,) = outcome
    by_name = {r.provider: r for r in results}
    assert not by_name["slow"].ok and by_name["slow"].error
    assert all(by_name[f"fast{i}"].ok for i in range(3))


def test_one_failing_provider_does_not_break_the_others(servers: list[FakeOpenAIServer],
                                                        chatrepl_home: Path) -> None:
    servers[0].behavior.models_status = 401
    servers[1].behavior.models_fault = "html_200"
    providers = {f"p{i}": {"base_url": s.url} for i, s in enumerate(servers)}
    providers["nokey"] = {"base_url": "https://nokey.example/v1"}
    _, service = make_service(providers, chatrepl_home)
    results = {r.provider: r for r in service.discover_all()}
    assert [results[p].ok for p in ("p0", "p1", "p2", "p3", "nokey")] == [
        False, False, True, True, False]
    assert results["nokey"].skipped
    assert results["p2"].models == ("fake-chat",)


def test_discover_all_with_unknown_provider_name(chatrepl_home: Path) -> None:
    from chatrepl.errors import UnknownProviderError

    _, service = make_service({"a": {"base_url": "https://a.example/v1"}}, chatrepl_home)
    with pytest.raises(UnknownProviderError):
        service.discover_all(["nope"])


# -- validation ------------------------------------------------------------------------------

def test_validate_marks_rejected_model_invalid(fake_server: FakeOpenAIServer,
                                               chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["good-1", "good-2", "gone-1"]
    fake_server.behavior.unknown_models = {"gone-1"}
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home,
                                    concurrency=2)
    (result,) = service.discover_all(validate=True)
    assert result.ok
    assert result.models == ("good-1", "good-2")
    assert "gone-1" in result.invalid
    assert list(manager["fake"].invalid_models) == ["gone-1"]
    chats = [r for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert sorted(r.body["model"] for r in chats) == ["gone-1", "good-1", "good-2"]
    assert all(r.body["max_tokens"] == 1 for r in chats)
    saved = json.loads(state_file(chatrepl_home).read_text(encoding="utf-8"))
    assert saved["providers"]["fake"]["invalid_models"] == ["gone-1"]

    # The rejected id stays invalid on later discoveries while the provider lists it.
    again = service.discover_models("fake", force_refresh=True)
    assert "gone-1" in again.invalid and "gone-1" not in again.models


def test_validate_leaves_models_alone_on_auth_errors(fake_server: FakeOpenAIServer,
                                                     chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["a", "b"]
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert service.discover_models("fake").ok
    fake_server.behavior.chat_status = 401
    assert service.validate_models("fake") == {"a": "unknown", "b": "unknown"}
    assert manager["fake"].usable_models() == {"a": "a", "b": "b"}


def test_validate_404_not_naming_the_model_is_unknown(fake_server: FakeOpenAIServer,
                                                      chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["alpha-model", "beta-model"]
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert service.discover_models("fake").ok
    fake_server.behavior.chat_status = 404  # e.g. a proxy without /chat/completions
    fake_server.behavior.unknown_models = {"beta-model"}
    assert service.validate_models("fake") == {"alpha-model": "unknown", "beta-model": "invalid"}
    assert manager["fake"].usable_models() == {"alpha-model": "alpha-model"}


def test_validate_skips_models_the_user_listed(fake_server: FakeOpenAIServer,
                                               chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["listed", "found"]
    _, service = make_service({"fake": {"base_url": fake_server.url,
                                        "valid_models": ["listed"]}}, chatrepl_home)
    service.discover_all(validate=True)
    probed = [r.body["model"] for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert probed == ["found"]


def test_two_processes_discovering_keep_each_others_providers(
        servers: list[FakeOpenAIServer], chatrepl_home: Path) -> None:
    """Each run holds the state it loaded at start; a save merges into the file as it is now."""
    providers = {f"p{i}": {"base_url": s.url} for i, s in enumerate(servers[:2])}
    servers[0].behavior.models, servers[1].behavior.models = ["old-0"], ["old-1"]
    _, earlier = make_service(providers, chatrepl_home, clock=lambda: 1000.0)
    assert all(r.ok for r in earlier.discover_all())

    _, first = make_service(providers, chatrepl_home, clock=lambda: 2000.0)
    _, second = make_service(providers, chatrepl_home, clock=lambda: 3000.0)
    servers[0].behavior.models, servers[1].behavior.models = ["new-0"], ["new-1"]
    assert second.discover_models("p1", force_refresh=True).ok  # saves p1 new, p0 as loaded
    assert first.discover_models("p0", force_refresh=True).ok  # saves p0 new, p1 as loaded

    saved = DiscoveredStore(state_file(chatrepl_home)).load()
    assert {pid: found.chat_models for pid, found in saved.items()} == {
        "p0": ("new-0",), "p1": ("new-1",)}
    assert (saved["p0"].discovered_at, saved["p1"].discovered_at) == (2000.0, 3000.0)


def test_a_later_discovery_on_disk_is_not_replaced_by_an_older_one(
        fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    providers = {"fake": {"base_url": fake_server.url}}
    _, older = make_service(providers, chatrepl_home, clock=lambda: 1000.0)
    _, newer = make_service(providers, chatrepl_home, clock=lambda: 2000.0)
    fake_server.behavior.models = ["newer-model"]
    assert newer.discover_models("fake").ok
    fake_server.behavior.models = ["older-model"]
    assert older.discover_models("fake").ok

    saved = DiscoveredStore(state_file(chatrepl_home)).load()
    assert saved["fake"].chat_models == ("newer-model",)
