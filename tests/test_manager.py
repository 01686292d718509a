"""ProviderManager: mapping protocol, the cached snapshot, name resolution, swaps under readers."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping

import pytest

from chatrepl import ProviderConfig, ProviderManager
from chatrepl.errors import AmbiguousModelError, UnknownModelError, UnknownProviderError
from chatrepl.manager import ModelRecord

PROVIDERS: dict[str, dict[str, object]] = {
    "openai": {"name": "OpenAI", "base_api_url": "https://api.openai.com/v1",
               "valid_models": {"gpt-4o": "4o", "gpt-4o-mini": "4o-mini"}},
    "together": {"base_url": "https://api.together.xyz/v1",
                 "valid_models": {"Qwen/Qwen2.5-72B-Instruct": "qwen72",
                                  "meta-llama/Llama-3.3-70B-Instruct-Turbo": "llama70"}},
    "openrouter": {"base_api_url": "https://openrouter.ai/api/v1",
                   "valid_models": {"meta-llama/llama-3.3-70b-instruct": "llama70",
                                    "deepseek/deepseek-chat": "deepseek/deepseek-chat"}},
}


@pytest.fixture
def manager() -> ProviderManager:
    return ProviderManager(PROVIDERS)


# -- mapping protocol ------------------------------------------------------------------------

def test_mapping_protocol(manager: ProviderManager) -> None:
    assert isinstance(manager, Mapping)
    assert list(manager.keys()) == ["openai", "together", "openrouter"]
    assert len(manager) == 3
    assert "openai" in manager and "anthropic" not in manager
    assert manager["openai"].name == "OpenAI"
    assert manager.get("openai") is manager["openai"]
    assert manager.get("anthropic") is None
    assert [pid for pid, _ in manager.items()] == ["openai", "together", "openrouter"]
    assert all(isinstance(p, ProviderConfig) for p in manager.values())
    with pytest.raises(KeyError):
        manager["anthropic"]


def test_is_read_only(manager: ProviderManager) -> None:
    with pytest.raises(TypeError):
        manager["x"] = manager["openai"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del manager["openai"]  # type: ignore[attr-defined]


def test_accepts_dicts_or_provider_configs() -> None:
    config = ProviderConfig(base_api_url="https://a.example/v1", valid_models={"m": "s"})
    manager = ProviderManager({"a": config, "b": {"base_url": "https://b.example/v1"}})
    assert manager["a"].id == "a"  # the id comes from the mapping key
    assert manager["a"].usable_models() == {"m": "s"}
    assert manager["b"].id == "b"
    assert manager["b"].base_api_url == "https://b.example/v1"


def test_provider_named_is_case_insensitive(manager: ProviderManager) -> None:
    assert manager.provider_named("OpenRouter").id == "openrouter"
    with pytest.raises(UnknownProviderError, match="openai"):
        manager.provider_named("anthropic")


# -- the model snapshot ----------------------------------------------------------------------

def test_valid_scoped_models_format(manager: ProviderManager) -> None:
    assert manager.valid_scoped_models() == [
        "openai/gpt-4o (4o)",
        "openai/gpt-4o-mini (4o-mini)",
        "together/Qwen/Qwen2.5-72B-Instruct (qwen72)",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo (llama70)",
        "openrouter/meta-llama/llama-3.3-70b-instruct (llama70)",
        "openrouter/deepseek/deepseek-chat (deepseek/deepseek-chat)",
    ]


def test_model_records_are_typed(manager: ProviderManager) -> None:
    records = manager.model_records()
    assert all(isinstance(r, ModelRecord) for r in records)
    first = records[2]
    assert (first.provider, first.long, first.short) == ("together", "Qwen/Qwen2.5-72B-Instruct",
                                                         "qwen72")
    assert first.scoped == "together/Qwen/Qwen2.5-72B-Instruct"
    assert [r.display for r in records] == manager.valid_scoped_models()
    with pytest.raises(AttributeError):
        first.short = "other"  # type: ignore[misc]


def test_snapshot_is_cached_until_replaced(manager: ProviderManager) -> None:
    snapshot = manager.snapshot
    first = manager.valid_scoped_models()
    second = manager.valid_scoped_models()
    assert first == second
    assert manager.snapshot is snapshot  # not rebuilt by reading
    assert manager.model_records() is manager.model_records()
    first.append("caller/mutation (x)")  # a caller's copy cannot change the cache
    assert manager.valid_scoped_models() == second

    new = manager._replace_providers({"openai": manager["openai"].merge_valid_models(["o3"])})
    assert manager.snapshot is new is not snapshot
    assert new.generation == snapshot.generation + 1
    assert "openai/o3 (o3)" in manager.valid_scoped_models()
    assert "openai/o3 (o3)" not in second
    # Other providers are kept as they were.
    assert manager["together"] is not None
    assert len(manager.valid_scoped_models()) == len(second) + 1


def test_display_strings_are_made_on_first_use_only(manager: ProviderManager,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapping snapshots (discovery does it often) makes no display strings; the first
    `valid_scoped_models()` makes them once per snapshot."""
    made: list[str] = []
    plain = ModelRecord.display

    def counted(record: ModelRecord) -> str:
        made.append(record.scoped)
        return plain.fget(record)  # type: ignore[attr-defined, no-any-return]

    monkeypatch.setattr(ModelRecord, "display", property(counted))
    for extra in ("o3", "o4"):
        manager._replace_providers({"openai": manager["openai"].merge_valid_models([extra])})
    assert made == []
    shown = manager.valid_scoped_models()
    assert len(made) == len(shown) == 8 and "openai/o4 (o4)" in shown
    assert manager.valid_scoped_models() == shown and len(made) == 8


