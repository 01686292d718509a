"""MarkdownStream: raw text at once, finished lines restyled in place, nothing else rewritten."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import get_character_cell_size

from chatrepl.markdown_stream import MarkdownStream

CSI = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")
SGR = re.compile(r"\x1b\[[0-9;]*m")
ERASE = "\x1b[J"


def make(width: int = 80, color_system: str = "256") -> tuple[MarkdownStream, list[str]]:
    out: list[str] = []
    return MarkdownStream(out.append, width=lambda: width, color_system=color_system), out


def stream(text: str, chunks: list[str] | None = None, width: int = 80) -> str:
    md, out = make(width)
    for chunk in chunks if chunks is not None else [text]:
        md.feed(chunk)
    md.finish()
    assert md.last_error is None
    return "".join(out)


class Screen:
    """Just enough of a terminal: auto-wrap with pending wrap, CR, LF (as CR LF), TAB, CUU, ED, SGR."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[list[str]] = [[]]
        self.continued: list[bool] = [False]  # row was reached by auto-wrap, not by a newline
        self.r = self.c = 0
        self.pending = False

    def _row(self, r: int, continued: bool) -> None:
        while len(self.rows) <= r:
            self.rows.append([])
            self.continued.append(False)
        self.continued[r] = continued

    def _put(self, ch: str, size: int) -> None:
        row = self.rows[self.r]
        while len(row) < self.c + size:
            row.append(" ")
        row[self.c:self.c + size] = [ch] + [""] * (size - 1)  # a wide character fills two cells

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            m = CSI.match(data, i)
            if m:
                arg, cmd = m.groups()
                if cmd == "A":
                    self.r = max(0, self.r - int(arg or 1))
                    self.pending = False
                elif cmd == "J":
                    del self.rows[self.r][self.c:]
                    del self.rows[self.r + 1:]
                    del self.continued[self.r + 1:]
                i = m.end()
                continue
            ch = data[i]
            i += 1
            if ch == "\r":
                self.c, self.pending = 0, False
            elif ch == "\n":
                self.r, self.c, self.pending = self.r + 1, 0, False
                self._row(self.r, False)
            elif ch == "\t":
                self.c = self.width - 1 if self.pending else min(self.width - 1, (self.c // 8 + 1) * 8)
                self.pending = False
            else:
                size = get_character_cell_size(ch)
                if size == 0:
                    continue
                if self.pending or (self.c + size > self.width and self.c):
                    self.r, self.c, self.pending = self.r + 1, 0, False
                    self._row(self.r, True)
                self._put(ch, size)
                self.c += size
                if self.c >= self.width:
                    self.c, self.pending = self.width - 1, True

    def text(self) -> str:
        """The screen as logical lines: wrapped rows joined back together."""
        lines: list[str] = []
        for row, continued in zip(self.rows, self.continued, strict=True):
            cells = "".join(row)
            if continued and lines:
                lines[-1] += cells
            else:
                lines.append(cells)
        return "\n".join(line.rstrip(" ") for line in lines)


def screen(data: str, width: int = 80) -> str:
    term = Screen(width)
    term.feed(data)
    return term.text()


# --- the stream's bytes ---------------------------------------------------------------------------


def test_partial_text_is_written_at_once() -> None:
    md, out = make()
    md.feed("Hel")
    assert out == ["Hel"]
    md.feed("lo")
    assert out == ["Hel", "lo"]
    assert md.pending


def test_plain_line_is_not_rewritten() -> None:
    md, out = make()
    for chunk in ["a snake_case", "_name, well-", "known; 3 ", "- 2 = 1\n", "next"]:
        md.feed(chunk)
    assert "".join(out) == "a snake_case_name, well-known; 3 - 2 = 1\nnext"
    md.finish()
    assert "".join(out) == "a snake_case_name, well-known; 3 - 2 = 1\nnext\n"
    assert "\x1b" not in "".join(out)


def test_heading_is_rewritten_styled_on_newline() -> None:
    md, out = make()
    md.feed("## Ti")
    md.feed("tle")
    assert out == ["## Ti", "tle"]
    md.feed("\nbody")
    rewrite = out[2]
    assert rewrite.startswith("\r" + ERASE)  # one row: no cursor-up
    assert "\x1b[1m" in rewrite and "Title" in rewrite
    assert rewrite.endswith("\nbody")
    assert screen("".join(out)) == "## Title\nbody"


def test_only_the_current_line_is_erased() -> None:
    md, out = make()
    md.feed("plain one\nplain two\n**bo")
    md.feed("ld**\n")
    assert out[-1] == f"\r{ERASE}\x1b[1mbold\x1b[0m\n"
    assert screen("".join(out)) == "plain one\nplain two\nbold\n"


def test_a_line_completed_within_one_chunk_is_written_styled_without_erasing() -> None:
    assert stream("# Hi\n").startswith("\x1b[")  # nothing raw was shown, so nothing to erase
    assert ERASE not in stream("# Hi\n")


@pytest.mark.parametrize(("length", "width", "up"), [(25, 10, 2), (20, 10, 1), (10, 10, 0), (11, 10, 1)])
def test_wrapped_raw_line_erases_every_row_it_took(length: int, width: int, up: int) -> None:
    md, out = make(width)
    heading = "# " + "x" * (length - 2)
    md.feed(heading)
    md.feed("\n")
    prefix = f"\r\x1b[{up}A{ERASE}" if up else f"\r{ERASE}"
    assert out[-1].startswith(prefix)
    assert screen("".join(out), width) == heading + "\n"


def test_wide_characters_count_two_columns() -> None:
    md, out = make(10)
    md.feed("# " + "中" * 5)  # 2 + 10 columns: two rows
    md.feed("\n")
    assert out[-1].startswith(f"\r\x1b[1A{ERASE}")


def test_width_is_asked_when_a_line_is_rewritten() -> None:
    widths = [10]
    out: list[str] = []
    md = MarkdownStream(out.append, width=lambda: widths[0])
    md.feed("# " + "y" * 23)
    widths[0] = 30  # the terminal was resized: the raw text now takes one row
    md.feed("\n")
    assert out[-1].startswith(f"\r{ERASE}")


def test_markdown_elements() -> None:
    data = stream("- item\n* star\n+ plus\n  - nested\n1. one\n> quoted\n---\n", width=20)
    text = screen(data, 20)
    assert text.splitlines() == ["• item", "• star", "• plus", "  • nested", "1. one", "│ quoted", "─" * 20]
    assert stream("1. one\n") == "1. one\n"  # numbered lists stay as they are


def test_inline_styles() -> None:
    data = stream("a `code` **bold** *it* _it2_ ~~gone~~ [site](https://x.y) \\*not\\*\n")
    assert screen(data) == "a code bold it it2 gone site (https://x.y) *not*\n"
    assert "\x1b[36mcode" in data  # code: cyan
    assert "\x1b[1mbold" in data
    assert "\x1b[3mit\x1b" in data
    assert "\x1b[2m (https://x.y)" in data  # the url, dim
    assert "\x1b[1;3mboth" in stream("***both***\n")


def test_heading_styles_by_level_and_keeps_inline_markup() -> None:
    assert "\x1b[1;4mTop" in stream("# Top\n")
    data = stream("### The `run` call\n")
    assert screen(data) == "### The run call\n"
    assert "run" in data and "\x1b[1;3;36mrun" in data


def test_tables_stay_raw() -> None:
    table = "| a | **b** |\n|---|---|\n| 1 | 2 |\n"
    assert stream(table) == table


def test_code_block_is_highlighted_with_the_fence_language() -> None:
    code = "def f(x):\n    return x  # done\n"
    python = stream("```python\n" + code + "```\nafter\n")
    lines = python.split("\n")
    assert lines[0] == "\x1b[2m```python  [1]\x1b[0m"  # fence: dim, the block's number by it
    assert SGR.search(lines[1]) and SGR.search(lines[2])  # code: coloured
    assert lines[3] == "\x1b[2m```\x1b[0m"
    assert lines[4] == "after"
    assert screen(python) == "```python  [1]\n" + code + "```\nafter\n"
    # The same text under another language is coloured differently.
    assert stream("```sql\n" + code + "```\n").split("\n")[1] != lines[1]


def test_code_block_contents_are_not_markdown() -> None:
    data = stream("```\n# not a heading\n- not a bullet **x**\n```\n")
    assert data.split("\n")[1:3] == ["# not a heading", "- not a bullet **x**"]


def test_unknown_language_is_left_as_is() -> None:
    data = stream("```nosuchlanguage\nx = *1*\n```\n")
    assert data.split("\n")[1] == "x = *1*"


def test_code_block_lines_written_raw_then_highlighted() -> None:
    md, out = make()
    md.feed("```js\nconst a")
    md.feed(" = 1;")
    md.feed("\n")
    assert out[-2] == " = 1;"
    assert out[-1].startswith("\r" + ERASE) and SGR.search(out[-1])


def test_closing_fence_must_match_the_opening_one() -> None:
    data = stream("~~~~text\n```\n~~~\n# still code\n~~~~\n# heading\n")
    lines = data.split("\n")
    assert lines[1:4] == ["```", "~~~", "# still code"]
    assert "\x1b[1;4mheading" in lines[5]


def test_highlighter_is_cached_per_language() -> None:
    md, _ = make()
    md.feed("```python\nx = 1\n```\n```python\ny = 2\n```\n```rust\nlet z = 3;\n```\n")
    assert set(md._syntaxes) == {"python", "rust"}


def test_finish_styles_the_last_partial_line_and_leaves_no_open_style() -> None:
    md, out = make()
    md.feed("a\n*last* line")
    md.finish()
    data = "".join(out)
    assert out[-1].startswith("\r" + ERASE)
    assert data.endswith("\n")
    assert SGR.findall(data)[-1] == "\x1b[0m"
    assert screen(data) == "a\nlast line\n"
    assert not md.pending


def test_finish_adds_no_newline_when_the_line_is_already_ended() -> None:
    md, out = make()
    md.feed("done\n")
    md.finish()
    md.finish()
    assert "".join(out) == "done\n"


def test_finish_forgets_an_unclosed_code_block() -> None:
    md, out = make()
    md.feed("```\nno end")
    md.finish()
    md.feed("# new reply\n")
    assert "\x1b[1;4mnew reply" in out[-1]


def test_control_characters_are_dropped_and_crlf_is_a_newline() -> None:
    assert stream("one\r\ntwo\x1b[31m\x07\r\n") == "one\ntwo[31m\n"


def test_a_failing_width_callable_falls_back() -> None:
    def broken() -> int:
        raise OSError("no terminal")

    out: list[str] = []
    md = MarkdownStream(out.append, width=broken)
    md.feed("# " + "z" * 100)
    md.feed("\n")
    assert out[-1].startswith(f"\r\x1b[1A{ERASE}")  # 102 columns on an 80-column fallback


def test_color_systems() -> None:
    assert "\x1b[36m" in stream_with("`c`\n", "truecolor")
    assert "\x1b[36m" in stream_with("`c`\n", "standard")
    with pytest.raises(ValueError):
        MarkdownStream(print, width=lambda: 80, color_system="none")


def stream_with(text: str, color_system: str) -> str:
    md, out = make(color_system=color_system)
    md.feed(text)
    md.finish()
    return "".join(out)


def test_rich_is_imported_only_for_a_styled_line() -> None:
    script = (
        "import sys\n"
        "from chatrepl.markdown_stream import MarkdownStream\n"
        "md = MarkdownStream(lambda s: None, width=lambda: 80)\n"
        "md.feed('plain text, no markup\\n'); md.finish()\n"
        "assert 'rich' not in sys.modules and 'pygments' not in sys.modules, 'imported too early'\n"
        "md.feed('**b**\\n')\n"
        "assert 'rich' in sys.modules\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root)


# --- properties ------------------------------------------------------------------------------------

MARKDOWN_TOKENS = [*"ab xy 12\n\n#*_`~[]()<>!\\-+|.:/\"", "```", "```python\n", "~~~", "中", "é", "https://"]
MARKDOWN_ALPHABET = st.sampled_from([*MARKDOWN_TOKENS, "\t"])
# Without tabs: on a narrow terminal a raw tab jumps to the last column, and the next character
# overwrites it, in a real terminal as in Screen.
MARKDOWN_NO_TABS = st.sampled_from(MARKDOWN_TOKENS)
PLAIN_ALPHABET = st.characters(
    exclude_characters="#>*+_`[~<\\|-", exclude_categories=("Cc", "Cs", "Zl", "Zp"),
) | st.sampled_from(["\n", "\t", " "])


@st.composite
def chunked(draw: st.DrawFn, alphabet: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    text = "".join(draw(st.lists(alphabet, max_size=60)))
    return text, split_at(text, draw(st.lists(st.integers(0, len(text)), max_size=12)))


def split_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(c for c in cuts if c <= len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(st.integers(0, 200), max_size=10), st.integers(1, 40))
def test_any_text_in_any_chunks_never_raises(text: str, cuts: list[int], width: int) -> None:
    data = stream(text, split_at(text, cuts), width)
    assert data == "" or data.endswith("\n")


@settings(max_examples=300, deadline=None)
@given(chunked(PLAIN_ALPHABET))
def test_plain_text_comes_out_byte_identical(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    expected = text if text == "" or text.endswith("\n") else text + "\n"
    assert stream(text, chunks) == expected


@settings(max_examples=400, deadline=None)
@given(chunked(MARKDOWN_ALPHABET), st.integers(4, 30))
def test_screen_is_the_same_however_the_text_is_chunked(case: tuple[str, list[str]], width: int) -> None:
    text, chunks = case
    assert screen(stream(text, chunks, width), width) == screen(stream(text, width=width), width)


@settings(max_examples=400, deadline=None)
@given(chunked(MARKDOWN_NO_TABS), st.integers(4, 30))
def test_every_word_stays_visible(case: tuple[str, list[str]], width: int) -> None:
    text, chunks = case
    visible = screen(stream(text, chunks, width), width)
    for word in re.findall(r"[A-Za-z0-9中é]+", text):
        assert word in visible
