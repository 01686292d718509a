"""The interactive loop: PromptSession wiring, key bindings, the bottom toolbar."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import (
    Completer,
    DynamicCompleter,
    ThreadedCompleter,
    merge_completers,
)
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.key_binding.key_processor import KeyPressEvent
from prompt_toolkit.output import Output

from chatrepl.completer import SlashCommandCompleter
from chatrepl.editor import UNCHANGED_HINT, edit_text
from chatrepl.errors import AttachmentError, ChatReplError
from chatrepl.fsutil import open_private, require_private_dir
from chatrepl.guardprompt import PromptAsker, command_argument
from chatrepl.inputhistory import BoundedFileHistory
from chatrepl.replterminal import PromptTerminal
from chatrepl.sanitize import clean
from chatrepl.sigint import ctrl_c_not_echoed
from chatrepl.tabkey import complete_now
from chatrepl.toolbar import discovery_status, toolbar_text
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.replstate import ReplState

__all__ = ["Loader", "Prepared", "discovery_status", "handle_line", "make_prompt_session", "run_repl",
           "toolbar_text"]


class Prepared(NamedTuple):
    """What a loader hands the loop: the state, lines to show once the prompt is up, and work
    to start in the background then."""

    state: ReplState
    notices: Sequence[str] = ()
    on_ready: Callable[[], None] | None = None


# Builds the REPL state off the prompt's thread, given the terminal channel.
Loader = Callable[[PromptTerminal], Prepared]


def build_completer(state: ReplState) -> Completer:
    """Slash command names, and each command's arguments with the completer it registered."""
    from chatrepl.attachcommands import at_path_completer
    from chatrepl.slash_commands import REGISTRY

    return merge_completers([
        SlashCommandCompleter(REGISTRY.completion_items, REGISTRY.argument_completers(state)),
        at_path_completer(),  # `@path` in a message
    ])


def key_bindings(holder: _StateHolder | None = None) -> KeyBindings:
    """Enter sends (default); Alt-Enter / Esc Enter inserts a newline; Ctrl-C at the prompt
    closes the completion menu and empties the line; Ctrl-X Ctrl-E edits the line in the
    editor (`holder`'s state, once loaded, gives the environment and the printer)."""
    bindings = KeyBindings()

    @bindings.add("c-x", "c-e")
    async def _edit_in_editor(event: KeyPressEvent) -> None:
        # The editor runs on a thread with the terminal handed over (run_in_terminal), as
        # prompt_toolkit's own open_in_editor does; what comes back is put in the line, not sent.
        buffer = event.current_buffer
        state = holder.state if holder is not None else None
        env = state.runtime.env if state is not None else os.environ
        before = buffer.text
        outcome = await run_in_terminal(lambda: edit_text(before, env), in_executor=True)
        if outcome.text is not None and outcome.text != before:
            buffer.document = Document(outcome.text, len(outcome.text))
        message = outcome.message
        if message:
            await run_in_terminal(lambda: _show_edit_message(state, message))

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    bindings.add("tab")(complete_now)  # see chatrepl/tabkey.py

    @bindings.add("c-c")
    def _discard_line(event: KeyPressEvent) -> None:
        # In place, inside the running prompt: aborting it instead ends the app and starts a new
        # one, and keys typed in between land on a line drawn without the prompt mark.
        buffer = event.current_buffer
        buffer.cancel_completion()
        buffer.reset()

    return bindings


def _show_edit_message(state: ReplState | None, message: str) -> None:
    """The editor's hint (a warning) or why it could not be used (an error)."""
    if state is None:  # still loading: no printer yet
        print(f"error: {clean(message)}", file=sys.stderr)
    elif message == UNCHANGED_HINT:
        state.printer.warning(message)
    else:
        state.printer.error(message)


