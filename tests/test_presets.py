"""Built-in presets: available when their key variable is set; config entries win."""

from __future__ import annotations

import pytest

from chatrepl.catalogsource import load_bundled_data
from chatrepl.config import ProviderConfig
from chatrepl.presets import PRESETS, merge_presets, preset_providers

REQUIRED = ("openai", "openrouter", "groq", "deepseek", "mistral", "together", "fireworks", "xai",
            "gemini", "cerebras", "deepinfra", "perplexity")


def test_every_required_service_has_a_preset() -> None:
    assert set(REQUIRED) <= set(PRESETS)
    for preset in PRESETS.values():
        assert preset.base_url.startswith("https://")
        assert preset.key_variable.endswith(("_API_KEY", "_TOKEN"))
        assert preset.name
    assert PRESETS["gemini"].base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert PRESETS["together"].catalog_id == "togetherai"


def test_preset_catalog_ids_exist_in_the_bundled_catalog() -> None:
    known = set(load_bundled_data())
    assert {p.id: p.catalog_id for p in PRESETS.values() if p.catalog_id not in known} == {}


def test_nothing_without_keys() -> None:
    assert preset_providers({}) == {}
    assert preset_providers({"OPENAI_API_KEY": "", "GROQ_API_KEY": "   "}) == {}


def test_a_set_key_variable_makes_the_preset_available() -> None:
    env = {"OPENAI_API_KEY": "sk-test", "GROQ_API_KEY": "gsk-test", "UNRELATED": "x"}
    found = preset_providers(env)
    assert list(found) == ["openai", "groq"]
    openai = found["openai"]
    assert isinstance(openai, ProviderConfig)
    assert (openai.id, openai.base_api_url, openai.api_key_env) == (
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY")
    assert openai.api_key is None  # the key is read from the environment, never copied
    assert openai.resolve_api_key(env) == "sk-test"
    assert found["groq"].catalog_id == "groq"


@pytest.mark.parametrize("variable", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_alternative_key_variables(variable: str) -> None:
    env = {variable: "g-key"}
    gemini = preset_providers(env)["gemini"]
    assert gemini.api_key_env == variable
    assert gemini.resolve_api_key(env) == "g-key"
    assert gemini.catalog_id == "google"


def test_perplexity_names_its_models() -> None:
    perplexity = preset_providers({"PERPLEXITY_API_KEY": "p"})["perplexity"]
    assert "sonar" in perplexity.valid_models


def test_config_entries_win_over_presets() -> None:
    mine = ProviderConfig(id="openai", base_api_url="https://proxy.example.com/v1", api_key_env="MY_KEY")
    local = ProviderConfig(id="local", base_api_url="http://127.0.0.1:8080/v1")
    env = {"OPENAI_API_KEY": "sk", "XAI_API_KEY": "xk"}
    merged = merge_presets({"local": local, "openai": mine}, env)
    assert list(merged) == ["local", "openai", "xai"]
    assert merged["openai"] is mine
    assert merged["xai"].base_api_url == "https://api.x.ai/v1"


def test_merge_without_keys_is_the_config() -> None:
    local = ProviderConfig(id="local", base_api_url="http://127.0.0.1:8080/v1")
    assert merge_presets({"local": local}, {}) == {"local": local}


# Added from models.dev: providers it lists as OpenAI-compatible, with their `api` and `env`.
FROM_MODELS_DEV = ("alibaba", "moonshot", "zai", "nvidia", "nebius", "siliconflow", "novita",
                   "baseten", "chutes")


def test_models_dev_presets_match_the_bundled_data() -> None:
    data = load_bundled_data()
    for pid in FROM_MODELS_DEV:
        preset = PRESETS[pid]
        entry = data[preset.catalog_id]
        assert entry["npm"] == "@ai-sdk/openai-compatible", pid
        assert preset.base_url == entry["api"].rstrip("/"), pid
        assert preset.key_variables == tuple(entry["env"]), pid


def test_anthropic_preset_uses_its_openai_compatible_endpoint() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test"}
    anthropic = preset_providers(env)["anthropic"]
    assert anthropic.base_api_url == "https://api.anthropic.com/v1"
    assert anthropic.resolve_api_key(env) == "sk-ant-test"
    entry = load_bundled_data()["anthropic"]
    assert entry["env"] == ["ANTHROPIC_API_KEY"]
    assert set(anthropic.valid_models) <= set(entry["models"])  # offered models are real ids
    assert anthropic.valid_models


def test_a_config_entry_named_anthropic_inherits_the_preset(tmp_path) -> None:
    from chatrepl.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("providers:\n  anthropic: {}\n", encoding="utf-8")
    provider = load_config(path, {"ANTHROPIC_API_KEY": "k"}).providers["anthropic"]
    assert provider.base_api_url == "https://api.anthropic.com/v1"
    assert provider.api_key_env == "ANTHROPIC_API_KEY" and provider.catalog_id == "anthropic"
