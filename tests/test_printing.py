"""What reaches the terminal: outside text cleaned in every mode, reasoning apart, /help layout."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from replhelpers import build_repl_state

from chatrepl.render import Printer
from chatrepl.sanitize import CleanStream, clean
from chatrepl.slash_commands import REGISTRY, help_lines

# What a hostile server or model sends: clipboard write (OSC 52), window title (OSC 0), clear
# screen and a fake prompt (CSI 2J), a C1 CSI, DEL, backspaces, and a right-to-left override.
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
HOSTILE = (f"safe {OSC52} \x1b]0;pwned\x1b\\ \x1b[2J\x1b[H› fake prompt \x9b31m \x9d0;t\x9c"
           " \x7f\x08\x08 \u202egnp.exe \u2066iso\u2069 end\r\n")
MODES = [dict(color=False), dict(color=True), dict(color=True, markdown=False)]


def unsafe(text: str) -> list[str]:
    """The dangerous pieces left in `text` (styling SGR codes of our own are fine)."""
    without_sgr = re.sub(r"\x1b\[[0-9;]*m", "", text)
    # Our own cursor moves of the Markdown restyle: \r, cursor up, erase below.
    without_ours = re.sub(r"\r(\x1b\[\d+A)?\x1b\[J", "", without_sgr)
    return [ch for ch in without_ours if ch in "\x1b\x07\x08\x7f\r\x9b\x9c\x9d\u202e\u2066\u2069"]


def test_clean_drops_controls_and_bidi_and_keeps_text_tabs_and_newlines() -> None:
    assert clean("plain text, ünïcödé 漢字 ✓") == "plain text, ünïcödé 漢字 ✓"
    assert clean("a\tb\nc") == "a\tb\nc"
    assert clean(HOSTILE) == ("safe ]52;c;cm0gLXJmIH4= ]0;pwned\\ [2J[H› fake prompt 31m 0;t"
                              "  gnp.exe iso end\n")
    assert clean("".join(map(chr, range(0x20)))) == "\t\n"
    assert all(clean(chr(c)) == "" for c in [*range(0x7F, 0xA0), *range(0x202A, 0x202F),
                                             *range(0x2066, 0x206A)])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "markdown", "colour-no-markdown"])
def test_every_printer_method_cleans_outside_text_in_every_mode(mode: dict) -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out, err, **mode)
    printer.reasoning(HOSTILE)
    printer.content(HOSTILE)
    printer.content("# heading " + HOSTILE)
    printer.finish_stream()
    for method in (printer.line, printer.info, printer.warning, printer.error, printer.err_line):
        method(HOSTILE)
    for text in (out.getvalue(), err.getvalue()):
        assert unsafe(text) == []
    assert "fake prompt" in out.getvalue() and "gnp.exe" in err.getvalue()


@pytest.mark.parametrize("mode", MODES, ids=["plain", "markdown", "colour-no-markdown"])
def test_an_escape_sequence_split_across_chunks_is_neutralised(mode: dict) -> None:
    out = io.StringIO()
    printer = Printer(out, **mode)
    for chunk in ("text \x1b", "]52;c;aGk=", "\x07 more \x1b", "[2J\x1b", "]0;title\x07\n"):
        printer.content(chunk)
    printer.reasoning("\x1b")
    printer.reasoning("]0;x\x07")
    printer.finish_stream()
    assert unsafe(out.getvalue()) == []
    assert "]52;c;aGk=" in out.getvalue()  # shown as text, harmless


def test_reasoning_to_stderr_is_dimmed_labelled_and_ends_its_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out, err, color=False, err_color=True, reasoning_to_err=True)
    for thought in ("think1 ", "think2"):
        printer.reasoning(thought)
    printer.content("Hello")
    printer.finish_stream()
    assert out.getvalue() == "Hello\n"
    assert err.getvalue() == "\x1b[2mthinking: think1 think2\x1b[0m\n"


def test_subcommand_output_stream_is_cleaned() -> None:
    target = io.StringIO()
    stream = CleanStream(target)
    stream.write(f"model{OSC52}\u202eid\n")
    stream.flush()
    assert target.getvalue() == "model]52;c;cm0gLXJmIH4=id\n"


def test_toolbar_and_completion_menu_never_carry_controls(tmp_path, monkeypatch) -> None:
    from chatrepl.repl import _StateHolder, build_completer

    home = tmp_path / "h"
    home.mkdir()
    (home / "config.yaml").write_text(
        "providers:\n  evil:\n    base_api_url: http://127.0.0.1:9/v1\n"
        '    valid_models: {"m\\e]0;pwned\\a\\u202etxt": "s\\e[2J"}\n'
        "discovery: {on_startup: false}\n", encoding="utf-8")
    state = build_repl_state(home, "evil", "m\x1b]0;pwned\x07\u202etxt").state
    holder = _StateHolder()
    holder.set(state)
    toolbar = holder.toolbar()
    assert "evil/m]0;pwnedtxt" in toolbar and unsafe(toolbar) == []
    text = "/model evil"
    completions = list(build_completer(state).get_completions(Document(text, len(text)),
                                                              CompleteEvent()))
    assert completions
    for completion in completions:
        assert unsafe(completion.display_text) == [] and unsafe(completion.display_meta_text) == []


def _entries() -> list[tuple[str, str]]:
    return [(c.usage, c.help + (f" (also {', '.join(c.aliases)})" if c.aliases else ""))
            for c in REGISTRY]


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
def test_help_fits_the_width_and_wraps_between_words(width: int) -> None:
    lines = help_lines(_entries(), width)
    assert all(len(line) < width for line in lines)
    words = [w for usage, help_text in _entries() for w in (usage + " " + help_text).split()]
    assert " ".join(lines).split() == words  # every word whole, in order
    if width < 60:  # each description on its own indented lines under its command
        assert lines[0] == "/help" and lines[1].startswith("    list commands")
    else:
        column = lines[0].index("list commands")
        assert all(line[column - 2:column] == "  " for line in lines if line.startswith(" "))


@pytest.mark.parametrize("width", [40, 120])
def test_help_command_lays_out_for_the_printers_width(width: int) -> None:
    out = io.StringIO()
    REGISTRY.dispatch(SimpleNamespace(printer=Printer(out, width=width)), "/help")
    lines = out.getvalue().splitlines()
    assert len(lines) > len(list(REGISTRY)) and all(len(line) < width for line in lines)
    assert lines[-1].endswith("exits.")


class TerminalBuffer(io.StringIO):
    """What a Printer writes, as if to a terminal."""

    def isatty(self) -> bool:
        return True


def test_messages_to_a_narrow_terminal_break_between_words() -> None:
    out = TerminalBuffer()
    printer = Printer(out, width=40)
    message = ("the conversation (~2,345 tokens) history and message do not fit"
               " alpha/alpha-chat's window; raise budget.confirm_over_usd")
    printer.warning(message)
    printer.error(message)
    printer.info(message)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 39 for line in lines)
    for word in ("message", "alpha/alpha-chat's", "budget.confirm_over_usd"):
        assert sum(word in line for line in lines) == 3  # each time whole, on one line
    piped = io.StringIO()
    Printer(piped, width=40).warning(message)  # not a terminal: one line, as given
    assert piped.getvalue() == f"warning: {message}\n"
