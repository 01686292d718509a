"""Benchmark: streaming a 5,000-chunk reply, chatrepl vs a bare openai SDK loop.

A loopback fake server sends the reply as fast as it can. Measured:
(a) in this process, a bare SDK loop that only reads the chunks: chunks/s and time to first token;
(b) whole runs in a pseudo-terminal (TERM=xterm-256color, colour on), spawned the same way:
    * bare: a script that imports the SDK, prints the first content chunk at once and only reads
      the rest (the loop the issue names as the baseline);
    * bare+print: the same loop writing and flushing every chunk as it arrives (no goal: it
      shows what putting each chunk on the terminal costs by itself);
    * chatrepl one-shot (`chatrepl -m fake/fake-chat go`) with Markdown rendering, and with --plain.
    Each is run with the full reply and with a 1-chunk reply; the difference of the medians is
    the cost of streaming the other chunks, free of start-up, so chunks/s = (N - 1) / difference.
    Time to first visible token: from spawn to the first chunk's text ('w0') appearing in the pty.
Two replies: the issue's 5,000 one-word chunks (`w0 w1 ...`, one long line), and a 5,000-chunk
Markdown document (headings, lists, quotes, inline styles, links, fenced Python code) that makes
the Markdown renderer restyle lines.

The servers run in processes of their own and the pty is read in batches every 5 ms (as a
terminal drawing frames would), so the harness takes little CPU from the child on a small machine.

Goals: chunks/s >= 0.8x bare with --plain, >= 0.5x with Markdown; first visible token <= 1.1x
bare's.

    python bench/streaming.py [--rounds N] [--chunks N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CHATREPL,
    child_env,
    headline,
    print_table,
    run_in_pty,
    server_process,
    summary,
    verdict,
    write_config,
    write_record,
)

CHUNKS = 5000
MODEL = "fake-chat"
GOALS = {"plain": 0.8, "markdown": 0.5}
TTFT_GOAL = 1.1
FIRST = "w0"

BARE = textwrap.dedent("""
    import sys
    import openai
    client = openai.OpenAI(base_url=sys.argv[1], api_key="not-needed", max_retries=0)
    stream = client.chat.completions.create(
        model=sys.argv[2], messages=[{"role": "user", "content": "go"}], stream=True)
    count = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if not count:
                sys.stdout.write(chunk.choices[0].delta.content)
                sys.stdout.flush()
            count += 1
    sys.stdout.write(f"\\n[{count} chunks]\\n")
