"""The objects one run of chatrepl works with, built from paths, config and environment."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from chatrepl.config import Config, load_config
from chatrepl.discovery import DiscoveryRefresher, ModelDiscoveryService
from chatrepl.manager import ProviderManager
from chatrepl.paths import Paths
from chatrepl.state import DiscoveredStore


@dataclass
class Runtime:
    """Everything a command needs: where files are, the config, providers and discovery."""

    env: Mapping[str, str]
    paths: Paths
    config: Config
    manager: ProviderManager
    discovery: ModelDiscoveryService
    refresher: DiscoveryRefresher
    warnings: tuple[str, ...] = ()


def config_warnings(config: Config) -> list[str]:
    """A warning when a config file with an inline key is readable by others."""
    if config.source is None or not any(p.api_key and "${" not in p.api_key
                                        for p in config.providers.values()):
        return []
    try:
        mode = os.stat(config.source).st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{config.source}: holds an API key and is readable by others;"
                f" run chmod 600 {config.source}"]
    return []


def build_runtime(paths: Paths, env: Mapping[str, str], *, synchronous: bool = False) -> Runtime:
    """Load the config (ConfigError on a bad file) and wire providers and discovery."""
    config = load_config(paths.config_file, env, must_exist=paths.config_explicit)
    manager = ProviderManager(config.providers)
    service = ModelDiscoveryService(manager, env, config.discovery,
                                    DiscoveredStore(paths.discovered_file))
    refresher = DiscoveryRefresher(service, synchronous=synchronous)
    return Runtime(env, paths, config, manager, service, refresher,
                   tuple(config_warnings(config)))
