"""Streamed replies break between words at the terminal's edge, plain and Markdown."""

from __future__ import annotations

import io
import random
import threading

import pytest
from test_markdown_stream import Screen

from chatrepl.markdown_stream import MarkdownStream
from chatrepl.render import Printer
from chatrepl.wordwrap import WordWrapper, break_spans

TEXT = ("The quick brown fox jumps over the lazy dog and keeps running far away from here, "
        "past 漢字 fields and über-hyphenated words.\nA second paragraph\twith a tab and "
        "more words to wrap around the edge of a narrow terminal.")


def chunks_of(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 7)
        out.append(text[i:i + n])
        i += n
    return out


def assert_no_cut_words(screen: Screen, text: str) -> None:
    """No row was reached by the terminal's own wrap, and every word is on the screen whole."""
    assert not any(screen.continued)
    shown = screen.text()
    assert shown.split() == text.split()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("width", [20, 33, 40])
def test_plain_stream_breaks_between_words(width: int, seed: int) -> None:
    out = io.StringIO()
    printer = Printer(out, wrap=True, width=width)
    for chunk in chunks_of(TEXT, seed):
        printer.content(chunk)
    printer.finish_stream()
    screen = Screen(width)
    screen.feed(out.getvalue())
    assert_no_cut_words(screen, TEXT)


def _shows_within_a_frame(printer: Printer, out: io.StringIO, text: str) -> bool:
    """True once the frame timer's flush has written `text` (waited for, at most 5 s)."""
    released = threading.Event()
    original = printer.flush

    def flush_and_signal() -> None:
        original()
        if text in out.getvalue():
            released.set()

    printer.flush = flush_and_signal  # type: ignore[method-assign]
    return released.wait(timeout=5)


def test_the_first_token_shows_at_once_and_a_held_word_within_a_frame() -> None:
    out = io.StringIO()
    printer = Printer(out, wrap=True, width=40)
    printer.content("Hello")
    assert out.getvalue() == "Hello"  # a word at the start of a row is never held
    printer.content(" wor")  # may still grow: held until a space, a newline or the frame timer
    assert _shows_within_a_frame(printer, out, "wor")
    assert out.getvalue() == "Hello wor"
    printer.content("ld\n")
    printer.finish_stream()
    assert out.getvalue() == "Hello world\n"


def test_a_word_longer_than_the_row_is_cut_by_the_terminal_only() -> None:
    wrapper = WordWrapper(lambda: 10)
    out = wrapper.feed("ab ") + wrapper.feed("abcdefghijklmnop ") + wrapper.feed("x") + wrapper.flush()
    assert out == "ab\nabcdefghijklmnop x"
    assert wrapper.rows == 3 and wrapper.column == 8  # "ab", then the word over two rows


def test_break_spans_of_a_whole_line() -> None:
    assert break_spans("short", 20) == []
    assert break_spans("The quick brown fox jumps over the lazy dog", 20) == [(19, 20), (39, 40)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("width", [24, 40])
def test_markdown_stream_breaks_raw_and_styled_lines_between_words(width: int, seed: int) -> None:
    doc = ("# A heading long enough to need more than one row here\n"
           "Some **bold words** and `code spans` and a [link](https://example.com/x) in a long "
           "paragraph that wraps.\n- a list item that is long enough to wrap over rows\n"
           "> a quoted line that also runs past the edge of the terminal\n"
           "```python\nx = 1\n```\nplain closing line with several words in it")
    out: list[str] = []
    md = MarkdownStream(out.append, width=lambda: width, wrap=True)
    for chunk in chunks_of(doc, seed):
        md.feed(chunk)
    md.finish()
    assert md.last_error is None
    screen = Screen(width)
    screen.feed("".join(out))
    assert not any(screen.continued)
    shown = screen.text()
    for word in ("heading", "bold", "paragraph", "wraps.", "quoted", "terminal",
                 "closing", "several"):
        assert shown.split().count(word) == 1, word  # restyled in place: no leftovers
    assert "(https://example.com/x)" in shown


def test_with_markdown_a_word_without_a_space_yet_shows_within_a_frame() -> None:
    """A URL streamed in pieces, with no space for seconds: shown as it comes, not held until
    the space."""
    out = io.StringIO()
    printer = Printer(out, color=True, wrap=True, width=60)
    printer.content("See ")
    printer.content("https://example.com/")
    assert _shows_within_a_frame(printer, out, "example.com")
    printer.content("very/long ")
    printer.finish_stream()
    screen = Screen(60)
    screen.feed(out.getvalue())
    assert "See https://example.com/very/long" in screen.text()