""")
# The same loop printing every chunk as it arrives (flushed): what showing each chunk costs.
BARE_PRINT = BARE.replace("""        if not count:
            sys.stdout.write(chunk.choices[0].delta.content)
            sys.stdout.flush()""", """        sys.stdout.write(chunk.choices[0].delta.content)
        sys.stdout.flush()""")
assert BARE_PRINT != BARE

MD_BLOCK = (
    "## Section {i}\n\nThe **quick** brown fox jumps over the `lazy` dog, see"
    " [the docs](https://example.com/{i}) and _this_ too.\n- first *item* of {i}\n"
    "- second item with `code` and ~~old~~ text\n1. numbered **bold** entry\n> a quoted line"
    " for {i}\n\n```python\ndef f(x):\n    return x + {i}  # comment\n```\n\n---\n\n"
)


def markdown_reply(chunks: int) -> str:
    """A Markdown document of exactly `chunks` space-separated words, starting with 'w0'."""
    words = ["w0", "intro\n\n"]
    i = 0
    while len(words) < chunks:
        words += MD_BLOCK.format(i=i).split(" ")
        i += 1
    return " ".join(words[:chunks])


REPLIES = ("words", "markdown doc")
VARIANTS = ("bare", "bare+print", "plain", "markdown")


PROVIDER_OF = {"one chunk": "one", "words": "words", "markdown doc": "doc"}


def argv_for(variant: str, reply: str, url: str) -> list[str]:
    if variant.startswith("bare"):
        return [sys.executable, "-c", BARE if variant == "bare" else BARE_PRINT, url, MODEL]
    plain = ["--plain"] if variant == "plain" else []
    return [*CHATREPL, *plain, "-m", f"{PROVIDER_OF[reply]}/{MODEL}", "go"]


def pty_run(argv: list[str], env: dict[str, str], last: str = "") -> tuple[float, float]:
    """(first token, wall): seconds from spawn to 'w0' on the pty, and to exit. `last`: text
    the end of the output must hold (the whole reply arrived)."""
    first, wall, tail = run_in_pty(argv, env, FIRST.encode())
    if last and last.encode() not in tail:
        raise SystemExit(f"{argv[:4]}: the output does not end with {last!r}: {tail[-200:]!r}")
    return first, wall


def expected_end(variant: str, reply: str, chunks: int) -> str:
    """What the output of a complete run ends with ('' when styling makes it unpredictable)."""
    count = 1 if reply == "one chunk" else chunks
    if variant == "bare":
        return f"[{count} chunks]"
    return f"w{count - 1}" if reply != "markdown doc" else ""


def in_process(url: str, rounds: int) -> dict[str, float]:
    """The bare SDK loop in this process (SDK already imported): chunks/s and first token."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="not-needed", max_retries=0)
    rates, firsts = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "go"}], stream=True)
        count, first = 0, 0.0
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not count:
                    first = time.perf_counter() - start
                count += 1
        rates.append(count / (time.perf_counter() - start))
        firsts.append(first)
    return {"chunks_per_s": statistics.median(rates), "first_token_s": statistics.median(firsts),
            "chunks": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help=f"chunks (default {CHUNKS})")
    args = parser.parse_args(argv)
    n = args.chunks

    walls: dict[tuple[str, str], list[float]] = {}
    firsts: dict[str, list[float]] = {v: [] for v in VARIANTS}
    # Each reply from its own server process: a server in this process would share the GIL with
    # the pty reader and slow every run alike, hiding differences.
    with contextlib.ExitStack() as stack:
        urls = {"one chunk": stack.enter_context(server_process(chunk_count=1)),
                "words": stack.enter_context(server_process(chunk_count=n)),
                "markdown doc": stack.enter_context(server_process(chat_reply=markdown_reply(n)))}
        home = Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="chatrepl-bench-streaming-"))) / "home"
        write_config(home, {PROVIDER_OF[reply]: url for reply, url in urls.items()},
                     discovery=False, models={pid: [MODEL] for pid in PROVIDER_OF.values()})
        env = child_env(home, term="xterm-256color")
        bare_in_process = in_process(urls["words"], 3)
        for variant in VARIANTS:  # warm-up: page cache and .pyc files
            pty_run(argv_for(variant, "one chunk", urls["one chunk"]), env,
                    expected_end(variant, "one chunk", n))
        for _ in range(args.rounds):
            for reply in ("one chunk", *REPLIES):
                for variant in VARIANTS:
                    first, wall = pty_run(argv_for(variant, reply, urls[reply]), env,
                                          expected_end(variant, reply, n))
                    walls.setdefault((reply, variant), []).append(wall)
                    if reply == "words":
                        firsts[variant].append(first)

    med = {key: statistics.median(values) for key, values in walls.items()}
    rows: list[dict[str, Any]] = []
    for reply in REPLIES:
        # A floor of 1 ms: with a tiny --chunks, noise can make the difference negative.
        cost = {v: max(0.001, med[(reply, v)] - med[("one chunk", v)]) for v in VARIANTS}
        for variant in VARIANTS:
            rate = (n - 1) / cost[variant]
            ratio = cost["bare"] / cost[variant]
            goal = GOALS.get(variant)
            rows.append({"reply": reply, "variant": variant,
                         "wall_1_ms": round(med[("one chunk", variant)] * 1000, 1),
                         "wall_n_ms": round(med[(reply, variant)] * 1000, 1),
                         "p90_n_ms": round(summary(walls[(reply, variant)])["p90"] * 1000, 1),
                         "stream_cost_ms": round(cost[variant] * 1000, 1),
                         "chunks_per_s": round(rate), "ratio_vs_bare": round(ratio, 3),
                         "goal": f">= {goal}x" if goal else "",
                         "pass": None if goal is None else ratio >= goal})
    ttft = {v: statistics.median(firsts[v]) for v in VARIANTS}
    ttft_rows = [{"variant": v, "first_token_ms": round(ttft[v] * 1000, 1),
                  "p90_ms": round(summary(firsts[v])["p90"] * 1000, 1),
                  "ratio_vs_bare": round(ttft[v] / ttft["bare"], 3),
                  "goal": "" if v.startswith("bare") else f"<= {TTFT_GOAL}x",
                  "pass": None if v.startswith("bare") else ttft[v] / ttft["bare"] <= TTFT_GOAL}
                 for v in VARIANTS]

    print(f"streaming {n:,} chunks from a loopback server ({args.rounds} rounds, medians)")
    print_table(("bare SDK loop in this process", "chunks/s", "first token"),
                [("reads only, SDK imported, client made", f"{bare_in_process['chunks_per_s']:.0f}",
                  f"{bare_in_process['first_token_s'] * 1000:.1f} ms")])
    print_table(("reply", "run", "1 chunk", f"{n} chunks", "p90", "streaming cost", "chunks/s",
                 "vs bare", "goal", "result"),
                [(r["reply"], r["variant"], f"{r['wall_1_ms']:.0f} ms", f"{r['wall_n_ms']:.0f} ms",
                  f"{r['p90_n_ms']:.0f} ms", f"{r['stream_cost_ms']:.0f} ms", r["chunks_per_s"],
                  f"{r['ratio_vs_bare']:.2f}x", r["goal"], verdict(r["pass"])) for r in rows],
                "whole runs in a pty (spawn to exit); streaming cost = N-chunk run - 1-chunk run")
    print_table(("run", "first visible token", "p90", "vs bare", "goal", "result"),
                [(r["variant"], f"{r['first_token_ms']:.0f} ms", f"{r['p90_ms']:.0f} ms",
                  f"{r['ratio_vs_bare']:.2f}x", r["goal"], verdict(r["pass"])) for r in ttft_rows],
                "time from spawn to 'w0' on the pty (the one-word reply runs)")

    headlines = []
    for r in rows:
        if r["goal"]:
            headlines.append(headline(f"streaming {r['reply']}: {r['variant']} chunks/s vs bare",
                                      r["ratio_vs_bare"], r["goal"], r["pass"]))
    for r in ttft_rows:
        if r["goal"]:
            headlines.append(headline(f"streaming: {r['variant']} first token vs bare",
                                      r["ratio_vs_bare"], r["goal"], r["pass"]))
    write_record("streaming", {"rounds": args.rounds, "chunks": n,
                               "bare_in_process": bare_in_process, "rows": rows, "first_token": ttft_rows,
                               "samples_ms": {f"{k[0]}/{k[1]}": [round(x * 1000, 1) for x in v]
                                              for k, v in walls.items()},
                               "headlines": headlines})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
