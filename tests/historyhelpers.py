"""A REPL run with the history on, over the loopback server: `HistoryRepl(home, server)` then
`run(*lines)` types lines into the real loop (pipe input) and returns what was printed."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from replhelpers import type_lines

from chatrepl.entry import prepare_repl
from chatrepl.historydb import HistoryDB
from chatrepl.paths import resolve_paths
from chatrepl.replstate import ReplState
from chatrepl.runtime import build_runtime


def config_for(url: str, extra: str = "") -> str:
    return ("providers:\n  fake:\n"
            f"    base_api_url: {url}\n    valid_models: {{fake-chat: fc}}\n" + extra)


def repl_args(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {"resume": False, "resume_id": None, "model": "fake/fake-chat",
                                 "system": None, "plain": True, "no_discover": True,
                                 "no_history": False, "local": False, "gguf": None}
    values.update(given)
    return argparse.Namespace(**values)


class HistoryRepl:
    """REPL runs over one CHATREPL_HOME, each built as `chatrepl` builds it (prepare_repl)."""

    def __init__(self, home: Path, url: str, extra_config: str = "") -> None:
        (home / "config.yaml").write_text(config_for(url, extra_config), encoding="utf-8")
        self.home = home
        self.env = {"CHATREPL_HOME": str(home)}
        self.paths = resolve_paths(self.env)
        self.state: ReplState | None = None

    def start(self, **given: object) -> tuple[ReplState, io.StringIO, list[str]]:
        runtime = build_runtime(self.paths, self.env, synchronous=True)
        out = io.StringIO()
        state, notices, start = prepare_repl(runtime, repl_args(**given), out, out)
        if start is not None:
            start()
        self.state = state
        return state, out, list(notices)

    def run(self, *lines: str, **given: object) -> str:
        """A new run (new process, as it were) typing `lines`; what it printed."""
        state, out, notices = self.start(**given)
        self.type(state, *lines)
        return "\n".join(notices) + out.getvalue()

    def type(self, state: ReplState, *lines: str) -> None:
        type_lines(state, *lines)

    def db(self) -> HistoryDB:
        return HistoryDB(self.paths.history_db)
