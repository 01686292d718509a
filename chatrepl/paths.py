"""Where chatrepl keeps its config, state and cache."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from chatrepl.fsutil import check_private_dir

APP_NAME = "chatrepl"


@dataclass(frozen=True)
class Paths:
    """Every location chatrepl reads or writes."""

    config_file: Path
    config_explicit: bool
    state_dir: Path
    cache_dir: Path

    @property
    def discovered_file(self) -> Path:
        return self.state_dir / "discovered.yaml"

    @property
    def history_file(self) -> Path:
        return self.state_dir / "history"

    @property
    def history_db(self) -> Path:
        """The SQLite store of every conversation (historydb.py)."""
        return self.state_dir / "history.sqlite3"

    @property
    def recent_models_file(self) -> Path:
        return self.state_dir / "recent-models.json"

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "sessions"

    @property
    def autosave_file(self) -> Path:
        return self.state_dir / "autosave.json"

    @property
    def parameters_file(self) -> Path:
        """Request parameters saved with `/set --save` (the config file is never written)."""
        return self.state_dir / "parameters.json"

    @property
    def roles_dir(self) -> Path:
        """One Markdown file per role, beside the config file."""
        return self.config_file.parent / "roles"

    @property
    def catalog_cache_file(self) -> Path:
        return self.cache_dir / "models-dev-api.json"

    def check_private(self) -> None:
        """UnsafeDirectoryError when the state folders exist and other users may read or write
        them, or the cache folder exists and they may write it (they could swap the model)."""
        check_private_dir(self.state_dir)
        check_private_dir(self.sessions_dir)
        check_private_dir(self.cache_dir, others_may_read=True)


def resolve_paths(env: Mapping[str, str], config_override: str | None = None) -> Paths:
    """Config: --config, $CHATREPL_CONFIG, $CHATREPL_HOME/config.yaml, platform config dir.

    State and cache: under $CHATREPL_HOME when set, else the platform data and cache dirs.
    """
    home = env.get("CHATREPL_HOME")
    if config_override:
        config_file, explicit = Path(config_override).expanduser(), True
    elif env.get("CHATREPL_CONFIG"):
        config_file, explicit = Path(env["CHATREPL_CONFIG"]).expanduser(), True
    elif home:
        config_file, explicit = Path(home).expanduser() / "config.yaml", False
    else:
        config_file = Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"
        explicit = False
    if home:
        base = Path(home).expanduser()
        state_dir, cache_dir = base / "state", base / "cache"
    else:
        state_dir = Path(platformdirs.user_data_dir(APP_NAME))
        cache_dir = Path(platformdirs.user_cache_dir(APP_NAME))
    return Paths(config_file, explicit, state_dir, cache_dir)
