"""Benchmark: the toolbar's context figure (`ctx 12.3k/128k`) on a long conversation.

The toolbar is redrawn on every keystroke. Its context figure is cached per conversation list
(a ChatSession replaces the list at the end of a turn), so a redraw with it should cost about
what a redraw without it costs. Measured in the same run: a redraw without the figure
(baseline), a redraw with it (cached), and estimating the whole conversation afresh (what every
redraw would pay without the cache). Goal: with the figure <= 1.5x without.

    python bench/contextsize.py [--messages N] [--redraws N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import headline, print_table, verdict, write_record
from replhelpers import build_repl_state

from chatrepl.contextsize import ContextMeter
from chatrepl.messages import assistant, user
from chatrepl.toolbar import toolbar_text

GOAL_RATIO = 1.5


def _per_call(action: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean seconds per call."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            action()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--redraws", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "config.yaml").write_text(
            "providers:\n  fake:\n    base_api_url: http://127.0.0.1:9/v1\n"
            "    valid_models: [fake-chat]\ndiscovery: {on_startup: false}\n", encoding="utf-8")
        state = build_repl_state(home, "fake", "fake-chat").state
        state.chat.messages = [(user if i % 2 == 0 else assistant)("word " * 100 + str(i))
                               for i in range(args.messages)]
        len(state.runtime.catalog)  # loaded behind the prompt in the REPL
        with_figure = _per_call(lambda: toolbar_text(state, 160), args.redraws)
        assert "ctx" in toolbar_text(state, 160)
        fresh = _per_call(lambda: ContextMeter().size(state.chat), max(args.redraws // 10, 10))
        state.context_text = lambda: ""  # type: ignore[method-assign]
        without = _per_call(lambda: toolbar_text(state, 160), args.redraws)
    ratio = with_figure / without
    passed = ratio <= GOAL_RATIO
    print_table(("conversation", "redraw without ctx", "redraw with ctx", "ratio", "goal",
                 "result", "uncached estimate"),
                [(f"{args.messages} messages", f"{without * 1e6:.1f} µs",
                  f"{with_figure * 1e6:.1f} µs", f"{ratio:.2f}x", f"<= {GOAL_RATIO:g}x",
                  verdict(passed), f"{fresh * 1e6:.0f} µs")])
    write_record("contextsize", {
        "messages": args.messages, "redraws": args.redraws,
        "redraw_without_us": round(without * 1e6, 2), "redraw_with_us": round(with_figure * 1e6, 2),
        "uncached_estimate_us": round(fresh * 1e6, 1),
        "headlines": [
            headline(f"toolbar redraw with ctx, {args.messages} messages: vs without", ratio,
                     f"<= {GOAL_RATIO:g}x", passed),
            headline(f"uncached context estimate, {args.messages} messages: vs cached redraw",
                     fresh / with_figure, "", None)],
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