def test_replace_providers_can_add_a_provider(manager: ProviderManager) -> None:
    manager._replace_providers({"local": {"base_url": "http://localhost:8080/v1",
                                         "valid_models": ["llama"]}})
    assert "local" in manager
    assert manager.valid_scoped_models()[-1] == "local/llama (llama)"


def test_empty_manager() -> None:
    manager = ProviderManager({})
    assert manager.valid_scoped_models() == []
    assert manager.model_records() == ()
    with pytest.raises(UnknownModelError):
        manager.resolve("gpt-4o")


# -- resolve ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "provider", "long"), [
    ("openai/gpt-4o", "openai", "gpt-4o"),
    ("openai/4o-mini", "openai", "gpt-4o-mini"),
    ("gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("4o", "openai", "gpt-4o"),
    ("OpenAI/gpt-4o", "openai", "gpt-4o"),
    ("TOGETHER/qwen72", "together", "Qwen/Qwen2.5-72B-Instruct"),
    ("together/Qwen/Qwen2.5-72B-Instruct", "together", "Qwen/Qwen2.5-72B-Instruct"),
    ("openrouter/meta-llama/llama-3.3-70b-instruct", "openrouter",
     "meta-llama/llama-3.3-70b-instruct"),
    ("Qwen/Qwen2.5-72B-Instruct", "together", "Qwen/Qwen2.5-72B-Instruct"),
    ("meta-llama/llama-3.3-70b-instruct", "openrouter", "meta-llama/llama-3.3-70b-instruct"),
    # An id whose first part is not a provider, given bare.
    ("deepseek/deepseek-chat", "openrouter", "deepseek/deepseek-chat"),
    ("together/llama70", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("  openai/gpt-4o  ", "openai", "gpt-4o"),
])
def test_resolve(manager: ProviderManager, text: str, provider: str, long: str) -> None:
    config, name = manager.resolve(text)
    assert (config.id, name) == (provider, long)
    assert config is manager[provider]


