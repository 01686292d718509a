"""Everything chatrepl writes to the terminal goes through a Printer.

Every text method cleans its text (see `sanitize`): what is printed may come from a server, a
model, a catalog or a file. The Printer adds its own styling codes after cleaning, so a caller
never passes escape codes in and nothing from outside can carry one.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from typing import TextIO

from chatrepl.markdown_stream import MarkdownStream
from chatrepl.sanitize import clean
from chatrepl.wordwrap import WordWrapper

DIM, RED, YELLOW, RESET = "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
REASONING_LABEL = "thinking: "
# Streamed text is written at once when nothing was written for this long, else gathered and
# written within this long: one write per frame instead of one per chunk.
STREAM_FLUSH_SECONDS = 0.016


def wants_truecolor(env: Mapping[str, str]) -> bool:
    return env.get("COLORTERM", "") in ("truecolor", "24bit")


def wants_color(stream: TextIO, env: Mapping[str, str], plain: bool) -> bool:
    """Colour only for a terminal, and never with --plain or NO_COLOR."""
    if plain or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Printer:
    """Writes messages and streamed replies; reasoning is shown dimmed, labelled and kept apart.

    Streamed text goes out at once after a pause (the first token is never held back), and
    otherwise at most every STREAM_FLUSH_SECONDS; a timer writes what is held when the stream
    stalls. Every other write first writes what is held. On a terminal (`wrap`, default: when
    `out` is one) streamed text is broken between words at the right edge (`width` fixes the
    width instead of asking the terminal).

    `reasoning_to_err` sends reasoning to `err` (one-shot: stdout holds only the answer).
    `err_color` is whether `err` gets colour (default: as `out`).
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None,
                 color: bool = False, *, markdown: bool = True, truecolor: bool = False,
                 err_color: bool | None = None, reasoning_to_err: bool = False,
                 wrap: bool | None = None, width: int | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or self.out
        self.color = color
        self._fixed_width = width
        self.err_color = color if err_color is None else err_color
        self._reasoning_to_err = reasoning_to_err and self.err is not self.out
        self._in_reasoning = False
        self._reasoning_open = False  # the reasoning's last line has no newline yet
        self._line_open = False
        self._held: list[str] = []
        self._held_to: TextIO = self.out
        self._held_layout = False
        self._held_lock = threading.RLock()
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self._markdown: MarkdownStream | None = None
        if wrap is None:
            wrap = is_terminal(self.out)
        self._wrappers: dict[int, WordWrapper] = {}
        if wrap:
            self._wrappers[id(self.out)] = WordWrapper(self.columns)
            if self._reasoning_to_err:
                self._wrappers[id(self.err)] = WordWrapper(self._err_columns)
        if color and markdown:
            self._markdown = MarkdownStream(self._stream, width=self.columns, wrap=wrap,
                                            color_system="truecolor" if truecolor else "256")

    @staticmethod
    def _size(stream: TextIO) -> int:
        try:
            return os.get_terminal_size(stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def columns(self) -> int:
        """The width of the terminal `out` writes to (80 when it is not a terminal)."""
        return self._fixed_width or self._size(self.out)

    def _err_columns(self) -> int:
        return self._fixed_width or self._size(self.err)

    # -- writing ---------------------------------------------------------------------------

    def _colored(self, stream: TextIO | None) -> bool:
        return self.err_color if stream is self.err and stream is not self.out else self.color

    def _paint(self, code: str, text: str, stream: TextIO | None = None) -> str:
        return f"{code}{text}{RESET}" if self._colored(stream) else text

    def _write(self, text: str, stream: TextIO | None = None) -> None:
        self.flush()
        target = stream or self.out
        target.write(text)
        target.flush()

    def _stream(self, text: str, stream: TextIO | None = None, *, layout: bool = False) -> None:
        """Streamed text: written now after a pause, else held for at most one frame.

        `layout`: clean text to break between words (on a terminal) when it is written; without
        it the text is written as it is (styled text, laid out already).
        """
        target = stream or self.out
        with self._held_lock:
            if target is not self._held_to or layout is not self._held_layout:
                self._flush_held(time.monotonic())
                self._held_to, self._held_layout = target, layout
            self._held.append(text)
            now = time.monotonic()
            if now - self._last_flush >= STREAM_FLUSH_SECONDS:
                self._flush_held(now)
            elif self._timer is None:
                self._start_timer()

    def _start_timer(self) -> None:
        self._timer = threading.Timer(STREAM_FLUSH_SECONDS, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    def _text(self, text: str, stream: TextIO) -> None:
        """Clean streamed text: broken between words on a terminal (once per frame)."""
        self._stream(text, stream, layout=True)

    def _release_words(self, stream: TextIO) -> None:
        """Write held text and the word a wrapper holds back (the line is ending or the stream
        stalled)."""
        with self._held_lock:
            self._flush_held(time.monotonic())
            wrapper = self._wrappers.get(id(stream))
            if wrapper is not None and wrapper.held:
                stream.write(wrapper.flush())
                stream.flush()

    def _on_timer(self) -> None:
        with self._held_lock:
            self._timer = None
            for stream in (self.out, self.err):
                self._release_words(stream)
            if self._markdown is not None:
                self._markdown.release()
        self.flush()

    def _flush_held(self, now: float) -> None:
        if self._held:
            text = "".join(self._held)
            self._held.clear()
            wrapper = self._wrappers.get(id(self._held_to)) if self._held_layout else None
            if wrapper is not None:
                text = wrapper.feed(text)
                if wrapper.held and self._timer is None:
                    self._start_timer()  # a word held back still shows within a frame
            if text:
                self._held_to.write(text)
                self._held_to.flush()
                self._last_flush = now

    def flush(self) -> None:
        """Write any held streamed text."""
        with self._held_lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            self._flush_held(time.monotonic())

    # -- messages ----------------------------------------------------------------------------

    def _fold(self, text: str, stream: TextIO) -> str:
        """`text` broken between words to the width of `stream` when it is a terminal (a
        message is never cut inside a word by the terminal's own wrapping)."""
        if not is_terminal(stream):
            return text
        width = max(20, (self._fixed_width or self._size(stream)) - 1)
        if all(len(line) <= width for line in text.split("\n")):
            return text
        return "\n".join(textwrap.fill(line, width, break_long_words=False,
                                        break_on_hyphens=False) if line else line
                         for line in text.split("\n"))

    def line(self, text: str = "") -> None:
        self.finish_stream()
        self._write(clean(text) + "\n")

    def info(self, text: str) -> None:
        self.finish_stream()
        self._write(self._paint(DIM, self._fold(clean(text), self.out)) + "\n")

    def warning(self, text: str) -> None:
        self.finish_stream()
        folded = self._fold(f"warning: {clean(text)}", self.err)
        self._write(self._paint(YELLOW, folded, self.err) + "\n", self.err)

    def error(self, text: str) -> None:
        self.finish_stream()
        folded = self._fold(f"error: {clean(text)}", self.err)
        self._write(self._paint(RED, folded, self.err) + "\n", self.err)

    def err_line(self, text: str, *, dim: bool = False) -> None:
        """One line on `err` as it is (`chatrepl: ...` of one-shot runs), dimmed if asked."""
        self.finish_stream()
        text = clean(text)
        self._write((self._paint(DIM, text, self.err) if dim else text) + "\n", self.err)

    # -- a streamed reply --------------------------------------------------------------------

    def reasoning(self, text: str) -> None:
        """Thinking text: after a `thinking:` label, dimmed, on a line of its own."""
        text = clean(text)
        if not text:
            return
        target = self.err if self._reasoning_to_err else self.out
        if not self._in_reasoning:
            if self._markdown is not None and self._markdown.pending:
                with self._held_lock:
                    self._markdown.finish(end_of_reply=False)
            elif target is self.out and self._line_open:
                self._release_words(self.out)
                self._text("\n", self.out)
            self._line_open = False
            if self._colored(target):
                self._stream(DIM, target)
            self._text(REASONING_LABEL, target)
            self._in_reasoning = True
        self._text(text, target)
        self._reasoning_open = not text.endswith("\n")

    def _end_reasoning(self) -> None:
        """Close the reasoning: its words written, the dimming reset, its line ended."""
        target = self.err if self._reasoning_to_err else self.out
        self._release_words(target)
        if self._colored(target):
            self._stream(RESET, target)
        if self._reasoning_open:
            self._text("\n", target)
        wrapper = self._wrappers.get(id(target))
        if wrapper is not None:
            wrapper.reset()
        self._in_reasoning = self._reasoning_open = False

    def content(self, text: str) -> None:
        """Answer text: Markdown styled when colour is on, else as it comes (cleaned)."""
        if self._in_reasoning:
            self._end_reasoning()
        if self._markdown is not None:
            with self._held_lock:  # the frame timer may release a held word meanwhile
                self._markdown.feed(text)  # it cleans the text before styling
                if self._markdown.holds_word and self._timer is None:
                    self._start_timer()  # a word held back still shows within a frame
            self._line_open = self._markdown.pending
            return
        text = clean(text)
        self._text(text, self.out)
        self._line_open = not text.endswith("\n") if text else self._line_open

    def finish_stream(self) -> None:
        """End a streamed reply's last line, once."""
        if self._in_reasoning:
            self._end_reasoning()
        elif self._markdown is not None:
            with self._held_lock:
                self._markdown.finish()
        else:
            self._release_words(self.out)
            if self._line_open:
                self._text("\n", self.out)
        wrapper = self._wrappers.get(id(self.out))
        if wrapper is not None:
            wrapper.reset()
        self.flush()
        self._line_open = False
