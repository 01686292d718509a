"""Built-in providers for well-known OpenAI-compatible services.

A preset is available without any config entry once its key variable is set in the
environment; a config entry of the same name wins (it inherits the preset's URL and key
variable when it gives no URL: see config.load_config).
"""

from __future__ import annotations

from collections.abc import Mapping

from chatrepl.config import ProviderConfig
from chatrepl.presetdata import PRESETS, Preset


def preset_provider(preset: Preset, key_variable: str | None = None) -> ProviderConfig:
    """A ProviderConfig for `preset` that reads its key from `key_variable` (default: the main one)."""
    return ProviderConfig(
        id=preset.id,
        name=preset.name,
        base_api_url=preset.base_url,
        api_key_env=key_variable or preset.key_variable,
        catalog_id=preset.catalog_id,
        valid_models={model: model for model in preset.models},
    )


def preset_providers(env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    """The presets whose key variable is set (non-blank) in `env`, as providers."""
    found: dict[str, ProviderConfig] = {}
    for preset in PRESETS.values():
        variable = preset.key_variable_in(env)
        if variable is not None:
            found[preset.id] = preset_provider(preset, variable)
    return found


def merge_presets(config_providers: Mapping[str, ProviderConfig],
                  env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    """Configured providers (in their order), then the available presets not configured.

    A config entry wins over a preset of the same name, whatever it contains.
    """
    merged = dict(config_providers)
    for name, provider in preset_providers(env).items():
        merged.setdefault(name, provider)
    return merged
