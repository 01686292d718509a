"""Everything chatrepl writes to the terminal goes through a Printer."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from chatrepl.markdown_stream import MarkdownStream


DIM, RED, YELLOW, RESET = "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
# Streamed text is written at once when nothing was written for this long, else gathered and
# written within this long: one write per frame instead of one per chunk.
STREAM_FLUSH_SECONDS = 0.016


def wants_truecolor(env: Mapping[str, str]) -> bool:
    return env.get("COLORTERM", "") in ("truecolor", "24bit")


def wants_color(stream: TextIO, env: Mapping[str, str], plain: bool) -> bool:
    """Colour only for a terminal, and never with --plain or NO_COLOR."""
    if plain or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Printer:
    """Writes messages and streamed replies; reasoning is shown dimmed and kept apart.

    Streamed text goes out at once after a pause (the first token is never held back), and
    otherwise at most every STREAM_FLUSH_SECONDS; a timer writes what is held when the stream
    stalls. Every other write first writes what is held.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None,
                 color: bool = False, *, markdown: bool = True, truecolor: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or self.out
        self.color = color
        self._in_reasoning = False
        self._line_open = False
        self._held: list[str] = []
        self._held_lock = threading.Lock()
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self._markdown: MarkdownStream | None = None
        if color and markdown:
            from chatrepl.markdown_stream import MarkdownStream

            self._markdown = MarkdownStream(self._stream, width=self._columns,
                                            color_system="truecolor" if truecolor else "256")

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 80

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def _write(self, text: str, stream: TextIO | None = None) -> None:
        self.flush()
        target = stream or self.out
        target.write(text)
        target.flush()

    def _stream(self, text: str) -> None:
        """Streamed reply text: written now after a pause, else held for at most one frame."""
        with self._held_lock:
            self._held.append(text)
            now = time.monotonic()
            if now - self._last_flush >= STREAM_FLUSH_SECONDS:
                self._flush_held(now)
            elif self._timer is None:
                self._timer = threading.Timer(STREAM_FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush_held(self, now: float) -> None:
        if self._held:
            self.out.write("".join(self._held))
            self._held.clear()
            self.out.flush()
        self._last_flush = now

    def flush(self) -> None:
        """Write any held streamed text."""
        with self._held_lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            self._flush_held(time.monotonic())

    def line(self, text: str = "") -> None:
        self.finish_stream()
        self._write(text + "\n")

    def info(self, text: str) -> None:
        self.finish_stream()
        self._write(self._paint(DIM, text) + "\n")

    def warning(self, text: str) -> None:
        self.finish_stream()
        self._write(self._paint(YELLOW, f"warning: {text}") + "\n", self.err)

    def error(self, text: str) -> None:
        self.finish_stream()
        self._write(self._paint(RED, f"error: {text}") + "\n", self.err)

    def reasoning(self, text: str) -> None:
        if self._markdown is not None and self._markdown.pending:
            self._markdown.finish()
        if not self._in_reasoning:
            self._stream(self._paint(DIM, "thinking: "))
            self._in_reasoning = True
        self._stream(self._paint(DIM, text))
        self._line_open = True

    def content(self, text: str) -> None:
        if self._in_reasoning:
            self._stream("\n")
            self._in_reasoning = False
        if self._markdown is not None:
            self._markdown.feed(text)
            self._line_open = self._markdown.pending
            return
        self._stream(text)
        self._line_open = not text.endswith("\n") if text else self._line_open

    def finish_stream(self) -> None:
        """End a streamed reply's last line, once."""
        if self._in_reasoning and self._line_open:
            self._write("\n")
        elif self._markdown is not None:
            self._markdown.finish()
        elif self._line_open:
            self._write("\n")
        self.flush()
        self._line_open = False
        self._in_reasoning = False
