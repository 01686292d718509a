"""Render a streamed Markdown reply to a terminal, one line at a time.

The text of the line being received is written raw the moment it arrives, so the first token shows
at once. When a line is complete and styling changes how it looks, only that line is erased
(carriage return, cursor up over the rows it wrapped onto, erase to end of screen) and written again
styled. Lines that need no styling are never rewritten, and nothing above the current line is ever
touched, so there is no flicker and no re-render of the reply so far.

rich (and, through rich, pygments) is imported on the first line that needs styling.

With ``wrap`` the raw and the styled text are broken between words at the terminal's edge (not
inside code blocks, whose lines the terminal cuts), and the erase counts the rows from that layout.

Text is cleaned of terminal controls and bidi overrides (see ``sanitize``) before it is shown or
styled; the styling's own escape codes are added after.

The stream assumes the cursor is at column 0 when it starts and that nothing else writes to the
terminal until ``finish()``: call ``finish()`` before printing anything else.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from chatrepl.codeblocks import FENCE_OPEN, closes
from chatrepl.sanitize import UNSAFE
from chatrepl.wordwrap import WordWrapper, break_spans

if TYPE_CHECKING:
    from rich.color import ColorSystem
    from rich.console import Console
    from rich.style import Style
    from rich.syntax import Syntax
    from rich.text import Text

ColorSystemName = Literal["standard", "256", "truecolor", "windows"]
COLOR_SYSTEMS: tuple[ColorSystemName, ...] = ("standard", "256", "truecolor", "windows")

# C0 controls except TAB and LF, DEL, C1 controls and bidi overrides: dropped from the stream.
# Besides what they could do to the terminal, they would move the cursor behind our back (CR, BS,
# ESC sequences) and break the row arithmetic of the erase. "\r\n" therefore becomes "\n".
_CONTROLS = UNSAFE

ERASE_LINE = "\x1b[J"
MAX_STYLED_LINE = 4000  # longer lines are left raw: inline parsing is not worth its cost there
MAX_NESTING = 6

# Any character that may start Markdown syntax. A line without one is plain and never rewritten.
_HINT = re.compile(r"[#>*+_`\[~<\\|-]")
_HR = re.compile(r"^ {0,3}([-*_])[ \t]*(?:\1[ \t]*){2,}$")
_HEADING = re.compile(r"^( {0,3})(#{1,6})([ \t]+|$)(.*)$")
_QUOTE = re.compile(r"^( {0,3})> ?(.*)$")
_BULLET = re.compile(r"^(\s*)([-*+])([ \t]+)(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,9}[.)])([ \t]+)(.*)$")
_LANG = re.compile(r"[\w+#.-]+")
_INLINE = re.compile(
    r"""
      (?P<code>(?P<ticks>`+)(?P<code_body>.+?)(?<!`)(?P=ticks)(?!`))
    | (?P<link>!?\[(?P<link_text>[^\]]*)\]\((?P<url>[^)\s]*)(?:[ \t]+"[^"]*")?\))
    | (?P<autolink><(?P<auto_url>https?://[^>\s]+)>)
    | (?P<bold_italic>\*\*\*(?P<bi_body>[^\s*](?:.*?[^\s*])?)\*\*\*)
    | (?P<bold>\*\*(?P<b1>\S(?:.*?\S)?)\*\*|(?<!\w)__(?P<b2>\S(?:.*?\S)?)__(?!\w))
    | (?P<strike>~~(?P<s_body>\S(?:.*?\S)?)~~)
    | (?P<italic>(?<!\*)\*(?P<i1>[^\s*](?:.*?[^\s*])?)\*(?!\*)|(?<!\w)_(?P<i2>[^\s_](?:.*?[^\s_])?)_(?!\w))
    | (?P<escape>\\(?P<escaped>[!-/:-@\[-`{-~]))
    """,
    re.VERBOSE,
)

HEADING_STYLES = {1: "bold underline", 2: "bold", 3: "bold italic"}
STYLE_MARKER = "dim"
STYLE_BULLET = "bold"
STYLE_CODE = "cyan"
STYLE_LINK = "underline"
STYLE_URL = "dim"
STYLE_QUOTE = "italic"
STYLE_FENCE = "dim"
STYLE_RULE = "dim"
LABEL_GAP = "  "  # between an opening fence and its block's number ([K]: `/copy code K`)
BULLET = "•"
QUOTE_BAR = "│ "
RULE = "─"

Pieces = list[tuple[str, str]]


def _join(base: str, extra: str) -> str:
    return f"{base} {extra}" if base else extra


def _inline(text: str, base: str, out: Pieces, depth: int = 0) -> None:
    """Append (text, style) pieces for one span of inline Markdown."""
    if depth > MAX_NESTING or not _HINT.search(text):
        out.append((text, base))
        return
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], base))
        pos = m.end()
        if m.group("code") is not None:
            out.append((m.group("code_body"), _join(base, STYLE_CODE)))
        elif m.group("link") is not None:
            label, url = m.group("link_text"), m.group("url")
            _inline(label, _join(base, STYLE_LINK), out, depth + 1)
            if url and url != label:
                out.append((f" ({url})", _join(base, STYLE_URL)))
        elif m.group("autolink") is not None:
            out.append((m.group("auto_url"), _join(base, STYLE_LINK)))
        elif m.group("bold_italic") is not None:
            _inline(m.group("bi_body"), _join(base, "bold italic"), out, depth + 1)
        elif m.group("bold") is not None:
            _inline(m.group("b1") or m.group("b2"), _join(base, "bold"), out, depth + 1)
        elif m.group("strike") is not None:
            _inline(m.group("s_body"), _join(base, "strike"), out, depth + 1)
        elif m.group("italic") is not None:
            _inline(m.group("i1") or m.group("i2"), _join(base, "italic"), out, depth + 1)
        else:
            out.append((m.group("escaped"), base))
    if pos < len(text):
        out.append((text[pos:], base))


def _block(line: str, base: str, width: int, out: Pieces, depth: int = 0) -> None:
    """Append (text, style) pieces for one complete line outside a code block."""
    if depth > MAX_NESTING:
        out.append((line, base))
        return
    if line.lstrip().startswith("|"):  # tables stay raw so their columns keep lining up
        out.append((line, base))
        return
    if _HR.match(line):
        out.append((RULE * max(1, width), _join(base, STYLE_RULE)))
        return
    m = _HEADING.match(line)
    if m:
        indent, hashes, space, body = m.groups()
        level = len(hashes)
        out.append((indent + hashes + space, _join(base, STYLE_MARKER)))
        _inline(body, _join(base, HEADING_STYLES.get(level, "bold")), out)
        return
    m = _QUOTE.match(line)
    if m:
        out.append((m.group(1) + QUOTE_BAR, _join(base, STYLE_MARKER)))
        _block(m.group(2), _join(base, STYLE_QUOTE), width, out, depth + 1)
        return
    m = _BULLET.match(line)
    if m:
        indent, _marker, space, body = m.groups()
        out.append((indent, base))
        out.append((BULLET, _join(base, STYLE_BULLET)))
        out.append((space, base))
        _inline(body, base, out)
        return
    m = _NUMBERED.match(line)
    if m:
        indent, marker, space, body = m.groups()
        out.append((indent + marker + space, base))
        _inline(body, base, out)
        return
    _inline(line, base, out)


def _wrapped(pieces: Pieces, width: int) -> Pieces:
    """The pieces with the spaces where the line breaks between words replaced by newlines."""
    spans = break_spans("".join(text for text, _ in pieces), width)
    if not spans:
        return pieces
    out: Pieces = []
    start = 0
    todo = iter(spans)
    span = next(todo, None)
    for text, style in pieces:
        end = start + len(text)
        pos = start
        while span is not None and span[0] < end:
            cut_from, cut_to = max(span[0], pos), min(span[1], end)
            if cut_from > pos:
                out.append((text[pos - start:cut_from - start], style))
            if cut_from == span[0]:
                out.append(("\n", ""))
            pos = cut_to
            if span[1] > end:
                break
            span = next(todo, None)
        if pos < end:
            out.append((text[pos - start:], style))
        start = end
    return out


class MarkdownStream:
    """Streams Markdown to a terminal: raw text at once, each finished line restyled in place.

    ``write`` receives every byte for the terminal; ``width`` returns the terminal's current
    width in columns (asked only when a line is rewritten). ``color_system`` is one of rich's
    "standard", "256", "truecolor" or "windows".
    """

    def __init__(self, write: Callable[[str], None], *, width: Callable[[], int],
                 color_system: ColorSystemName = "256", code_theme: str = "ansi_dark",
                 wrap: bool = False) -> None:
        if color_system not in COLOR_SYSTEMS:
            raise ValueError(f"color_system must be one of {', '.join(COLOR_SYSTEMS)}, not {color_system!r}")
        self._write = write
        self._width = width
        self._color_system_name = color_system
        self._code_theme = code_theme
        self._console: Console | None = None
        self._color_system: ColorSystem | None = None
        self._syntaxes: dict[str, Syntax | None] = {}
        self._styles: dict[str, Style] = {}
        self._parts: list[str] = []  # raw text of the current line, already on the screen
        self._fence: tuple[str, int] | None = None  # fence character and length of an open block
        self._syntax: Syntax | None = None  # highlighter of the open block, None for plain
        self.last_error: Exception | None = None  # a styling failure; the line was left raw
        self.code_blocks = 0  # fenced blocks opened in this reply: each is labelled [K]
        self._wrapper = WordWrapper(self._columns) if wrap else None
        self._line_wraps = False  # the current line is laid out by the wrapper

    @property
    def pending(self) -> bool:
        """True while the current line has text and no newline yet."""
        return bool(self._parts)

    def feed(self, text: str) -> None:
        """Write one streamed chunk: raw at once; restyle every line it completes."""
        if text.isprintable():  # the fast path: a printable chunk has no newline and no control
            if text:
                self._raw(text)
            return
        text = text.translate(_CONTROLS)
        if "\n" in text:
            self._feed_lines(text)
        elif text:
            self._raw(text)

    def _raw(self, text: str) -> None:
        """Put text of the current line on the screen as it is (laid out between words)."""
        if not self._parts:
            self._line_wraps = self._wrapper is not None and self._fence is None
        self._parts.append(text)
        if self._line_wraps:
            assert self._wrapper is not None
            text = self._wrapper.feed(text)
            if not text:
                return
        self._write(text)

    @property
    def holds_word(self) -> bool:
        """True while the wrapper holds back the start of a word (no space after it yet)."""
        return bool(self._line_wraps and self._wrapper is not None and self._wrapper.held)

    def release(self) -> None:
        """Write the word the wrapper holds back (the stream stalled in the middle of it)."""
        if self._line_wraps and self._wrapper is not None and self._wrapper.held:
            self._write(self._wrapper.flush())

    def finish(self, *, end_of_reply: bool = True) -> None:
        """Style the last line, end it with a newline, and forget all block state; the code
        blocks are counted from 1 again unless the reply goes on (`end_of_reply` False)."""
        if self._parts:
            shown = "".join(self._parts)
            self._write(self._complete(shown, shown))
        self._parts = []
        self._fence = None
        self._syntax = None
        if end_of_reply:
            self.code_blocks = 0

    # --- lines -------------------------------------------------------------------------------

    def _feed_lines(self, text: str) -> None:
        lines = text.split("\n")
        shown = "".join(self._parts)
        out = [self._complete(shown + lines[0], shown)]
        out.extend(self._complete(line, "") for line in lines[1:-1])
        last = lines[-1]
        self._parts = [last] if last else []
        if last:
            self._line_wraps = self._wrapper is not None and self._fence is None
            if self._line_wraps:
                assert self._wrapper is not None
                last = self._wrapper.feed(last)
        out.append(last)
        self._write("".join(out))

    def _complete(self, line: str, shown: str) -> str:
        """What to write to end ``line``, of which ``shown`` was given to ``_raw`` already."""
        wrapper = self._wrapper
        if not shown:
            self._line_wraps = wrapper is not None and self._fence is None
        wraps = self._line_wraps
        try:
            styled = self._style(line)
        except Exception as exc:  # a styling bug must not cost the user the reply
            self.last_error = exc
            styled = None
        if not wraps or wrapper is None:
            if styled is None:
                return line[len(shown):] + "\n"
            return (self._erase(self._rows(shown)) if shown else "") + styled + "\n"
        on_screen = len(shown) > len(wrapper.held)
        rows = wrapper.rows
        if styled is None:
            rest = wrapper.feed(line[len(shown):]) + wrapper.flush()
            wrapper.reset()
            return rest + "\n"
        wrapper.reset()
        return (self._erase(rows) if on_screen else "") + styled + "\n"

    @staticmethod
    def _erase(rows: int) -> str:
        """Move to the start of the last ``rows`` rows and clear them (and below)."""
        up = rows - 1
        return f"\r\x1b[{up}A{ERASE_LINE}" if up > 0 else f"\r{ERASE_LINE}"

    def _columns(self) -> int:
        try:
            width = int(self._width())
        except Exception:
            return 80
        return width if width > 0 else 80

    def _rows(self, shown: str) -> int:
        """Terminal rows taken by ``shown`` written from column 0, with auto-wrap."""
        width = self._columns()
        if shown.isascii() and "\t" not in shown:
            return max(1, -(-len(shown) // width))
        from rich.cells import get_character_cell_size

        rows, col = 1, 0
        for ch in shown:
            if ch == "\t":
                col = min(width - 1, col) if col >= width else min(width - 1, (col // 8 + 1) * 8)
                continue
            size = get_character_cell_size(ch)
            if size == 0:
                continue
            if col + size > width and col:
                rows += 1
                col = 0
            col += size
        return rows

    # --- styling -----------------------------------------------------------------------------

    def _style(self, line: str) -> str | None:
        """The line styled as ANSI text, or None when it looks the same raw."""
        if self._fence is not None:
            if closes(line, self._fence):
                self._fence = None
                self._syntax = None
                return self._render([(line, STYLE_FENCE)])
            if self._syntax is None or not line.strip():
                return None
            return self._highlight(line)
        if not _HINT.search(line):
            return None
        m = FENCE_OPEN.match(line)
        if m:
            fence, info = m.groups()
            self._fence = (fence[0], len(fence))
            self._syntax = self._syntax_for(info)
            self.code_blocks += 1
            return self._render([(f"{line}{LABEL_GAP}[{self.code_blocks}]", STYLE_FENCE)])
        if len(line) > MAX_STYLED_LINE:
            return None
        pieces: Pieces = []
        _block(line, "", self._columns(), pieces)
        if all(not style for _, style in pieces) and "".join(text for text, _ in pieces) == line:
            return None
        return self._render(pieces)

    def _setup(self) -> Console:
        if self._console is None:
            from rich.color import ColorSystem
            from rich.console import Console

            self._console = Console(file=io.StringIO(), force_terminal=True,
                                    color_system=self._color_system_name, width=self._columns())
            self._color_system = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
                                  "truecolor": ColorSystem.TRUECOLOR,
                                  "windows": ColorSystem.WINDOWS}[self._color_system_name]
        return self._console

    def _render(self, pieces: Pieces) -> str:
        """ANSI text for (text, style) pieces; rich parses each style once and renders it."""
        self._setup()
        if self._line_wraps:
            pieces = _wrapped(pieces, self._columns())
        styles = self._styles
        color_system = self._color_system
        out = []
        for chunk, name in pieces:
            if not chunk:
                continue
            if not name:
                out.append(chunk)
                continue
            style = styles.get(name)
            if style is None:
                from rich.style import Style

                style = styles[name] = Style.parse(name)
            out.append(style.render(chunk, color_system=color_system))
        return "".join(out)

    def _ansi(self, text: Text) -> str:
        from rich.segment import Segment

        console = self._setup()
        color_system = self._color_system
        return "".join(
            segment.style.render(segment.text, color_system=color_system) if segment.style else segment.text
            for segment in Segment.simplify(text.render(console))
        )

    def _syntax_for(self, info: str) -> Syntax | None:
        """A cached highlighter for a fence's language, or None when pygments does not know it."""
        m = _LANG.search(info)
        if m is None:
            return None
        name = m.group(0).strip(".").lower()
        if not name:
            return None
        if name not in self._syntaxes:
            from pygments.lexers import get_lexer_by_name
            from pygments.util import ClassNotFound
            from rich.syntax import Syntax

            try:
                # Our own lexer: no tab expansion, so the styled line keeps the raw line's characters.
                lexer = get_lexer_by_name(name, stripnl=False, ensurenl=True)
            except ClassNotFound:
                self._syntaxes[name] = None
            else:
                self._syntaxes[name] = Syntax("", lexer, theme=self._code_theme)
        return self._syntaxes[name]

    def _highlight(self, line: str) -> str | None:
        assert self._syntax is not None
        text = self._syntax.highlight(line)
        if text.plain.endswith("\n") and not line.endswith("\n"):
            text.right_crop(1)
        if text.plain != line:  # a lexer that changed the characters: keep the raw line
            return None
        return self._ansi(text)
