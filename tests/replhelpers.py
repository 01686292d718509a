"""The one recipe for a REPL state in tests: runtime (synchronous discovery) + chat session +
session store + printer -> ReplState, over a CHATREPL_HOME whose config the test wrote."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.chat import ChatSession
from chatrepl.paths import resolve_paths
from chatrepl.render import Printer
from chatrepl.repl import Prepared, run_repl
from chatrepl.replstate import ReplState
from chatrepl.runtime import build_runtime
from chatrepl.sessions import SessionStore


class BuiltRepl(NamedTuple):
    """A REPL state and what its printer writes to (`out` and `err` are one buffer unless a
    separate `err` was asked for)."""

    state: ReplState
    out: io.StringIO
    err: io.StringIO


def build_repl_state(home: Path | None = None, provider: str = "", model: str = "", *,
                     env: Mapping[str, str] | None = None, out: io.StringIO | None = None,
                     separate_err: bool = False, **fields: Any) -> BuiltRepl:
    """A ReplState on `provider`/`model` (none when empty) for CHATREPL_HOME `home` (or `env`,
    which must name it), printing to `out` (a new buffer by default); `fields` are further
    ReplState fields (local_server=...)."""
    if env is None:
        assert home is not None, "give home or env"
        env = {"CHATREPL_HOME": str(home)}
    paths = resolve_paths(env)
    runtime = build_runtime(paths, env, synchronous=True)
    chat = ChatSession(runtime.manager, env, runtime.config.chat, provider=provider, model=model)
    out = io.StringIO() if out is None else out
    err = io.StringIO() if separate_err else out
    store = SessionStore(paths.sessions_dir, paths.autosave_file)
    return BuiltRepl(ReplState(runtime, chat, store, Printer(out, err), **fields), out, err)


END_KEYS = "\x15\x04\x15\x04"


def type_lines(state: ReplState, *lines: str, end: str = END_KEYS) -> None:
    """Run the real REPL loop on `state` with `lines` typed (each ended by Enter), then `end`:
    by default Ctrl-U Ctrl-D twice (Ctrl-D ends only an empty line, and a message refused for
    its attachments is put back in it; the second is needed when attachments are still
    staged)."""
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        for line in lines:
            pipe.send_text(line + "\r")
        pipe.send_text(end)
        assert run_repl(lambda _terminal: Prepared(state), input=pipe, output=DummyOutput(),
                        history_path=state.runtime.paths.history_file) == 0
