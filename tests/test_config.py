"""Configuration: the older providers file, the new fields, key resolution and one-line errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from chatrepl import ProviderConfig, load_config
from chatrepl.config import LOCAL_PLACEHOLDER_KEY, Config
from chatrepl.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = FIXTURES / "legacy-providers.yaml"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return str(info.value)


# -- the older providers file ----------------------------------------------------------------

def test_legacy_file_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    shutil.copyfile(LEGACY, path)
    before = digest(path)

    config = load_config(path, {})

    assert digest(path) == before == digest(LEGACY)
    assert list(config.providers) == ["deepseek", "openai", "hyperbolic"]
    deepseek = config.providers["deepseek"]
    assert deepseek.id == "deepseek"
    assert deepseek.name == "DeepSeek"
    assert deepseek.base_api_url == "https://api.deepseek.com/v1"
    assert deepseek.usable_models() == {"deepseek-chat": "dschat", "deepseek-reasoner": "r1"}
    assert config.providers["openai"].usable_models() == {
        "gpt-4o-2024-08-06": "4o", "gpt-4o-mini-2024-07-18": "4o-mini"}
    for provider in config.providers.values():
        assert list(provider.invalid_models) == []
    assert config.source == path


def test_legacy_inline_keys_are_used(tmp_path: Path) -> None:
    config = load_config(LEGACY, {})
    assert config.providers["deepseek"].resolve_api_key({}) == "sk-legacy-deepseek-000"
    assert config.providers["openai"].key_status({}) == "set"


def test_legacy_empty_key_falls_back_to_provider_variable() -> None:
    hyperbolic = load_config(LEGACY, {}).providers["hyperbolic"]
    assert hyperbolic.resolve_api_key({}) is None
    assert hyperbolic.key_status({}) == "missing"
    assert "HYPERBOLIC_API_KEY" in hyperbolic.missing_key_reason()
    env = {"HYPERBOLIC_API_KEY": "hyp-from-env"}
    assert hyperbolic.resolve_api_key(env) == "hyp-from-env"
    assert hyperbolic.key_status(env) == "set"


def test_legacy_model_ids_with_slashes() -> None:
    hyperbolic = load_config(LEGACY, {}).providers["hyperbolic"]
    assert hyperbolic.usable_models() == {"Qwen/QwQ-32B-Preview": "qdub",
                                          "Qwen/Qwen2.5-72B-Instruct": "qinstruct"}
    assert hyperbolic.exact_model("qinstruct") == "Qwen/Qwen2.5-72B-Instruct"
    assert hyperbolic.exact_model("Qwen/QwQ-32B-Preview") == "Qwen/QwQ-32B-Preview"


def test_loading_never_writes_the_file(write_config) -> None:
    path = write_config("providers:\n  openai:\n    base_api_url: https://api.openai.com/v1\n"
                        "    api_key: ${OPENAI_API_KEY}\n")
    before, mtime = digest(path), path.stat().st_mtime_ns
    load_config(path, {"OPENAI_API_KEY": "sk-secret-value-1234"})
    assert digest(path) == before
    assert path.stat().st_mtime_ns == mtime
    assert "sk-secret-value-1234" not in path.read_text()


# -- optional and alternative fields ---------------------------------------------------------

def test_invalid_models_present_or_absent(write_config) -> None:
    path = write_config(
        "providers:\n"
        "  a:\n    base_api_url: https://a.example/v1\n    valid_models: {m1: one}\n"
        "  b:\n    base_api_url: https://b.example/v1\n    valid_models: {m2: two}\n"
        "    invalid_models: [text-embedding-3-small, whisper-1]\n"
        "  c:\n    base_api_url: https://c.example/v1\n    invalid_models:\n"
    )
    providers = load_config(path, {}).providers
    assert list(providers["a"].invalid_models) == []
    assert list(providers["b"].invalid_models) == ["text-embedding-3-small", "whisper-1"]
    assert list(providers["c"].invalid_models) == []


def test_valid_models_as_map_and_as_list(write_config) -> None:
    path = write_config(
        "providers:\n"
        "  mapped:\n    base_api_url: https://a.example/v1\n"
        "    valid_models:\n      gpt-4o: 4o\n      o1-preview:\n"
        "  listed:\n    base_api_url: https://b.example/v1\n"
        "    valid_models: [llama-3.1-8b, meta-llama/Llama-3.3-70B]\n"
    )
    providers = load_config(path, {}).providers
    # A map entry without a short name keeps the long name as short name.
    assert providers["mapped"].usable_models() == {"gpt-4o": "4o", "o1-preview": "o1-preview"}
    assert providers["listed"].usable_models() == {
        "llama-3.1-8b": "llama-3.1-8b", "meta-llama/Llama-3.3-70B": "meta-llama/Llama-3.3-70B"}


def test_provider_key_variable_fallback(write_config) -> None:
    path = write_config("providers:\n  deepseek:\n    base_api_url: https://api.deepseek.com/v1\n"
                        "  my-host.ai:\n    base_api_url: https://my-host.ai/v1\n")
    providers = load_config(path, {}).providers
    assert providers["deepseek"].key_variables() == ("DEEPSEEK_API_KEY",)
    assert providers["deepseek"].resolve_api_key({"DEEPSEEK_API_KEY": "ds-1"}) == "ds-1"
    assert providers["deepseek"].resolve_api_key({"OPENAI_API_KEY": "other"}) is None
    assert providers["my-host.ai"].key_variables() == ("MY_HOST_AI_API_KEY",)
    assert providers["my-host.ai"].resolve_api_key({"MY_HOST_AI_API_KEY": "mh"}) == "mh"


def test_interpolation_in_api_key_and_base_url(write_config) -> None:
    path = write_config(
        "providers:\n  openai:\n"
        "    base_api_url: https://${OPENAI_HOST}/v1\n"
        "    api_key: ${MY_OPENAI_KEY}\n"
    )
    env = {"OPENAI_HOST": "gateway.example.com", "MY_OPENAI_KEY": "sk-interpolated-9999"}
    openai = load_config(path, env).providers["openai"]
    assert openai.base_api_url == "https://gateway.example.com/v1"
    assert openai.resolve_api_key(env) == "sk-interpolated-9999"
    # The key is expanded when used, never stored expanded in the loaded config.
    assert "sk-interpolated-9999" not in openai.model_dump_json()
    # With the variable unset, the provider's own variable is tried next.
    assert openai.resolve_api_key({"OPENAI_API_KEY": "fallback"}) == "fallback"
    assert openai.resolve_api_key({}) is None


def test_unset_variable_in_base_url_is_an_error(write_config) -> None:
    path = write_config("providers:\n  openai:\n    base_api_url: https://${NOPE_HOST}/v1\n")
    message = config_error(path)
    assert message.startswith(f"{path}:3: providers.openai.base_api_url: ")
    assert "NOPE_HOST" in message


def test_api_key_env(write_config) -> None:
    path = write_config("providers:\n  groq:\n    base_api_url: https://api.groq.com/openai/v1\n"
                        "    api_key_env: MY_GROQ\n")
    groq = load_config(path, {}).providers["groq"]
    assert groq.key_variables() == ("MY_GROQ", "GROQ_API_KEY")
    assert groq.resolve_api_key({"MY_GROQ": "g1", "GROQ_API_KEY": "g2"}) == "g1"
    assert groq.resolve_api_key({"GROQ_API_KEY": "g2"}) == "g2"
    assert groq.key_status({}) == "missing"


def test_base_url_alias(write_config) -> None:
    path = write_config("providers:\n  x:\n    base_url: https://x.example/v1/\n")
    assert load_config(path, {}).providers["x"].base_api_url == "https://x.example/v1"


@pytest.mark.parametrize("url", ["http://localhost:11434/v1", "http://127.0.0.1:8080/v1",
                                 "http://[::1]:1234/v1"])
def test_localhost_provider_needs_no_key(write_config, url: str) -> None:
    path = write_config(f"providers:\n  local:\n    base_api_url: {url}\n")
    local = load_config(path, {}).providers["local"]
    assert local.is_local
    assert local.key_status({}) == "not needed"
    assert local.resolve_api_key({}) == LOCAL_PLACEHOLDER_KEY
    # A key given anyway is used.
    assert local.resolve_api_key({"LOCAL_API_KEY": "real"}) == "real"
    assert local.key_status({"LOCAL_API_KEY": "real"}) == "set"


def test_remote_provider_without_key_is_missing(write_config) -> None:
    path = write_config("providers:\n  remote:\n    base_api_url: https://localhost.example.com/v1\n")
    remote = load_config(path, {}).providers["remote"]
    assert not remote.is_local
    assert remote.key_status({}) == "missing"


def test_full_example_settings(write_config) -> None:
    path = write_config(
        "default_model: openai/gpt-4o-mini\n"
        "system_prompt: You are a helpful assistant.\n"
        "discovery: {on_startup: false, ttl_seconds: 60, timeout_seconds: 3, concurrency: 4}\n"
        "providers:\n  openai:\n    name: OpenAI\n    base_api_url: https://api.openai.com/v1\n"
        "    valid_models: {gpt-4o-mini: 4o-mini}\n    invalid_models: []\n"
    )
    config = load_config(path, {})
    assert config.default_model == "openai/gpt-4o-mini"
    assert config.system_prompt == "You are a helpful assistant."
    assert (config.discovery.on_startup, config.discovery.ttl_seconds,
            config.discovery.timeout_seconds, config.discovery.concurrency) == (False, 60, 3, 4)


def test_missing_file_is_empty_unless_required(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert load_config(path, {}).providers == {}
    assert not path.exists()
    message = config_error_required(path)
    assert message.startswith(f"{path}: ")


def config_error_required(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, must_exist=True)
    return str(info.value)


# -- errors: one line naming file, line and field --------------------------------------------

def test_invalid_yaml(write_config) -> None:
    path = write_config("providers:\n  openai:\n    name: [unclosed\n    base_api_url: x\n")
    before = digest(path)
    message = config_error(path)
    assert message.startswith(f"{path}:")
    line = message[len(str(path)) + 1:].split(":", 1)[0]
    assert line.isdigit() and 3 <= int(line) <= 5
    assert "invalid YAML" in message
    assert "\n" not in message
    assert digest(path) == before


def test_wrong_type(write_config) -> None:
    path = write_config("providers:\n  openai:\n    base_api_url: https://api.openai.com/v1\n"
                        "    valid_models: 42\n")
    message = config_error(path)
    assert message.startswith(f"{path}:4: providers.openai.valid_models: ")


def test_wrong_type_in_settings(write_config) -> None:
    path = write_config("discovery:\n  ttl_seconds: 300\n  concurrency: lots\n")
    assert config_error(path).startswith(f"{path}:3: discovery.concurrency: ")


def test_unknown_key_with_did_you_mean(write_config) -> None:
    path = write_config("providers:\n  openai:\n    name: OpenAI\n"
                        "    base_urll: https://api.openai.com/v1\n")
    message = config_error(path)
    assert message.startswith(f"{path}:4: providers.openai.base_urll: unknown key")
    assert "did you mean 'base_url'" in message


def test_unknown_top_level_key(write_config) -> None:
    path = write_config("default_model: x\nprovider:\n  a: {}\n")
    message = config_error(path)
    assert message.startswith(f"{path}:2: provider: unknown key")
    assert "did you mean 'providers'" in message


def test_base_url_without_scheme(write_config) -> None:
    path = write_config(
        "# my providers\n" + "\n" * 9
        + "providers:\n  openai:\n    base_api_url: api.openai.com/v1\n"
    )
    message = config_error(path)
    assert message.startswith(f"{path}:13: providers.openai.base_api_url: ")
    assert "api.openai.com/v1" in message and "https://" in message


def test_missing_base_url_names_the_field(write_config) -> None:
    path = write_config("providers:\n  myservice:\n    name: My service\n")
    message = config_error(path)
    assert message.startswith(f"{path}:2: providers.myservice.base_api_url: is required")


def test_duplicate_key(write_config) -> None:
    path = write_config("providers:\n  a:\n    base_api_url: https://a/v1\n"
                        "  a:\n    base_api_url: https://b/v1\n")
    message = config_error(path)
    assert message.startswith(f"{path}:4: duplicate key 'a'")


def test_provider_name_with_slash_is_refused(write_config) -> None:
    path = write_config("providers:\n  a/b:\n    base_api_url: https://a/v1\n")
    message = config_error(path)
    assert message.startswith(f"{path}:")
    assert "a/b" in message


def test_top_level_not_a_map(write_config) -> None:
    path = write_config("- just\n- a list\n")
    assert config_error(path).startswith(f"{path}:1: ")


# -- ProviderConfig helpers ------------------------------------------------------------------

def provider(**models: str) -> ProviderConfig:
    return ProviderConfig(id="p", base_api_url="https://p.example/v1", valid_models=models)


def test_usable_models_leave_out_invalid_ids_and_are_read_only() -> None:
    for invalid in ([], ["e"]):
        config = ProviderConfig(id="p", base_api_url="https://p/v1",
                                valid_models={"a": "b", "e": "e"}, invalid_models=invalid)
        usable = config.usable_models()
        assert usable == ({"a": "b"} if invalid else {"a": "b", "e": "e"})
        with pytest.raises(TypeError):
            usable["x"] = "y"  # type: ignore[index]
        assert config.valid_models == {"a": "b", "e": "e"}


def test_exact_model_never_guesses_a_substring() -> None:
    """The one per-provider lookup, the same one `ProviderManager.resolve` uses."""
    config = provider(**{"gpt-4o": "4o", "gpt-4o-mini": "mini", "o1": "o1"})
    assert config.exact_model("gpt-4o") == "gpt-4o"  # also a substring of gpt-4o-mini
    assert config.exact_model("mini") == "gpt-4o-mini"  # exact short name
    assert config.exact_model("GPT-4O-MINI") == "gpt-4o-mini"
    assert config.exact_model("4o-mi") is None  # a substring is not a name
    assert not hasattr(config, "find_model")
    assert config.exact_model("claude") is None


def test_merge_valid_models_keeps_short_names() -> None:
    config = provider(**{"gpt-4o": "4o"})
    merged = config.merge_valid_models(["gpt-4o", "gpt-4.1", "o3-mini"])
    assert merged.usable_models() == {"gpt-4o": "4o", "gpt-4.1": "gpt-4.1", "o3-mini": "o3-mini"}
    assert config.usable_models() == {"gpt-4o": "4o"}  # the original is not changed
    assert merged.id == "p"


def test_provider_config_is_frozen_and_strict() -> None:
    config = provider(a="b")
    with pytest.raises(ValueError):
        config.name = "changed"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ProviderConfig.model_validate({"base_api_url": "https://x/v1", "api_kee": "k"})


def test_empty_config_object() -> None:
    config = Config()
    assert config.providers == {}
    assert config.discovery.ttl_seconds == 300


def test_a_key_with_a_newline_is_reported_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('discovery:\n  "\\n": null\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:2: discovery.'\\n': unknown key")