def test_resolve_ambiguous_lists_both(manager: ProviderManager) -> None:
    with pytest.raises(AmbiguousModelError) as info:
        manager.resolve("llama70")
    assert set(info.value.candidates) == {"together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                                          "openrouter/meta-llama/llama-3.3-70b-instruct"}
    assert "together/meta-llama/Llama-3.3-70B-Instruct-Turbo" in str(info.value)
    assert "openrouter/meta-llama/llama-3.3-70b-instruct" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_resolve_unknown_suggests_up_to_three(manager: ProviderManager) -> None:
    with pytest.raises(UnknownModelError) as info:
        manager.resolve("gpt-4")
    suggestions = info.value.suggestions
    assert len(suggestions) in (1, 2, 3)
    assert set(suggestions) <= {"openai/gpt-4o", "openai/gpt-4o-mini"}
    assert "openai/gpt-4o" in str(info.value)


def test_resolve_unknown_never_more_than_three() -> None:
    many = {"p": {"base_url": "https://p/v1",
                  "valid_models": [f"llama-3.{i}-8b" for i in range(8)]}}
    with pytest.raises(UnknownModelError) as info:
        ProviderManager(many).resolve("llama-3-8b")
    assert len(info.value.suggestions) in (1, 2, 3)
    assert all(s.startswith("p/llama-3.") for s in info.value.suggestions)


def test_resolve_unknown_without_close_names(manager: ProviderManager) -> None:
    with pytest.raises(UnknownModelError) as info:
        manager.resolve("zzzzzz")
    assert info.value.suggestions == ()


def test_resolve_known_provider_unlisted_model_is_taken_as_given(manager: ProviderManager) -> None:
    provider, long = manager.resolve("openai/gpt-4o-maxi")
    assert (provider.id, long) == ("openai", "gpt-4o-maxi")  # the provider judges it


def test_resolve_unknown_partial_name_suggests(manager: ProviderManager) -> None:
    with pytest.raises(UnknownModelError) as info:
        manager.resolve("gpt-4o-maxi")
    assert "openai/gpt-4o-mini" in info.value.suggestions


def test_resolve_sees_replaced_providers(manager: ProviderManager) -> None:
    with pytest.raises(UnknownModelError):
        manager.resolve("o3")
    manager._replace_providers({"openai": manager["openai"].merge_valid_models(["o3"])})
    assert manager.resolve("o3")[1] == "o3"


# -- snapshot swaps while other threads read -------------------------------------------------

def _generation_providers(generation: int) -> dict[str, ProviderConfig]:
    """Providers whose every model names the generation, and whose size depends on it."""
    count = 5 + generation % 7
    return {
        f"p{i}": ProviderConfig(base_api_url=f"https://p{i}.example/v1",
                                valid_models={f"gen{generation}-m{j}": f"g{generation}"
                                              for j in range(count)})
        for i in range(3)
    }


def test_readers_see_whole_snapshots_while_swapping() -> None:
    manager = ProviderManager(_generation_providers(0))
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[set[int]] = []
    reads = [0] * 4

    def check_display(index: int) -> set[int]:
        names = manager.valid_scoped_models()
        gens = {int(n.split("/gen", 1)[1].split("-", 1)[0]) for n in names}
        assert len(gens) == 1, f"mixed generations {gens}"
        (gen,) = gens
        assert len(names) == 3 * (5 + gen % 7)
        return gens

    def check_records(index: int) -> set[int]:
        records = manager.model_records()
        gens = {int(r.short[1:]) for r in records}
        assert len(gens) == 1, f"mixed generations {gens}"
        (gen,) = gens
        assert len(records) == 3 * (5 + gen % 7)
        assert all(r.long.startswith(f"gen{gen}-") for r in records)
        return gens

    def reader(index: int) -> None:
        check = check_display if index % 2 == 0 else check_records
        mine: set[int] = set()
        try:
            while not stop.is_set():
                mine |= check(index)
                reads[index] += 1
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            seen.append(mine)

    threads = [threading.Thread(target=reader, args=(i,), name=f"reader-{i}") for i in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so a torn read would show
    for thread in threads:
        thread.start()
    try:
        for generation in range(1, 400):
            manager._replace_providers(_generation_providers(generation))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert all(count > 0 for count in reads)
    assert manager.snapshot.generation == 399
    check_display(0)
    check_records(1)
    assert {int(n.split("/gen", 1)[1].split("-", 1)[0])
            for n in manager.valid_scoped_models()} == {399}


def test_concurrent_replacements_keep_every_update() -> None:
    manager = ProviderManager({f"p{i}": {"base_url": f"https://p{i}/v1"} for i in range(8)})
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait(timeout=10)
        for round_ in range(50):
            current = manager[f"p{i}"]
            manager._replace_providers({f"p{i}": current.merge_valid_models([f"m{round_}"])})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    for i in range(8):
        assert len(manager[f"p{i}"].valid_models) == 50
    assert len(manager.valid_scoped_models()) == 8 * 50
