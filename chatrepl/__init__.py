"""chatrepl: a terminal chat REPL for OpenAI-compatible providers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chatrepl.__version__ import VERSION as __version__

if TYPE_CHECKING:
    from chatrepl.completer import ModelCommandCompleter
    from chatrepl.config import ProviderConfig, load_config
    from chatrepl.discovery import ModelDiscoveryService
    from chatrepl.manager import ProviderManager
    from chatrepl.refresher import DiscoveryRefresher

_EXPORTS = {
    "load_config": "chatrepl.config",
    "ProviderConfig": "chatrepl.config",
    "ProviderManager": "chatrepl.manager",
    "ModelDiscoveryService": "chatrepl.discovery",
    "DiscoveryRefresher": "chatrepl.refresher",
    "ModelCommandCompleter": "chatrepl.completer",
}

__all__ = ["DiscoveryRefresher", "ModelCommandCompleter", "ModelDiscoveryService",
           "ProviderConfig", "ProviderManager", "__version__", "load_config"]


def __getattr__(name: str) -> Any:
    """Import public names on first use, so `import chatrepl` stays cheap."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'chatrepl' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)
