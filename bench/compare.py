"""Benchmark: /compare against loopback servers of different delays.

1. Wall time. Three providers, each a fake server in a process of its own, answering after
   200, 500 and 800 ms and then streaming 40 chunks 10 ms apart. The wall time of one
   comparison of all three (`run_comparison`, drawn live by `CompareView` to a sink that acts
   as a 120x40 terminal) is compared with the slowest model answering alone (a plain
   `ChatSession.send`), measured in the same run. Goal: ratio <= 1.15 (they run at once).
2. Rendering keeps up. Three servers stream 100 chunks/s each (chunk_delay 10 ms, 300 chunks);
   for every chunk, the time from its arrival on the worker to the main thread having taken it
   into the view (`lag`) is measured while the live frame is redrawn every tick. Goal: p99 lag
   <= 0.1 s (two frames), i.e. the renderer keeps up with each stream's chunk rate.
   Also at full speed (no delay, 3,000 chunks each): chunks/s per stream with the live view
   against the same run with no view (goal >= 0.8x; reported, the bare SDK loop is the cap).

    python bench/compare.py [--rounds N]

Prints a table and writes a JSON record to bench/results/compare-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import headline, percentile, print_table, server_process, verdict, write_record

from chatrepl.chat import ChatSession
from chatrepl.compare import CompareEvent, Contender, run_comparison
from chatrepl.comparerender import CompareView
from chatrepl.config import ChatSettings
from chatrepl.manager import ProviderManager

DELAYS = (0.2, 0.5, 0.8)
WALL_GOAL = 1.15
LAG_GOAL = 0.1
THROUGHPUT_GOAL = 0.8


@contextlib.contextmanager
def providers(behaviors: list[dict[str, Any]]) -> Iterator[tuple[ProviderManager, list[Contender]]]:
    """One provider per behaviour, each on a fake server process of its own."""
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(server_process(**b)) for b in behaviors]
        manager = ProviderManager({f"p{i}": {"base_url": url, "valid_models": ["m"]}
                                   for i, url in enumerate(urls)})
        yield manager, [Contender(f"p{i}", "m") for i in range(len(urls))]


def base_session(manager: ProviderManager, contender: Contender) -> ChatSession:
    settings = ChatSettings(max_retries=0, read_timeout_seconds=30.0)
    return ChatSession(manager, {}, settings, provider=contender.provider, model=contender.model)


def view_for(contenders: list[Contender]) -> CompareView:
    """A live view drawing to memory as to a 120x40 terminal (frames built and written)."""
    return CompareView(io.StringIO(), contenders, columns=lambda: 120, lines=lambda: 40, live=True)


def compared(manager: ProviderManager, contenders: list[Contender],
             on_event: Any = None, view: CompareView | None = None) -> float:
    start = time.perf_counter()
    comparison = run_comparison(base_session(manager, contenders[0]), contenders, "go",
                                on_event=on_event or (view.add if view else None),
                                tick=view.draw if view else None)
    elapsed = time.perf_counter() - start
    failed = [a.error for a in comparison.answers if a.error]
    if failed:
        raise SystemExit(f"a model failed: {failed[0]}")
    if view is not None:
        view.finish(comparison)
    return elapsed


def bench_wall(rounds: int) -> dict[str, Any]:
    behaviors = [{"chat_delay": d, "chunk_delay": 0.01, "chunk_count": 40} for d in DELAYS]
    with providers(behaviors) as (manager, contenders):
        slowest = contenders[-1]
        base_session(manager, slowest).send("warm up")  # SDK import, first connection
        alone, together = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            base_session(manager, slowest).send("go")
            alone.append(time.perf_counter() - start)
            together.append(compared(manager, contenders, view=view_for(contenders)))
    baseline, value = statistics.median(alone), statistics.median(together)
    ratio = value / baseline
    return {"figure": f"compare wall time, {len(DELAYS)} models ({'/'.join(f'{d:g}' for d in DELAYS)} s"
                      " + 40 chunks)", "value_s": value, "baseline_s": baseline, "ratio": ratio,
            "goal": f"<= {WALL_GOAL}x", "pass": ratio <= WALL_GOAL}


def bench_lag(rounds: int) -> dict[str, Any]:
    behaviors = [{"chunk_delay": 0.01, "chunk_count": 300} for _ in range(3)]
    lags: list[float] = []
    with providers(behaviors) as (manager, contenders):
        compared(manager, contenders)  # warm-up
        for _ in range(rounds):
            view = view_for(contenders)

            def on_event(event: CompareEvent, view: CompareView = view) -> None:
                view.add(event)
                if event.kind == "content":
                    lags.append(time.monotonic() - event.at)

            comparison = run_comparison(base_session(manager, contenders[0]), contenders, "go",
                                        on_event=on_event, tick=view.draw)
            view.finish(comparison)
    p99 = percentile(lags, 0.99)
    return {"figure": "render lag p99, 3 streams x 100 chunks/s", "value_s": p99,
            "median_s": statistics.median(lags), "chunks": len(lags),
            "goal": f"<= {LAG_GOAL} s", "pass": p99 <= LAG_GOAL}


def bench_throughput(rounds: int) -> dict[str, Any]:
    chunks = 3000
    behaviors = [{"chunk_count": chunks} for _ in range(3)]
    with providers(behaviors) as (manager, contenders):
        compared(manager, contenders)  # warm-up
        bare, drawn = [], []
        for _ in range(rounds):
            bare.append(chunks / compared(manager, contenders))
            drawn.append(chunks / compared(manager, contenders, view=view_for(contenders)))
    baseline, value = statistics.median(bare), statistics.median(drawn)
    ratio = value / baseline
    return {"figure": f"full-speed chunks/s per stream, live view vs none (3 x {chunks})",
            "value": value, "baseline": baseline, "ratio": ratio,
            "goal": f">= {THROUGHPUT_GOAL}x", "pass": ratio >= THROUGHPUT_GOAL}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    wall, lag, throughput = bench_wall(args.rounds), bench_lag(args.rounds), \
        bench_throughput(args.rounds)
    print_table(("figure", "value", "baseline", "ratio", "goal", "result"), [
        (wall["figure"], f"{wall['value_s']:.3f} s", f"{wall['baseline_s']:.3f} s",
         f"{wall['ratio']:.2f}x", wall["goal"], verdict(wall["pass"])),
        (lag["figure"], f"{lag['value_s'] * 1000:.1f} ms", f"median {lag['median_s'] * 1000:.1f} ms",
         "", lag["goal"], verdict(lag["pass"])),
        (throughput["figure"], f"{throughput['value']:.0f}/s", f"{throughput['baseline']:.0f}/s",
         f"{throughput['ratio']:.2f}x", throughput["goal"], verdict(throughput["pass"])),
    ])
    write_record("compare", {
        "rounds": args.rounds, "wall": wall, "lag": lag, "throughput": throughput,
        "headlines": [
            headline("compare: wall time vs slowest model alone", wall["ratio"], wall["goal"],
                     wall["pass"]),
            headline("compare: render lag p99 (3 x 100 chunks/s)", lag["value_s"] * 1000,
                     f"<= {LAG_GOAL * 1000:g} ms", lag["pass"], unit="ms"),
            headline("compare: full-speed chunks/s, live view vs none", throughput["ratio"],
                     throughput["goal"], throughput["pass"]),
        ]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
