"""The objects one run of chatrepl works with, built from paths, config and environment."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chatrepl.config import Config, ProviderConfig, load_config
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.discovery import ModelDiscoveryService
from chatrepl.fsutil import sweep_stale_temp_files
from chatrepl.localprobe import probe_local_servers
from chatrepl.manager import ModelRecord, ProviderManager
from chatrepl.paths import Paths
from chatrepl.presetdata import PRESETS
from chatrepl.presets import merge_presets
from chatrepl.refresher import DiscoveryRefresher

if TYPE_CHECKING:
    from chatrepl.catalog import Catalog
    from chatrepl.modelinfo import ModelInfo
    from chatrepl.paramsettings import ParameterSettings


@dataclass
class Runtime:
    """Everything a command needs: where files are, the config, providers, discovery, catalog."""

    env: Mapping[str, str]
    paths: Paths
    config: Config
    manager: ProviderManager
    discovery: ModelDiscoveryService
    refresher: DiscoveryRefresher
    warnings: tuple[str, ...] = ()
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _parameters: ParameterSettings | None = field(default=None, repr=False)

    @property
    def catalog(self) -> Catalog:
        """The model catalog, made on first use (one-shot runs never pay for it)."""
        if self._catalog is not None:
            return self._catalog
        with self._catalog_lock:
            if self._catalog is None:
                from chatrepl.catalog import Catalog  # deferred: see chatrepl/__init__.py

                self._catalog = Catalog.from_settings(self.config.catalog,
                                                      self.paths.catalog_cache_file)
            return self._catalog

    @property
    def catalog_loaded(self) -> bool:
        """True once the catalog's data is in memory (asking it then never waits)."""
        return self._catalog is not None and self._catalog.loaded

    @property
    def parameters(self) -> ParameterSettings:
        """The request parameters in force (config, saved, role, session), made on first use."""
        if self._parameters is None:
            from chatrepl.paramsettings import ParameterSettings, SavedParameters

            self._parameters = ParameterSettings(self.config.models,
                                                 SavedParameters(self.paths.parameters_file),
                                                 self.model_info)
        return self._parameters

    def model_info(self, provider_id: str, model: str) -> ModelInfo | None:
        """Facts for one model of one provider: its own catalog entry, else what its own model
        list said, else the maker's entry (never another host's price); None when unknown."""
        provider = self.manager.providers.get(provider_id)
        if provider is None:
            return self.catalog.lookup(provider_id, model)
        return self.catalog.lookup(provider_id, model, provider.catalog_id,
                                   provider.base_api_url,
                                   self.discovery.listed_facts(provider_id, model))

    def record_info(self, record: ModelRecord) -> ModelInfo | None:
        return self.model_info(record.provider, record.long)

    def record_meta(self, record: ModelRecord) -> str:
        """Catalog facts for the completion menu, e.g. `128k · $0.15/$0.60 · tools`."""
        info = self.record_info(record)
        return info.short_facts() if info else ""

    def add_local_servers(self) -> list[str]:
        """Probe the usual local ports (fast); register the servers found that are not
        configured, as probed providers that never get a key. Returns their names."""
        return self.discovery.add_providers(probe_local_servers())

    def use_local_servers(self) -> list[str]:
        """For a one-shot run or a subcommand: add the local servers and learn their models
        now (from the cache when fresh). Returns the names added."""
        added = self.add_local_servers()
        stale = [name for name in added if not self.discovery.is_fresh(name)]
        if stale:
            self.discovery.discover_all(stale)
        return added

    def start_background_work(self, *, probe_local: bool,
                              on_change: Callable[[], None] = lambda: None,
                              on_probed: Callable[[list[str]], None] = lambda added: None,
                              ) -> threading.Thread:
        """Off the prompt's path: find local servers (then `on_probed` with the names added),
        load (and maybe refresh) the catalog, then `on_change`."""

        def work() -> None:
            if probe_local:
                added = self.add_local_servers()
                if added:
                    self.refresher.refresh(added, force=False)
                on_probed(added)
            for folder in (self.paths.state_dir, self.paths.sessions_dir, self.paths.cache_dir):
                sweep_stale_temp_files(folder)
            if self.config.catalog.refresh:
                self.catalog.refresh()
            else:
                len(self.catalog)  # load the bundled data now rather than on the first Tab
            on_change()

        thread = threading.Thread(target=work, name="chatrepl-background", daemon=True)
        thread.start()
        return thread


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


def key_warnings(providers: Mapping[str, ProviderConfig], env: Mapping[str, str]) -> list[str]:
    """One line per configured provider whose key would go somewhere it should not: over
    plain http:// to another machine, or a preset's key variable to another host."""
    lines: list[str] = []
    for pid, provider in providers.items():
        key, source = provider.key_source(env)
        if provider.probed or key is None or source is None:
            continue
        url = urlsplit(provider.base_api_url)
        if url.scheme == "http" and not provider.is_local:
            lines.append(f"provider {pid}: its API key ({source}) would be sent unencrypted to"
                         f" {provider.shown_url}; use https://")
        preset = PRESETS.get(pid)
        if (preset is not None and source in preset.key_variables
                and url.hostname != urlsplit(preset.base_url).hostname):
            lines.append(f"provider {pid}: sends {source}, the {preset.name} key, to"
                         f" {provider.shown_url} rather than {preset.base_url}; if that is"
                         " intended, rename the entry or set its own api_key_env")
    return lines


def build_runtime(paths: Paths, env: Mapping[str, str], *, synchronous: bool = False) -> Runtime:
    """Load the config (ConfigError on a bad file) and wire providers, discovery and catalog.

    UnsafeDirectoryError when a folder chatrepl writes private files to is open to others.
    """
    paths.check_private()
    config = load_config(paths.config_file, env, must_exist=paths.config_explicit)
    manager = ProviderManager(merge_presets(config.providers, env))
    store = DiscoveredStore(paths.discovered_file)
    service = ModelDiscoveryService(manager, env, config.discovery, store)
    refresher = DiscoveryRefresher(service, synchronous=synchronous)
    warnings = [*config_warnings(config), *key_warnings(config.providers, env),
                *([store.warning] if store.warning else [])]
    return Runtime(env, paths, config, manager, service, refresher, tuple(warnings))
