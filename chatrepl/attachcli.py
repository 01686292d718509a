"""Attachments on the command line: `-a PATH`, text piped to stdin with a prompt, `@path` in
the prompt; and the terminal the REPL reads after `-i` when stdin was a pipe."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chatrepl.attachments import Attachment, read_piped
from chatrepl.attachpaths import load_paths
from chatrepl.attachtray import at_paths
from chatrepl.errors import UsageError

if TYPE_CHECKING:
    from prompt_toolkit.input import Input

TTY_PATH = "/dev/tty"


def one_shot_attachments(args: argparse.Namespace, prompt_from_words: bool, stdin: TextIO,
                         stdin_isatty: bool, prompt: str, cwd: Path | None = None,
                         ) -> list[Attachment]:
    """Piped stdin (when the prompt came from argv), then `-a` paths, then the prompt's
    `@path` files. AttachmentError (one line, exit 2) when one cannot be read."""
    base = Path.cwd() if cwd is None else cwd
    items: list[Attachment] = []
    if prompt_from_words and not stdin_isatty:
        piped = read_piped(stdin)
        if piped is not None:
            items.append(piped)
    words = [*getattr(args, "attach", []), *at_paths(prompt, base)]
    if words:
        items += load_paths(words, base).items
    return items


def terminal_input(stdin_isatty: bool, path: str = TTY_PATH) -> Input | None:
    """The REPL's keyboard: None (stdin) when stdin is a terminal, else the controlling
    terminal opened anew. UsageError when there is none (`-i` in a pipeline without one)."""
    if stdin_isatty:
        return None
    from prompt_toolkit.input import create_input

    try:
        tty: Any = open(path, encoding="utf-8")  # noqa: SIM115 (the REPL reads it until exit)
    except OSError as exc:
        raise UsageError(f"-i needs a terminal to read keys from ({path}: "
                         f"{exc.strerror or exc})") from None
    if not tty.isatty():
        tty.close()
        raise UsageError(f"-i needs a terminal to read keys from ({path} is not one)")
    return create_input(stdin=tty)