class _StateHolder:
    """The REPL state, which may still be loading on another thread when the prompt is drawn."""

    def __init__(self, terminal: PromptTerminal | None = None) -> None:
        self.state: ReplState | None = None
        self.completer: Completer | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.terminal = terminal

    def set(self, state: ReplState) -> None:
        self.completer = build_completer(state)
        self.state = state
        self.ready.set()
        if self.terminal is not None:
            self.terminal.wake()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.ready.set()
        if self.terminal is not None:
            self.terminal.wake()

    def wait(self) -> ReplState:
        """The state once loaded (running on this thread what the loader hands it meanwhile);
        the loader's error if it failed."""
        if self.terminal is not None:
            self.terminal.serve_until(self.ready.is_set)
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


def _history(path: Path) -> History:
    """The input history file; in memory when it cannot be written. UnsafeDirectoryError
    when its folder is open to other users."""
    require_private_dir(path.parent)
    try:
        open_private(path, append=True).close()
        return BoundedFileHistory(path)
    except OSError:
        return InMemoryHistory()


def make_prompt_session(state: ReplState | _StateHolder, *, history_path: Path | None = None,
                        input: Input | None = None, output: Output | None = None,
                        ) -> PromptSession[str]:
    """The PromptSession with history, auto-suggest, threaded completion and the toolbar.

    The input history is kept in `history_path`, else in the state's history file, else (a
    state still loading) in memory."""
    if isinstance(state, _StateHolder):
        holder = state
    else:
        holder = _StateHolder()
        holder.set(state)
    if history_path is None and holder.state is not None:
        history_path = holder.state.runtime.paths.history_file
    return PromptSession(
        history=InMemoryHistory() if history_path is None else _history(history_path),
        auto_suggest=AutoSuggestFromHistory(),
        completer=ThreadedCompleter(DynamicCompleter(lambda: holder.completer)),
        complete_while_typing=True,
        bottom_toolbar=holder.toolbar,
        key_bindings=key_bindings(holder),
        input=input,
        output=output,
    )


def handle_line(state: ReplState, line: str) -> None:
    """A slash command or a message; errors become one printed line, and a Ctrl-C that lands
    outside the code that stops on it (between a reply's end and the next prompt) ends the
    line's work with `[interrupted]` instead of the REPL."""
    from chatrepl.slash_commands import REGISTRY

    text = line.strip()
    if not text:
        return
    is_command = text.startswith("/") and not text.startswith("//")
    try:
        with ctrl_c_not_echoed(sys.stdin if sys.stdin.isatty() else sys.stdout):
            if is_command:
                REGISTRY.dispatch(state, text)
            elif state.compare is not None:
                state.compare.send(state, text[1:] if text.startswith("//") else line)
            else:
                state.run_turn(text[1:] if text.startswith("//") else line)
    except ChatReplError as exc:
        state.printer.error(exc.in_repl())
        if isinstance(exc, AttachmentError) and not is_command:
            state.next_input = line  # nothing was sent: the message is back for a fix
    except KeyboardInterrupt:
        state.printer.info("[interrupted]")


def warn_unsent(state: ReplState) -> bool:
    """Before Ctrl-D ends the REPL with attachments staged (or still being read): say so and
    return True, so that a second Ctrl-D is needed; False when there is nothing to lose."""
    count = len(state.attachments) + state.attachments.loading()
    if not count:
        return False
    state.printer.info(f"{plural(count, 'attachment')} staged and not sent: Ctrl-D again exits"
                       " without them, /detach drops them")
    return True


