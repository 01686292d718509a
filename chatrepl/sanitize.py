"""Make text from outside safe to put on a terminal.

Model output, model ids, provider and catalog text, error messages and saved sessions may carry
control characters: an escape sequence can write the clipboard (OSC 52), retitle the window,
clear the screen or draw a fake prompt; bidi overrides can make text read differently from what
it is. `clean` drops them all, so every character left is shown as itself. Each character is
judged alone, so a sequence split across streamed chunks is neutralised too.

Dropped: C0 controls except tab and newline (so CR, BS and ESC go), DEL, C1 controls, and the
Unicode bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
"""

from __future__ import annotations

from typing import Any, TextIO

UNSAFE: dict[int, None] = dict.fromkeys([
    *range(0x00, 0x09), *range(0x0B, 0x20),  # C0 but tab (0x09) and newline (0x0A)
    *range(0x7F, 0xA0),                      # DEL and C1
    *range(0x202A, 0x202F),                  # bidi embeddings and overrides
    *range(0x2066, 0x206A),                  # bidi isolates
])


def clean(text: str) -> str:
    """`text` without terminal controls and bidi overrides (tab and newline are kept)."""
    if text.isprintable():  # the fast path: no control, format or separator character at all
        return text
    return text.translate(UNSAFE)


def clean_line(text: str) -> str:
    """`text` cleaned and kept on one line: a newline shows as `\\n`, a tab as a space (a
    file name that holds them)."""
    return clean(text).replace("\n", "\\n").replace("\t", " ")


class CleanStream:
    """A text stream whose every write is cleaned: for output that is all outside text
    (subcommand listings, one-line errors), never for a Printer's own styled output."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(clean(text))

    @property
    def wrapped(self) -> TextIO:
        """The stream written to, for a writer that cleans outside text itself."""
        return self._stream

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream, name)
