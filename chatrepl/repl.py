"""The interactive loop: PromptSession wiring, key bindings, the bottom toolbar."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import (
    Completer,
    DynamicCompleter,
    ThreadedCompleter,
)
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.key_binding.key_processor import KeyPressEvent

from chatrepl.completer import SlashCommandCompleter
from chatrepl.errors import ChatReplError
from chatrepl.fsutil import open_private, require_private_dir
from chatrepl.inputhistory import BoundedFileHistory
from chatrepl.sanitize import clean
from chatrepl.toolbar import discovery_status, toolbar_text

if TYPE_CHECKING:
    from chatrepl.replstate import ReplState

__all__ = ["discovery_status", "handle_line", "make_prompt_session", "run_repl", "toolbar_text"]

# What a loader hands the loop: the state, lines to show once the prompt is up, and work to
# start in the background.
Prepared = tuple["ReplState", Sequence[str], Callable[[], None] | None]


def build_completer(state: ReplState) -> Completer:
    """Slash command names, and each command's arguments with the completer it registered."""
    from chatrepl.slash_commands import REGISTRY

    return SlashCommandCompleter(REGISTRY.completion_items, REGISTRY.argument_completers(state))


def key_bindings() -> KeyBindings:
    """Enter sends (default); Alt-Enter / Esc Enter inserts a newline; Ctrl-C at the prompt
    closes the completion menu and empties the line."""
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-c")
    def _discard_line(event: KeyPressEvent) -> None:
        # In place, inside the running prompt: aborting it instead ends the app and starts a new
        # one, and keys typed in between land on a line drawn without the prompt mark.
        buffer = event.current_buffer
        buffer.cancel_completion()
        buffer.reset()

    return bindings


class _StateHolder:
    """The REPL state, which may still be loading on another thread when the prompt is drawn."""

    def __init__(self) -> None:
        self.state: ReplState | None = None
        self.completer: Completer | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def set(self, state: ReplState) -> None:
        self.completer = build_completer(state)
        self.state = state
        self.ready.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.ready.set()

    def wait(self) -> ReplState:
        """The state once loaded; the loader's error if it failed."""
        self.ready.wait()
        if self.error is not None:
            raise self.error
        assert self.state is not None
        return self.state

    def toolbar(self) -> str:
        if self.state is None:
            return " loading…"
        # Model ids and discovery errors come from servers: no control characters on screen.
        return clean(toolbar_text(self.state, get_app().output.get_size().columns))


def _history(path: Path) -> Any:
    """The input history file; in memory when it cannot be written. UnsafeDirectoryError
    when its folder is open to other users."""
    require_private_dir(path.parent)
    try:
        open_private(path, append=True).close()
        return BoundedFileHistory(path)
    except OSError:
        return InMemoryHistory()


def make_prompt_session(state: ReplState | _StateHolder, *, history_path: Path | None = None,
                        input: Any = None, output: Any = None) -> PromptSession[str]:
    """The PromptSession with history, auto-suggest, threaded completion and the toolbar."""
    holder = state if isinstance(state, _StateHolder) else None
    if holder is None:
        holder = _StateHolder()
        holder.set(state)  # type: ignore[arg-type]
    if history_path is None:
        assert holder.state is not None
        history_path = holder.state.runtime.paths.history_file
    return PromptSession(
        history=_history(history_path),
        auto_suggest=AutoSuggestFromHistory(),
        completer=ThreadedCompleter(DynamicCompleter(lambda: holder.completer)),
        complete_while_typing=True,
        bottom_toolbar=holder.toolbar,
        key_bindings=key_bindings(),
        input=input,
        output=output,
    )


def handle_line(state: ReplState, line: str) -> None:
    """A slash command or a message; errors become one printed line."""
    from chatrepl.slash_commands import REGISTRY

    text = line.strip()
    if not text:
        return
    try:
        if text.startswith("/") and not text.startswith("//"):
            REGISTRY.dispatch(state, text)
        else:
            state.run_turn(text[1:] if text.startswith("//") else line)
    except ChatReplError as exc:
        state.printer.error(exc.in_repl())


def run_repl(state: ReplState | Callable[[], Prepared], *, history_path: Path | None = None,
             input: Any = None, output: Any = None,
             on_ready: Callable[[], None] | None = None) -> int:
    """Read lines until Ctrl-D or /exit; returns the exit code.

    `state` is the REPL state, or a loader returning (state, notices, on_ready) that runs on a
    thread once the first prompt is drawn, so the prompt never waits for the config stack; a
    line typed meanwhile waits for it, and a loader error (a bad config) ends the loop with it.
    `on_ready` runs once, right after the first prompt is drawn and the state is there.
    """
    holder = _StateHolder()
    loader = state if callable(state) else None
    if loader is None:
        holder.set(state)  # type: ignore[arg-type]
    session = make_prompt_session(holder, history_path=history_path, input=input, output=output)
    app = session.app

    def show(lines: Sequence[str], printer: Any) -> None:
        def write() -> None:
            for line in lines:
                printer.line(line)

        if lines:
            app.loop.call_soon_threadsafe(lambda: run_in_terminal(write))  # type: ignore[union-attr]

    def attach(loaded: ReplState, hook: Callable[[], None] | None) -> None:
        loaded.redraw = app.invalidate
        loaded.say = lambda lines: show(lines, loaded.printer)
        loaded.runtime.refresher.on_progress = app.invalidate
        if hook is not None:
            hook()
        app.invalidate()

    def stop_with(error: BaseException) -> None:
        if app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=error)

    def load() -> None:
        assert loader is not None
        try:
            loaded, notices, hook = loader()
        except BaseException as exc:  # handed to the main thread, which reports it
            holder.fail(exc)
            loop = app.loop
            if loop is not None:
                loop.call_soon_threadsafe(stop_with, exc)
            return
        holder.set(loaded)
        show(notices, loaded.printer)
        attach(loaded, hook or on_ready)
        if app.loop is not None:
            app.loop.call_soon_threadsafe(complete_typed_command)

    def complete_typed_command() -> None:
        """A command typed while loading gets its completions now that they can be made."""
        buffer = app.current_buffer
        if buffer.text.startswith("/"):
            buffer.start_completion(select_first=False)

    def first_render(_app: Any) -> None:
        app.after_render -= first_render
        if loader is not None:
            threading.Thread(target=load, name="chatrepl-load", daemon=True).start()
        else:
            attach(holder.wait(), on_ready)

    app.after_render += first_render
    loaded: ReplState | None = None
    while loaded is None or not loaded.should_exit:
        try:
            line = session.prompt("› ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        loaded = holder.wait()
        handle_line(loaded, line)
    if holder.ready.is_set() and holder.state is not None:
        holder.state.runtime.refresher.on_progress = None
    return 0
