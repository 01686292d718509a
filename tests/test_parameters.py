"""Parameter values, what a model is sent per its catalog facts, and `models:` in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatrepl.config import load_config
from chatrepl.errors import ConfigError, ParameterError
from chatrepl.modelinfo import ModelInfo, info_from_raw
from chatrepl.parameters import (
    accepted_names,
    check_value,
    parse_value,
    request_parameters,
)

WARM = ModelInfo(max_output=1000, temperature=True, from_catalog=True, catalog_provider="x")
COLD = ModelInfo(max_output=2000, temperature=False, reasoning=True, from_catalog=True,
                 catalog_provider="x")


def test_values_are_parsed_to_their_type() -> None:
    assert parse_value("temperature", "1") == 1.0 and isinstance(parse_value("top_p", "1"), float)
    assert parse_value("max_tokens", "12") == 12 and isinstance(parse_value("seed", "-3"), int)
    assert parse_value("reasoning-effort", " HIGH ") == "high"
    assert check_value("max_tokens", 12.0) == 12


@pytest.mark.parametrize(("name", "value"), [
    ("temperature", 2.5), ("temperature", True), ("temperature", float("inf")), ("top_p", 1.5),
    ("max_tokens", 0), ("max_tokens", 1.5), ("max_tokens", "12"), ("seed", 2**63),
    ("presence_penalty", -3), ("frequency_penalty", 2.01), ("reasoning_effort", "max"),
])
def test_bad_values_say_what_is_valid(name: str, value: object) -> None:
    with pytest.raises(ParameterError, match=f"^{name} must be "):
        check_value(name, value)


def test_catalog_facts_decide_what_is_accepted() -> None:
    assert "temperature" in accepted_names(WARM) and "reasoning_effort" not in accepted_names(WARM)
    assert set(accepted_names(COLD)) == {"max_tokens", "seed", "reasoning_effort"}
    assert len(accepted_names(None)) == 7  # nothing known: nothing refused
    listed_only = ModelInfo(max_output=50)  # only the provider's own list: reasoning unknown
    assert "reasoning_effort" in accepted_names(listed_only)


def test_models_dev_temperature_flag_is_read() -> None:
    assert info_from_raw({"temperature": False}).temperature is False
    assert info_from_raw({"temperature": True}).temperature is True
    assert info_from_raw({"temperature": "no"}).temperature is None
    assert info_from_raw({}).temperature is None


def test_request_keywords_and_notes() -> None:
    values = {"temperature": 0.5, "max_tokens": 5000, "seed": 1}
    warm = request_parameters(values, WARM, "p/warm")
    assert dict(warm.kwargs) == {"temperature": 0.5, "max_tokens": 1000, "seed": 1}
    assert dict(warm.values) == {"temperature": 0.5, "max_tokens": 1000, "seed": 1}
    assert [name for name, _ in warm.notes] == ["max_tokens"]
    cold = request_parameters(values, COLD, "p/cold")
    assert dict(cold.kwargs) == {"max_tokens": 2000, "seed": 1}
    assert any("p/cold takes no temperature" in line for _, line in cold.notes)
    # OpenAI's own API: max_completion_tokens, which its reasoning models require.
    openai = ModelInfo(temperature=False, reasoning=True, from_catalog=True,
                       catalog_provider="openai")
    assert dict(request_parameters({"max_tokens": 10}, openai).kwargs) == {
        "max_completion_tokens": 10}
    assert request_parameters({}, WARM).kwargs == {}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_models_section_is_read(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "models:\n  openai/gpt-4o:\n    temperature: 0.2\n"
                                           "    max_tokens: 100\n  p/m: {}\n"))
    assert config.models["openai/gpt-4o"].values() == {"temperature": 0.2, "max_tokens": 100}
    assert config.models["p/m"].values() == {}
    assert load_config(_config(tmp_path, "models:\n")).models == {}
    assert load_config(_config(tmp_path, "providers: {}\n")).models == {}  # older files


@pytest.mark.parametrize(("text", "line", "message"), [
    ("models:\n  openai/gpt-4o:\n    temperature: 3\n", 3,
     "models.openai/gpt-4o.temperature: must be a number from 0 to 2, not 3"),
    ("models:\n  openai/gpt-4o:\n    temprature: 0.3\n", 3,
     "unknown key; did you mean 'temperature'?"),
    ("models:\n  gpt-4o:\n    temperature: 0.3\n", 2,
     "models: 'gpt-4o' must be written provider/model"),
    ("models:\n  a/b:\n    seed: 1\n  c/d:\n    max_tokens: 1.5\n", 5,
     "max_tokens: must be a whole number from 1 to 100,000,000, not 1.5"),
    ("models:\n  a/b:\n    reasoning_effort: turbo\n", 3, "must be one of none, minimal"),
    ("models: [a/b]\n", 1, "models: Input should be a valid dictionary"),
])
def test_config_models_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                                 message: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    shown = str(caught.value)
    assert shown.startswith(f"{path}:{line}: ") and message in shown, shown
    assert caught.value.exit_code == 2
