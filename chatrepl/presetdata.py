"""The well-known OpenAI-compatible services: where each answers and which variables hold its key.

Pure data, importable by the config loader (an entry named after a service inherits its URL and
key variable) and by the presets that turn a service into a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Preset:
    """One well-known service: where it answers and which variables may hold its key."""

    id: str
    name: str
    base_url: str
    key_variables: tuple[str, ...]
    catalog_id: str
    # Models to offer when the service has no usable `/models` list.
    models: tuple[str, ...] = ()

    @property
    def key_variable(self) -> str:
        """The main key variable (the first one)."""
        return self.key_variables[0]

    def key_variable_in(self, env: Mapping[str, str]) -> str | None:
        """The first key variable set (non-blank) in `env`, or None."""
        for variable in self.key_variables:
            if env.get(variable, "").strip():
                return variable
        return None


PRESETS: dict[str, Preset] = {
    preset.id: preset
    for preset in (
        Preset("openai", "OpenAI", "https://api.openai.com/v1", ("OPENAI_API_KEY",), "openai"),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",),
               "openrouter"),
        Preset("groq", "Groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), "groq"),
        Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",),
               "deepseek"),
        Preset("mistral", "Mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), "mistral"),
        Preset("together", "Together AI", "https://api.together.xyz/v1",
               ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"), "togetherai"),
        Preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1",
               ("FIREWORKS_API_KEY",), "fireworks-ai"),
        Preset("xai", "xAI", "https://api.x.ai/v1", ("XAI_API_KEY",), "xai"),
        Preset("gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai",
               ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "google"),
        Preset("cerebras", "Cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",), "cerebras"),
        Preset("deepinfra", "DeepInfra", "https://api.deepinfra.com/v1/openai",
               ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"), "deepinfra"),
        # Perplexity's API has no model list endpoint, so its chat models are named here.
        Preset("perplexity", "Perplexity", "https://api.perplexity.ai", ("PERPLEXITY_API_KEY",),
               "perplexity", ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")),
        # Anthropic's OpenAI SDK compatibility endpoint; its model list wants Anthropic's own
        # headers, so its current models are named here too.
        Preset("anthropic", "Anthropic", "https://api.anthropic.com/v1", ("ANTHROPIC_API_KEY",),
               "anthropic", ("claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5")),
        # The rest as models.dev lists them (`npm: @ai-sdk/openai-compatible`, its `api` and
        # `env`): test_presets checks each against the bundled data.
        Preset("alibaba", "Alibaba Cloud Model Studio",
               "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", ("DASHSCOPE_API_KEY",),
               "alibaba"),
        Preset("moonshot", "Moonshot AI", "https://api.moonshot.ai/v1", ("MOONSHOT_API_KEY",),
               "moonshotai"),
        Preset("zai", "Z.AI", "https://api.z.ai/api/paas/v4", ("ZHIPU_API_KEY",), "zai"),
        Preset("nvidia", "Nvidia", "https://integrate.api.nvidia.com/v1", ("NVIDIA_API_KEY",),
               "nvidia"),
        Preset("nebius", "Nebius Token Factory", "https://api.tokenfactory.nebius.com/v1",
               ("NEBIUS_API_KEY",), "nebius"),
        Preset("siliconflow", "SiliconFlow", "https://api.siliconflow.com/v1",
               ("SILICONFLOW_API_KEY",), "siliconflow"),
        Preset("novita", "NovitaAI", "https://api.novita.ai/openai", ("NOVITA_API_KEY",),
               "novita-ai"),
        Preset("baseten", "Baseten", "https://inference.baseten.co/v1", ("BASETEN_API_KEY",),
               "baseten"),
        Preset("chutes", "Chutes", "https://llm.chutes.ai/v1", ("CHUTES_API_KEY",), "chutes"),
    )
}


def inherit_presets(providers: dict[Any, Any], env: Mapping[str, str]) -> None:
    """In the config's raw `providers` map: an entry named after a preset that gives no URL takes
    the preset's URL, key variable, name and catalog entry (what it does give wins)."""
    for pid, entry in providers.items():
        preset = PRESETS.get(pid) if isinstance(pid, str) else None
        if preset is not None and entry is None:  # `openai:` alone: the preset as it is
            entry = providers[pid] = {}
        if preset is None or not isinstance(entry, dict) or "base_url" in entry \
                or "base_api_url" in entry:
            continue
        entry["base_url"] = preset.base_url
        if not entry.get("api_key") and not entry.get("api_key_env"):
            entry["api_key_env"] = preset.key_variable_in(env) or preset.key_variable
        entry.setdefault("name", preset.name)
        entry.setdefault("catalog_id", preset.catalog_id)