def run_repl(loader: Loader, *, history_path: Path | None = None, input: Input | None = None,
             output: Output | None = None) -> int:
    """Read lines until Ctrl-D or /exit; returns the exit code.

    `loader` builds the REPL state on a thread started once the first prompt is drawn, so the
    prompt never waits for the config stack; it is given the terminal channel, to say things
    and to run what must run on this (the main) thread. A line typed meanwhile waits for it,
    and a loader error (a bad config) ends the loop with it. The loaded `on_ready` runs once
    the state is there; the `notices` are shown above the prompt.
    """
    terminal = PromptTerminal()
    holder = _StateHolder(terminal)
    session = make_prompt_session(holder, history_path=history_path, input=input, output=output)
    app = session.app

    def redraw() -> None:
        """From any thread: through the channel, as the app's loop may be closing meanwhile."""
        terminal.schedule(app.invalidate)

    def attach(loaded: ReplState, notices: Sequence[str], hook: Callable[[], None] | None) -> None:
        loaded.terminal = terminal
        loaded.redraw = redraw
        # Model names in its questions complete as after `/model`, with the same index.
        loaded.asker = PromptAsker(command_argument(holder.completer, "/model"))
        loaded.write_terminal = write_terminal
        loaded.runtime.refresher.on_progress = redraw
        loaded.say(notices)
        if hook is not None:
            hook()
        redraw()

    def write_terminal(data: str) -> None:
        """Bytes for the terminal itself (OSC 52), through the prompt's output."""
        app.output.write_raw(data)
        app.output.flush()

    def stop_with(error: BaseException) -> None:
        if app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=error)

    def load() -> None:
        try:
            prepared = loader(terminal)
        except BaseException as exc:  # handed to the main thread, which reports it
            error = exc
            started.set()
            holder.fail(error)  # wakes the REPL's thread
            terminal.schedule(lambda: stop_with(error))
            return
        holder.set(prepared.state)
        try:
            attach(prepared.state, prepared.notices, prepared.on_ready)
        finally:
            started.set()  # what it staged (`-a`) is known
            terminal.wake()
        terminal.schedule(complete_typed_command)

    started = threading.Event()  # the state is loaded and its start-up hook has run

    def started_state() -> ReplState | None:
        """The state once loaded and started (`-a` files staged or being read); None when the
        loading failed or Ctrl-C ended the wait."""
        start_loading()
        try:
            terminal.serve_until(started.is_set)
        except KeyboardInterrupt:
            return None
        return holder.state

    def complete_typed_command() -> None:
        """A command typed while loading gets its completions now that they can be made."""
        if app.is_running and app.current_buffer.text.startswith("/"):
            app.current_buffer.start_completion(select_first=False)

    loading: list[threading.Thread] = []

    def start_loading() -> None:
        if not loading:
            loading.append(threading.Thread(target=load, name="chatrepl-load", daemon=True))
            loading[0].start()

    def first_render(_app: object) -> None:
        app.after_render -= first_render
        start_loading()

    app.after_render += first_render
    loaded: ReplState | None = None
    warned_unsent = False  # the last Ctrl-D was answered with "attachments not sent"
    try:
        while loaded is None or not loaded.should_exit:
            default = ""
            if loaded is not None:  # what a command put back in the input line (/undo, /editor)
                default, loaded.next_input = loaded.next_input, ""
            line: str | None = None  # None: Ctrl-D
            try:
                line = session.prompt("› ", default=default, pre_run=terminal.prompt_started)
            except KeyboardInterrupt:
                continue
            except EOFError:
                pass
            finally:
                terminal.prompt_ended()
            if line is None:
                # Ctrl-D before the first line: what `-a` staged is known once started.
                current = loaded or started_state()
                if current is None or warned_unsent or not warn_unsent(current):
                    break
                warned_unsent = True
                continue
            warned_unsent = False
            start_loading()  # a line sent before the first prompt was ever drawn
            try:
                loaded = holder.wait()
            except KeyboardInterrupt:  # Ctrl-C while the config still loads: drop the line
                continue
            handle_line(loaded, line)
    finally:
        terminal.close()
    if holder.ready.is_set() and holder.state is not None:
        holder.state.runtime.refresher.on_progress = None
        if holder.state.history is not None:
            holder.state.history.close()  # what is queued is written before the run ends
    return 0
