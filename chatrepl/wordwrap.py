"""Break streamed text between words at the terminal's edge, instead of letting it cut words.

`WordWrapper` lays out text as it streams: a line that would run past the width is ended before
the word that does not fit (the spaces there become the line end). A word still arriving at the
end of a chunk is held until a space or newline shows where it ends, or until `flush()`; a word
at the start of a row is written at once (it cannot go anywhere better), so the first token of a
reply is never held. `break_spans` does the same for a whole line (styled Markdown lines).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_TOKENS = re.compile(r"\n|[ \t]+|[^ \t\n]+")
_SPACE_RUNS = re.compile(r"[ \t]+")
TAB = 8


def cells(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _space_cells(space: str, column: int) -> int:
    if "\t" not in space:
        return len(space)
    end = column
    for ch in space:
        end = (end // TAB + 1) * TAB if ch == "\t" else end + 1
    return end - column


def break_spans(text: str, width: int, column: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each run of spaces in one line `text` (no newline) to replace by a line
    end so that no word is cut at `width` columns, written from `column`."""
    spans: list[tuple[int, int]] = []
    if width <= 0 or column + cells(text) <= width:
        return spans
    pos = 0
    for m in _SPACE_RUNS.finditer(text):
        word = text[pos:m.start()]
        column += cells(word)
        if word and column > width:  # a word longer than a row: the terminal cuts it
            column = (column - 1) % width + 1
        following = re.match(r"[^ \t]*", text[m.end():])
        nxt = cells(following.group(0)) if following else 0
        space = _space_cells(m.group(0), column)
        if column > 0 and nxt and column + space + nxt > width:
            spans.append((m.start(), m.end()))
            column = 0
        else:
            column += space
        pos = m.end()
    return spans


class WordWrapper:
    """Streamed text in, text to write out now; keeps the column and the rows of the line."""

    def __init__(self, width: Callable[[], int]) -> None:
        self._width = width
        self.column = 0
        self.rows = 1  # rows the current line (since the last newline) takes on the screen
        self._held = ""  # trailing spaces and a word still arriving: not written yet
        self._glued = False  # the last thing written was part of a word (a flushed partial one)
        self._cols = 0  # the width, asked again on each new line

    @property
    def held(self) -> str:
        return self._held

    def reset(self) -> None:
        """Forget the line (the caller moved the cursor to a new line itself); drop held text."""
        self.column, self.rows, self._held, self._glued, self._cols = 0, 1, "", False, 0

    def feed(self, text: str) -> str:
        """What to write now for `text`."""
        if self._held:
            text = self._held + text
        newline = text.rfind("\n") + 1
        last_space = text.rfind(" ") + 1
        if "\t" in text:
            last_space = max(last_space, text.rfind("\t") + 1)
        if last_space <= newline:  # no space after the last newline: the text ends in a word
            if newline or self.column == 0 or self._glued:
                self._held = ""  # a word at the start of a row, or going on: write it now
                return self._lay_out(text)
            self._held = text
            return ""
        cut = len(text[:last_space].rstrip(" \t"))
        cut = max(cut, newline)
        self._held = text[cut:]
        return self._lay_out(text[:cut]) if cut else ""

    def flush(self) -> str:
        """The held text, laid out as if its word were complete."""
        held, self._held = self._held, ""
        return self._lay_out(held) if held else ""

    def _lay_out(self, text: str) -> str:
        width = self._cols or self._width()
        self._cols = width
        if "\n" not in text and "\t" not in text and text.isascii() \
                and self.column + len(text) <= width:
            self.column += len(text)
            self._glued = not text[-1:].isspace() if text else self._glued
            return text
        out: list[str] = []
        space = ""
        for m in _TOKENS.finditer(text):
            token = m.group(0)
            if token == "\n":
                if space and self.column + _space_cells(space, self.column) <= width:
                    out.append(space)
                out.append("\n")
                self.column, self.rows, space, self._glued, self._cols = 0, 1, "", False, 0
            elif token[0] in " \t":
                space = token
                self._glued = False
            else:
                size = cells(token)
                gap = _space_cells(space, self.column) if space else 0
                if self.column > 0 and not self._glued and self.column + gap + size > width:
                    out.append("\n")
                    self.column = 0
                    self.rows += 1
                else:
                    out.append(space)
                    self.column += gap
                out.append(token)
                space = ""
                self.column += size
                if self.column > width > 0:  # longer than the row: the terminal cuts the word
                    self.rows += (self.column - 1) // width
                    self.column = (self.column - 1) % width + 1
                self._glued = True
        if space:  # only when the text ends in spaces (a flush): written if they fit
            gap = _space_cells(space, self.column)
            if self.column + gap <= width:
                out.append(space)
                self.column += gap
            self._glued = False
        return "".join(out)
