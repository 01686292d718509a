"""Draw a comparison: replies side by side in columns, or in stacked sections, updated in place.

The main thread owns the terminal: `CompareView.add(event)` takes what a worker handed over
(`compare.CompareEvent`) and `draw()` redraws the frame (called by `run_comparison`'s tick, at
most every TICK_SECONDS). Every piece of model text is cleaned (`sanitize.clean`) and broken
between words to its column's width (`wordwrap.cells` measures it); a word longer than a
column is cut. On a terminal the live frame keeps to the screen's height (each reply shows its last
rows) and is redrawn in place; `finish()` replaces it with the whole replies and their figures.
Elsewhere (a pipe, a test) only `finish()` writes: each reply in its own section.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TextIO

from chatrepl.compare import Answer, CompareEvent, Comparison, Contender, Figures
from chatrepl.modelinfo import format_cost
from chatrepl.render import DIM, RED, RESET, is_terminal
from chatrepl.sanitize import clean
from chatrepl.wordwrap import cells

GAP = " │ "
MIN_COLUMN = 24  # narrower than this, replies are stacked instead of side by side
TAB = "    "
BOLD = "\x1b[1m"


_PIECES = re.compile(r" +|[^ ]+")


def wrap_rows(line: str, width: int) -> list[tuple[int, int]]:
    """(start, end) of each row of one line (no newline, no tab) at `width` columns: broken
    between words (the spaces there dropped), a word longer than a row cut. A row ends where
    the text that follows it cannot change it, so rows laid out as text arrives are final."""
    rows: list[tuple[int, int]] = []
    row_start = column = 0
    space: tuple[int, int] | None = None  # the spaces before the next word
    for match in _PIECES.finditer(line):
        start, end = match.span()
        if line[start] == " ":
            if start == row_start == 0:  # the line's own indent
                column = min(width, end - start)
            else:
                space = (start, end)
            continue
        gap = space[1] - space[0] if space is not None and column else 0
        size = cells(line[start:end])
        if column and column + gap + size > width:
            rows.append((row_start, space[0] if space is not None else start))
            row_start, column, gap = start, 0, 0
        space = None
        if column + gap + size <= width:
            column += gap + size
            continue
        for index in range(start, end):  # longer than a row: cut
            char = cells(line[index])
            if column + char > width and index > row_start:
                rows.append((row_start, index))
                row_start, column = index, 0
            column += char
    rows.append((row_start, len(line)))
    return rows


def pad(text: str, width: int) -> str:
    """`text` filled with spaces to `width` columns."""
    return text + " " * max(0, width - cells(text))


def fit(text: str, width: int) -> str:
    """`text` cut to `width` columns (with `…` when cut)."""
    if cells(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        size = cells(ch)
        if used + size > width - 1:
            break
        out.append(ch)
        used += size
    return "".join(out) + "…"


class Panel:
    """One reply's text, kept as rows of a given width; rows before the last never change as
    text arrives, so only the last row is laid out again."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self._width = 0
        self._rows: list[str] = []
        self._tail = ""  # the text of the last row, laid out again as text arrives

    def add(self, text: str) -> None:
        text = clean(text).replace("\t", TAB)
        if not text:
            return
        self.text.append(text)
        if self._width:
            self._lay_out(text)

    def rows(self, width: int) -> list[str]:
        """All rows at `width` columns (the last one still growing)."""
        if width != self._width:
            self._width, self._rows, self._tail = width, [], ""
            self._lay_out("".join(self.text))
        rows = [*self._rows, self._tail] if self._tail else self._rows
        return [row.rstrip(" ") for row in rows]  # spaces at the end of a row show nothing

    def _lay_out(self, text: str) -> None:
        lines = (self._tail + text).split("\n")
        for line in lines[:-1]:
            self._rows += [line[a:b] for a, b in wrap_rows(line, self._width)]
        last = lines[-1]
        spans = wrap_rows(last, self._width)
        self._rows += [last[a:b] for a, b in spans[:-1]]
        self._tail = last[spans[-1][0]:]


def figures_text(figures: Figures) -> str:
    """`ttft 0.42s · 38.0 tok/s · 120 in · 45 out · $0.0012` (`~` marks estimated counts)."""
    parts = []
    if figures.first_token_seconds is not None:
        parts.append(f"ttft {figures.first_token_seconds:.2f}s")
    speed = figures.tokens_per_second
    if speed is not None:
        parts.append(f"{speed:.1f} tok/s")
    usage = figures.usage
    if usage is not None:
        mark = "~" if figures.estimated else ""
        parts += [f"{mark}{usage.prompt_tokens} in", f"{mark}{usage.completion_tokens} out"]
    cost = format_cost(figures.cost)
    if cost:
        parts.append(("~" if figures.estimated else "") + cost)
    parts.append(f"{figures.seconds:.2f}s")
    return " · ".join(parts)


def status_text(answer: Answer) -> str:
    """The line under a finished reply: its error, or its figures (and whether it was cut)."""
    if answer.error is not None:
        return f"error: {answer.error}"
    cut = "[interrupted] " if answer.interrupted else ""
    return cut + figures_text(answer.figures)


