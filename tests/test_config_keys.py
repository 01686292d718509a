"""Which key a provider sends and what is said about it; presets by name; large legacy files."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from legacyfile import legacy_providers_yaml

from chatrepl.cli import main
from chatrepl.config import load_config


def run(argv: list[str], home: Path, extra_env: Mapping[str, str] | None = None,
        stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    env = {"CHATREPL_HOME": str(home), **(extra_env or {})}
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdin=stdin or io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def providers_json(home: Path, env: Mapping[str, str] | None = None) -> dict[str, dict]:
    code, out, err = run(["providers", "--json"], home, env)
    assert code == 0, err
    return {row["provider"]: row for row in json.loads(out)}


# -- a configured key that is not set is missing, even on localhost --------------------------

@pytest.mark.parametrize("key_line,variable", [("api_key: ${BAR_KEY}", "BAR_KEY"),
                                               ("api_key_env: SOME_VAR", "SOME_VAR")])
def test_a_configured_key_that_is_unset_is_missing_on_localhost(write_config, chatrepl_home: Path,
                                                                fake_server, key_line: str,
                                                                variable: str) -> None:
    write_config(f"providers:\n  local:\n    base_url: {fake_server.url}\n    {key_line}\n"
                 "    valid_models: [fake-chat]\n")
    local = load_config(chatrepl_home / "config.yaml", {}).providers["local"]
    assert local.resolve_api_key({}) is None
    assert local.key_status({}) == "missing"
    assert providers_json(chatrepl_home)["local"]["key"] == "missing"
    code, out, _err = run(["providers"], chatrepl_home)
    assert code == 0 and f"key missing ({variable} or LOCAL_API_KEY)" in out
    code, _out, err = run(["-m", "local/fake-chat", "hi"], chatrepl_home)
    assert code != 0 and variable in err
    assert fake_server.count("/chat/completions") == 0  # no placeholder sent instead
    assert local.key_status({variable: "bar-secret"}) == "set"


def test_no_key_configured_on_localhost_is_not_needed(write_config, chatrepl_home: Path) -> None:
    write_config("providers:\n  local:\n    base_url: http://127.0.0.1:9/v1\n")
    assert providers_json(chatrepl_home)["local"]["key"] == "not needed"


def _401_advice(home: Path, write_config, server, key_line: str,
                env: Mapping[str, str]) -> str:
    server.behavior.chat_status = 401
    write_config(f"providers:\n  e401:\n    base_url: {server.url}\n    {key_line}\n"
                 "    valid_models: [fake-chat]\n")
    code, _out, err = run(["-m", "e401/fake-chat", "hi"], home, env)
    assert code == 1 and "401" in err
    return err


def test_401_advice_names_the_variable_used(write_config, chatrepl_home: Path, fake_server) -> None:
    err = _401_advice(chatrepl_home, write_config, fake_server, "api_key: ${BAR_KEY}",
                      {"BAR_KEY": "bar-key-value-0000"})
    assert "check BAR_KEY" in err and "E401_API_KEY" not in err
    assert "bar-key-value-0000" not in err


def test_401_advice_for_an_inline_key_names_the_config_entry(write_config, chatrepl_home: Path,
                                                             fake_server) -> None:
    err = _401_advice(chatrepl_home, write_config, fake_server, "api_key: inline-key-value-1234", {})
    assert "check the api_key of provider e401 in the config file" in err
    assert "E401_API_KEY" not in err and "inline-key-value-1234" not in err


# -- a ${VAR} in a base URL is neither printed nor stored ------------------------------------

def test_a_variable_in_the_base_url_stays_hidden(write_config, chatrepl_home: Path,
                                                 fake_server) -> None:
    port = str(fake_server.port)
    write_config("providers:\n  gw:\n    base_url: http://127.0.0.1:${GW_PORT}/v1\n")
    env = {"GW_PORT": port}
    code, out, err = run(["discover", "gw"], chatrepl_home, env)
    assert (code, err) == (0, ""), out
    stored = (chatrepl_home / "state" / "discovered.yaml").read_text(encoding="utf-8")
    assert "127.0.0.1:${GW_PORT}/v1" in stored and f":{port}" not in stored
    row = providers_json(chatrepl_home, env)["gw"]
    assert row["base_url"] == "http://127.0.0.1:${GW_PORT}/v1"
    assert row["models"] == 1  # the stored discovery still applies to this provider
    code, out, _err = run(["providers"], chatrepl_home, env)
    assert "${GW_PORT}" in out and f":{port}" not in out


def test_warns_when_a_key_would_travel_in_clear(write_config, chatrepl_home: Path) -> None:
    write_config("providers:\n  gw:\n    base_url: http://gateway.example.com/v1\n"
                 "    api_key: ${GW_KEY}\n  near:\n    base_url: http://127.0.0.1:9/v1\n"
                 "    api_key: ${GW_KEY}\n")
    code, _out, err = run(["providers"], chatrepl_home, {"GW_KEY": "gw-secret-000000"})
    assert code == 0
    [line] = err.splitlines()
    assert "gw" in line and "unencrypted" in line and "http://gateway.example.com/v1" in line
    assert "gw-secret" not in err
    # No key, no warning.
    assert run(["providers"], chatrepl_home)[2] == ""


def test_warns_when_a_preset_key_goes_to_another_host(write_config, chatrepl_home: Path) -> None:
    write_config("providers:\n  openai:\n    base_url: https://proxy.example.net/v1\n")
    code, _out, err = run(["providers"], chatrepl_home, {"OPENAI_API_KEY": "sk-openai-000000"})
    assert code == 0
    [line] = err.splitlines()
    assert "OPENAI_API_KEY" in line and "https://proxy.example.net/v1" in line
    write_config("providers:\n  openai:\n    base_url: https://api.openai.com/v1/\n")
    assert run(["providers"], chatrepl_home, {"OPENAI_API_KEY": "sk-openai-000000"})[2] == ""


# -- an entry named after a preset inherits it ----------------------------------------------

def test_an_entry_named_after_a_preset_inherits_url_and_key(write_config,
                                                            chatrepl_home: Path) -> None:
    path = write_config("providers:\n  openai:\n    valid_models: [gpt-4o-mini]\n"
                        "  together:\n    valid_models: [meta-llama/Llama-3.3-70B]\n"
                        "    name: My Together\n  groq:\n")
    env = {"OPENAI_API_KEY": "sk-o-1", "TOGETHERAI_API_KEY": "tk-2"}
    providers = load_config(path, env).providers
    openai, together = providers["openai"], providers["together"]
    assert openai.base_api_url == "https://api.openai.com/v1"
    assert openai.resolve_api_key(env) == "sk-o-1" and openai.catalog_id == "openai"
    assert list(openai.valid_models) == ["gpt-4o-mini"]
    assert together.base_api_url == "https://api.together.xyz/v1"
    assert together.resolve_api_key(env) == "tk-2"  # the preset's second variable
    assert together.display_name == "My Together"
    assert providers["groq"].base_api_url == "https://api.groq.com/openai/v1"
    code, out, err = run(["models", "--json"], chatrepl_home, env)
    assert (code, err) == (0, "")
    assert "openai/gpt-4o-mini" in {m["scoped"] for m in json.loads(out)}


# -- large legacy files ----------------------------------------------------------------------

def test_a_large_legacy_providers_file_loads(write_config, chatrepl_home: Path) -> None:
    text = legacy_providers_yaml(24_000)
    assert len(text) > 1024 * 1024
    path = write_config(text)
    config = load_config(path, {})
    assert sum(len(p.valid_models) for p in config.providers.values()) == 24_000
    assert config.providers["provider3"].valid_models["vendor5/model-3-00005-instruct"] \
        == "model-3-00005"
