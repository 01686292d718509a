"""The comparison's frame: columns within the width, stacked sections when narrow, cleaned
text broken between words, the live frame redrawn in place within the screen's height."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from chatrepl.compare import Answer, CompareEvent, Comparison, Contender, Figures
from chatrepl.comparerender import GAP, CompareView, Panel, figures_text, wrap_rows
from chatrepl.reply import Usage
from chatrepl.wordwrap import cells

MODELS = [Contender("alpha", "alpha-model"), Contender("beta", "beta-model")]
WORDS = st.lists(st.sampled_from(["a", "word", "longerword", "x" * 30, "yyyyyy", " ", "  ", "\n", "日本語",
                                  "é", "\t"]), max_size=60)


def _view(width: int, *, height: int = 40, live: bool = False,
          contenders: list[Contender] = MODELS) -> tuple[CompareView, io.StringIO]:
    out = io.StringIO()
    return CompareView(out, contenders, columns=lambda: width, lines=lambda: height,
                       live=live), out


def _feed(view: CompareView, index: int, *texts: str) -> None:
    for text in texts:
        view.add(CompareEvent(index, "content", text))


@settings(max_examples=300, deadline=None)
@given(pieces=WORDS, width=st.integers(min_value=5, max_value=40))
def test_rows_laid_out_as_text_arrives_are_those_of_the_whole_text(pieces: list[str],
                                                                    width: int) -> None:
    streamed, whole = Panel(), Panel()
    streamed.rows(width)  # laid out from the first piece on
    for piece in pieces:
        streamed.add(piece)
    whole.add("".join(pieces))
    rows = streamed.rows(width)
    assert rows == whole.rows(width)
    assert all(cells(row) <= width for row in rows)


def test_a_line_breaks_between_words_and_cuts_a_word_longer_than_the_row() -> None:
    line = "one two three " + "x" * 12
    assert [line[a:b] for a, b in wrap_rows(line, 9)] == ["one two", "three", "xxxxxxxxx", "xxx"]


def test_side_by_side_columns_stay_within_the_width() -> None:
    view, _ = _view(81)
    _feed(view, 0, "short")
    _feed(view, 1, "a reply long enough to be broken over several rows of its column")
    view.add(CompareEvent(1, "failed", "beta/beta-model: server error 500; try again later"))
    lines = view.frame()
    assert lines[0].startswith("[1] alpha/alpha-model") and "[2] beta/beta-model" in lines[0]
    assert all(cells(line) <= 80 for line in lines)
    assert all(GAP.strip() in line for line in lines)
    status = " ".join(line.partition(GAP)[2].strip() for line in lines[-2:])
    assert status == "error: beta/beta-model: server error 500; try again later"
    assert sum("short" in line for line in lines) == 1


def test_narrow_terminals_get_stacked_sections() -> None:
    view, _ = _view(40)
    _feed(view, 0, "first reply")
    _feed(view, 1, "second reply")
    lines = view.frame()
    assert GAP not in "".join(lines)
    assert lines.index("first reply") < next(i for i, line in enumerate(lines) if "[2]" in line)
    assert all(cells(line) <= 39 for line in lines)


def test_control_characters_from_a_model_never_reach_the_screen() -> None:
    view, out = _view(100, live=True)
    _feed(view, 0, "safe\x1b]52;c;ZXZpbA==\x07 text\x1b[2J", "\u202eevil")
    view.draw()
    drawn = out.getvalue()
    assert "ZXZpbA==" in drawn  # the text stays, the sequences that would act go
    assert "\x1b]" not in drawn and "\x07" not in drawn and "\x1b[2J" not in drawn
    assert "\u202e" not in drawn


def test_the_live_frame_fits_the_screen_and_is_redrawn_in_place() -> None:
    view, out = _view(100, height=12, live=True)
    view.draw()
    first = out.getvalue()
    assert first.startswith("\r\x1b[J") and "waiting…" in first
    _feed(view, 0, *[f"line {i}\n" for i in range(50)])
    view.draw()
    second = out.getvalue()[len(first):]
    drawn = first.count("\n")
    assert second.startswith(f"\x1b[{drawn}F\x1b[J")  # back over the frame drawn before
    assert second.count("\n") <= 11
    assert "line 49" in second and "line 0\n" not in second
    view.draw()  # nothing new: nothing written
    assert out.getvalue().endswith(second)


def test_finish_shows_whole_replies_and_their_figures() -> None:
    view, out = _view(100)
    _feed(view, 0, "Hello")
    figures = Figures(0.25, 1.25, Usage(10, 20), False, 0.0012)
    comparison = Comparison("q", (), (
        Answer(MODELS[0], "Hello", figures=figures),
        Answer(MODELS[1], error="beta/beta-model: timed out")))
    view.finish(comparison)
    text = out.getvalue()
    assert "== [1] alpha/alpha-model ==\nHello\n" in text
    assert "ttft 0.25s · 20.0 tok/s · 10 in · 20 out · $0.0012 · 1.25s" in text
    assert "error: beta/beta-model: timed out" in text
    assert "\x1b" not in text  # not a terminal: no cursor or colour codes


def test_figures_mark_estimates_and_leave_out_what_is_unknown() -> None:
    assert figures_text(Figures(None, 2.0)) == "2.00s"
    text = figures_text(Figures(0.5, 1.5, Usage(4, 8), True, None))
    assert text == "ttft 0.50s · 8.0 tok/s · ~4 in · ~8 out · 1.50s"