class CompareView:
    """The frame of a comparison being drawn to `out` (see the module docstring)."""

    def __init__(self, out: TextIO, contenders: Sequence[Contender], *, color: bool = False,
                 columns: Callable[[], int] | None = None, lines: Callable[[], int] | None = None,
                 live: bool | None = None) -> None:
        self.out = out
        self.contenders = list(contenders)
        self.color = color
        self.live = is_terminal(out) if live is None else live
        self._columns = columns or (lambda: _terminal_size(out)[0])
        self._lines = lines or (lambda: _terminal_size(out)[1])
        self.panels = [Panel() for _ in contenders]
        self.status = ["waiting…"] * len(contenders)
        self.errors = [False] * len(contenders)
        self._drawn = 0  # rows of the live frame on screen
        self._dirty = True

    # -- events ----------------------------------------------------------------------------
    def add(self, event: CompareEvent) -> None:
        """Take one worker event (on the main thread)."""
        index = event.index
        if event.kind == "content":
            self.panels[index].add(event.text)
            self.status[index] = "…"
        elif event.kind == "reasoning":
            if not self.panels[index].text:
                self.status[index] = "thinking…"
        elif event.kind == "failed":
            self.status[index] = f"error: {event.text}"
            self.errors[index] = True
        else:
            self.status[index] = "done"
        self._dirty = True

    # -- layout ----------------------------------------------------------------------------
    def width(self) -> int:
        return max(MIN_COLUMN, self._columns() - 1)  # never the last column: some terminals wrap

    def column_width(self, width: int) -> int | None:
        """The width of a column side by side, or None when the replies must be stacked."""
        count = len(self.panels)
        column = (width - len(GAP) * (count - 1)) // count
        return column if column >= MIN_COLUMN else None

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color and code and text.strip() else text

    def _header(self, index: int) -> str:
        return f"[{index + 1}] {clean(self.contenders[index].label)}"

    def _status_rows(self, index: int, width: int) -> list[str]:
        status = clean(self.status[index])
        return [status[a:b] for a, b in wrap_rows(status, width)] or [""]

    def frame(self, *, tail: int | None = None) -> list[str]:
        """The frame's lines; with `tail`, each reply shows only its last `tail` rows."""
        width = self.width()
        column = self.column_width(width)
        if column is None:
            return self._stacked(width, tail)
        return self._side_by_side(column, tail)

    def _side_by_side(self, column: int, tail: int | None) -> list[str]:
        count = len(self.panels)
        bodies = [p.rows(column) for p in self.panels]
        if tail is not None:
            bodies = [body[-tail:] if tail > 0 else [] for body in bodies]
        footers = [self._status_rows(i, column) for i in range(count)]
        height, foot = max(map(len, bodies), default=0), max(map(len, footers))

        def row(texts: list[str], styles: list[str] | None = None) -> str:
            parts = [pad(text, column) for text in texts]
            line = GAP.join(self._paint(styles[i] if styles else "", part)
                            for i, part in enumerate(parts))
            return line if self.color else line.rstrip()

        def nth(rows: list[list[str]], r: int) -> list[str]:
            return [panel[r] if r < len(panel) else "" for panel in rows]

        rule = row(["─" * column] * count)
        lines = [row([fit(self._header(i), column) for i in range(count)], [BOLD] * count), rule]
        lines += [row(nth(bodies, r)) for r in range(height)]
        lines.append(rule)
        styles = [RED if self.errors[i] else DIM for i in range(count)]
        lines += [row(nth(footers, r), styles) for r in range(foot)]
        return lines

    def _stacked(self, width: int, tail: int | None) -> list[str]:
        lines: list[str] = []
        for index, panel in enumerate(self.panels):
            lines.append(self._paint(BOLD, fit(f"── {self._header(index)} ", width)))
            body = panel.rows(width)
            if tail is not None:
                body = body[-tail:] if tail > 0 else []
            lines += body
            code = RED if self.errors[index] else DIM
            lines += [self._paint(code, row) for row in self._status_rows(index, width)]
        return lines

    def _live_tail(self) -> int:
        """How many rows of each reply the live frame shows so that it fits the screen."""
        rows = max(4, self._lines() - 2)
        if self.column_width(self.width()) is not None:
            return max(1, rows - 5)
        count = len(self.panels)
        return max(1, rows // count - 2)

    # -- drawing ---------------------------------------------------------------------------
    def draw(self) -> None:
        """Redraw the live frame in place when something changed (terminal only)."""
        if not self.live or not self._dirty:
            return
        self._dirty = False
        tail = self._live_tail()
        lines = self.frame(tail=tail)
        excess = len(lines) - max(4, self._lines() - 1)
        if excess > 0:  # long status lines: fewer rows of text
            lines = self.frame(tail=max(0, tail - excess))
        self._replace(lines)

    def finish(self, comparison: Comparison) -> None:
        """Write the whole replies with their figures, in place of the live frame."""
        for index, answer in enumerate(comparison.answers):
            self.status[index] = status_text(answer)
            self.errors[index] = answer.error is not None
        if self.live:
            self._replace(self.frame())
            self._drawn = 0
            return
        for index, panel in enumerate(self.panels):  # not a terminal: sections, text as it is
            self.out.write(f"== {self._header(index)} ==\n")
            text = "".join(panel.text)
            if text:
                self.out.write(text + ("" if text.endswith("\n") else "\n"))
            self.out.write(clean(self.status[index]) + "\n")
        self.out.flush()

    def _replace(self, lines: list[str]) -> None:
        up = f"\x1b[{self._drawn}F" if self._drawn else "\r"
        self.out.write(up + "\x1b[J" + "".join(line + "\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)


def _terminal_size(out: TextIO) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(out.fileno())
        return size.columns or 80, size.lines or 24
    except (OSError, ValueError, AttributeError):
        return 80, 24
