"""`/attach` and `/detach`, registered on the slash command registry, and the completion of
paths: after `/attach `, and after `@` anywhere in a message (prompt_toolkit's PathCompleter)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from chatrepl.attachments import MAX_TOTAL_BYTES, size_text
from chatrepl.attachpaths import MAX_DIR_BYTES, MAX_DIR_FILES
from chatrepl.attachtray import describe
from chatrepl.commandoutput import COMMAND_SECONDS, MAX_COMMAND_BYTES, run_command
from chatrepl.commands import split_arguments
from chatrepl.errors import UsageError
from chatrepl.replstate import ReplState
from chatrepl.sanitize import clean, clean_line
from chatrepl.slash_commands import command
from chatrepl.wording import plural


def _word_before(document: Document) -> str:
    text = document.text_before_cursor
    return "" if not text or text[-1].isspace() else text.split()[-1]


class PathWordCompleter(Completer):
    """Completes the word before the cursor as a path (`~` expanded); after `prefix` only."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        word = _word_before(document)
        if self._prefix:
            if not word.startswith(self._prefix):
                return
            word = word[len(self._prefix):]
        elif word.startswith("!") or document.text_before_cursor.lstrip().startswith("!"):
            return
        try:
            yield from self._paths.get_completions(Document(word, len(word)), complete_event)
        except OSError:  # a folder that cannot be listed: nothing to offer
            return


def at_path_completer() -> Completer:
    """`@path` in a message: Tab completes the path after `@`."""
    return PathWordCompleter("@")


def _attach_paths(state: ReplState) -> Completer:
    return PathWordCompleter()


ATTACH_HELP = (f"attach files, globs, folders (text files, at most {MAX_DIR_FILES} files,"
               f" {size_text(MAX_DIR_BYTES)}), images, PDFs or !COMMAND's output to your next"
               " message; alone: list")


@command("/attach", help=ATTACH_HELP, usage="/attach [PATH... | !COMMAND]",
         completer=_attach_paths)
def _attach(state: ReplState, argument: str) -> None:
    tray = state.attachments
    if not argument:
        _list(state)
        return
    if argument.startswith("!"):
        state.printer.info(f"running {clean(argument[1:].strip())} (Ctrl-C stops it; at most"
                           f" {COMMAND_SECONDS:g} s, {size_text(MAX_COMMAND_BYTES)})…")
        try:
            item = run_command(argument[1:])
        except KeyboardInterrupt:
            state.printer.info("[stopped] nothing attached")
            return
        tray.add([item])
        state.printer.info(f"attached {clean(describe(item))}")
        state.printer.info(tray.waiting_line())
        state.redraw()
        return
    words = split_arguments(argument)

    def report(lines: Iterable[str], error: bool) -> None:
        state.say([clean(line) for line in lines], error=error)

    tray.start_paths(words, Path.cwd(), report, state.redraw)
    state.redraw()


def _list(state: ReplState) -> None:
    tray = state.attachments
    items = tray.items
    loading = tray.loading()
    if not items and not loading:
        state.printer.line("nothing staged; /attach PATH, /attach !COMMAND or @path in a message")
        return
    for number, item in enumerate(items, 1):
        state.printer.line(clean(f"{number}. {describe(item)}"))
    if loading:
        state.printer.info(f"still reading {loading} more…")
    total = sum(item.size for item in items)
    state.printer.info(f"{size_text(total)} of the {size_text(MAX_TOTAL_BYTES)} a message may"
                       " carry; they go with your next message (/detach N drops one)")


@command("/detach", help="drop staged attachment N, or all of them", usage="/detach [N]")
def _detach(state: ReplState, argument: str) -> None:
    number: int | None = None
    if argument:
        try:
            number = int(argument)
        except ValueError:
            raise UsageError("usage: /detach [N] (N as /attach lists them)") from None
    pending = state.attachments.drop_loading() if number is None else 0
    dropped = state.attachments.drop(number)
    if pending:
        state.printer.info(f"dropped {plural(pending, 'read')} still running")
    elif not dropped:
        state.printer.info("nothing was staged")
    for item in dropped:
        state.printer.info(f"dropped {clean_line(item.name)}")
    state.redraw()
