"""The interactive loop: PromptSession wiring, key bindings, the bottom toolbar."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import (
    Completer,
    DynamicCompleter,
    ThreadedCompleter,
)
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.key_binding.key_processor import KeyPressEvent

from chatrepl.completer import ModelCommandCompleter, SlashCommandCompleter, WordListCompleter
from chatrepl.errors import ChatReplError
from chatrepl.fsutil import ensure_private_dir
from chatrepl.replstate import ReplState
from chatrepl.slash_commands import REGISTRY


def build_completer(state: ReplState) -> Completer:
    """Slash commands, with /model names, /discover providers and /load sessions as arguments."""
    models = ModelCommandCompleter(state.runtime.manager, recent=state.recent_models,
                                   meta_for=state.model_meta)
    # Index a new snapshot off the UI thread as soon as discovery swaps it in.
    state.runtime.refresher.add_callback(lambda _results: models.warm())
    providers = WordListCompleter(lambda: list(state.runtime.manager))
    sessions = WordListCompleter(state.store.names)
    return SlashCommandCompleter(
        REGISTRY.completion_items,
        {"/model": models, "/mod": models, "/discover": providers, "/load": sessions},
    )


def key_bindings() -> KeyBindings:
    """Enter sends (default); Alt-Enter / Esc Enter inserts a newline."""
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


def discovery_status(state: ReplState) -> str:
    """`discovering 2/5 …` while it runs, then e.g. `openai 52 · groq ✗ 401`."""
    refresher = state.runtime.refresher
    if refresher.is_refreshing():
        done, total = refresher.progress()
        return f"discovering {done}/{total} …"
    parts = []
    for name, status in refresher.status.items():
        if status.state == "ok":
            parts.append(f"{name} {status.models}")
        elif status.state in ("error", "skipped"):
            reason = (status.error or "").split(";")[0].split(": ", 1)[-1]
            parts.append(f"{name} ✗ {reason[:24]}")
    return " · ".join(parts)


def toolbar_text(state: ReplState) -> str:
    """Current model, discovery state and tokens used."""
    totals = state.chat.totals
    pieces = [state.current_model or "no model (/model NAME)"]
    server = state.local_server
    if server is not None and server.state != "ready":
        pieces.append("local: loading…" if server.state == "loading" else f"local: {server.state}")
    discovery = discovery_status(state)
    if discovery:
        pieces.append(discovery)
    pieces.append(f"tokens {totals.prompt_tokens + totals.completion_tokens}")
    cost = state.cost_text()
    if cost:
        pieces.append(cost)
    return " " + "  │  ".join(pieces)


def make_prompt_session(state: ReplState, *, input: Any = None, output: Any = None,
                        ) -> PromptSession[str]:
    """The PromptSession with history, auto-suggest, threaded completion and the toolbar."""
    history_path = state.runtime.paths.history_file
    try:
        ensure_private_dir(history_path.parent)
        os.close(os.open(history_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        history: Any = FileHistory(str(history_path))
    except OSError:
        history = InMemoryHistory()
    completer = build_completer(state)
    return PromptSession(
        history=history,
        auto_suggest=AutoSuggestFromHistory(),
        completer=ThreadedCompleter(DynamicCompleter(lambda: completer)),
        complete_while_typing=True,
        bottom_toolbar=lambda: toolbar_text(state),
        key_bindings=key_bindings(),
        input=input,
        output=output,
    )


def handle_line(state: ReplState, line: str) -> None:
    """A slash command or a message; errors become one printed line."""
    text = line.strip()
    if not text:
        return
    try:
        if text.startswith("/") and not text.startswith("//"):
            REGISTRY.dispatch(state, text)
        else:
            state.run_turn(line[1:] if text.startswith("//") else line)
    except ChatReplError as exc:
        state.printer.error(str(exc))


def run_repl(state: ReplState, *, input: Any = None, output: Any = None,
             on_ready: Callable[[], None] | None = None) -> int:
    """Read lines until Ctrl-D or /exit; returns the exit code.

    `on_ready` runs once, right after the first prompt is drawn: work started there (discovery,
    imports on other threads) never delays the prompt.
    """
    session = make_prompt_session(state, input=input, output=output)

    def redraw() -> None:
        session.app.invalidate()

    state.redraw = lambda: redraw()
    state.runtime.refresher.on_progress = redraw
    if on_ready is not None:
        def first_render(_app: Any) -> None:
            session.app.after_render -= first_render
            on_ready()

        session.app.after_render += first_render
    while not state.should_exit:
        try:
            line = session.prompt("› ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        handle_line(state, line)
    state.runtime.refresher.on_progress = None
    return 0
