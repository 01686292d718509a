"""A providers file as older versions wrote it, with every discovered model listed in it."""

from __future__ import annotations


def legacy_providers_yaml(models: int, providers: int = 8) -> str:
    """YAML text: `providers` entries with inline keys, `models` ids in all (about 53 bytes each)."""
    lines = ["providers:"]
    per_provider = models // providers
    for p in range(providers):
        lines += [f"  provider{p}:", f"    name: Provider {p}",
                  f"    base_api_url: https://api.provider{p}.example/v1",
                  f"    api_key: sk-legacy-{p:04d}-0000000000", "    valid_models:"]
        lines += [f"      vendor{i % 40}/model-{p}-{i:05d}-instruct: model-{p}-{i:05d}"
                  for i in range(per_provider)]
        lines.append("    invalid_models: []")
    return "\n".join(lines) + "\n"
