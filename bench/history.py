"""Benchmark: the history database with 10,000 conversations / 200,000 messages.

Builds a database through `HistoryDB` (the REPL's own writes) from generated text (a Zipf-like
vocabulary, so some words are in most messages and some in few), then times:

* search (FTS5, one hit per conversation, snippets), against the plain way of searching the
  same table measured in the same run: `content LIKE '%word%'` for each word;
* listing the 20 most recent conversations (what `/history` shows);
* writing one turn (user + reply, one transaction) into existing conversations; the
  checkpoint the writer thread runs after a turn once the log passes 4 MB is timed apart
  (it is not inside the turn's commit, and the prompt waits for neither);
* the file size against the raw text stored (role, content).

Wall-clock p99s on a busy machine include time spent waiting for a CPU; the write is also
timed in CPU time (`time.thread_time`) to show the work itself.

Goals (issue 15): search p99 <= 50 ms, recent p99 <= 10 ms, write p99 <= 5 ms, size <= 2x text.

    python bench/history.py [--conversations N] [--messages-per N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import headline, print_table, summary, verdict, write_record

from chatrepl.historydb import HistoryDB, NewMessage, fts_query
from chatrepl.messages import assistant, user

GOALS_MS = {"search": 50.0, "recent": 10.0, "write": 5.0}
GOAL_SIZE = 2.0
QUERIES = ("word7", "word1500", "word3 word9", "word42 word811", "word19990", "word12",
           "word2 word5 word8", "wor", "word300 word301", '"(NEAR word4*-', "absentword")


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    return [f"word{i}" for i in range(size)]


def _text(rng: random.Random, words: list[str], count: int) -> str:
    # Zipf-like: low-numbered words are common, high-numbered ones rare.
    picks = [words[min(len(words) - 1, int(rng.paretovariate(0.9)) - 1)] for _ in range(count)]
    return " ".join(picks)


def build(path: Path, conversations: int, per: int, seed: int = 15) -> int:
    """Fill a database at `path`; the bytes of role and content text stored."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    db = HistoryDB(path)
    raw = 0
    when = time.time() - conversations * 60
    for number in range(conversations):
        chain = []
        for index in range(per):
            if index % 2 == 0:
                message = user(_text(rng, words, rng.randint(5, 25)))
            else:
                message = assistant(_text(rng, words, rng.randint(40, 140)))
            raw += len(message.content.encode()) + len(message.role)
            chain.append(NewMessage(message, "openai" if message.role == "assistant" else None,
                                    "gpt-4o-mini" if message.role == "assistant" else None))
        conversation = db.new_conversation("openai", "gpt-4o-mini", created=when + number * 60)
        db.add_messages(conversation, None, chain, when=when + number * 60)
        db.maintain()  # as the REPL's writer thread does after a turn
    db.close()
    return raw


def _timed(action: Any, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _like_search(path: Path, query: str) -> list[int]:
    """The baseline: each word as a LIKE pattern over every message."""
    db = sqlite3.connect(path)
    words = [w for w in query.split() if any(c.isalnum() for c in w)] or [query]
    sql = ("SELECT DISTINCT conversation_id FROM messages WHERE "
           + " AND ".join("content LIKE ?" for _ in words) + " ORDER BY id DESC LIMIT 20")
    found = [r[0] for r in db.execute(sql, [f"%{w}%" for w in words])]
    db.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-per", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="timings per query")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite3"
        started = time.perf_counter()
        raw = build(path, args.conversations, args.messages_per)
        built = time.perf_counter() - started
        db = HistoryDB(path)
        db._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        search: list[float] = []
        for query in QUERIES:
            assert fts_query(query) or query == '"(NEAR word4*-'
            db.search(query)  # warm
            search += _timed(lambda q=query: db.search(q), args.rounds)
        baseline = []
        for query in QUERIES[:4]:
            baseline += _timed(lambda q=query: _like_search(path, q), 2)
        recent = _timed(lambda: db.recent(20), args.rounds * 10)
        rng = random.Random(7)
        ids = [row.id for row in db.recent(200)]
        writes, checkpoints, write_cpu = [], [], []
        for number in range(args.rounds * 40):
            conversation = rng.choice(ids)
            found = db.conversation(conversation)
            assert found is not None
            parent = found.path[-1].id if found.path else None
            turn = [NewMessage(user(f"benchmark question {number}")),
                    NewMessage(assistant("an answer " * 60), "openai", "gpt-4o-mini")]
            start, cpu = time.perf_counter(), time.thread_time()
            db.add_messages(conversation, parent, turn)
            writes.append((time.perf_counter() - start) * 1000)
            write_cpu.append((time.thread_time() - cpu) * 1000)
            start = time.perf_counter()
            if db.maintain():  # what the recorder does next, after the turn is committed
                checkpoints.append((time.perf_counter() - start) * 1000)
        messages = db._db.execute("SELECT count(*) FROM messages").fetchone()[0]
        db.close()

    figures = {"search": summary(search), "recent": summary(recent), "write": summary(writes),
               "like_baseline": summary(baseline),
               "checkpoint": summary(checkpoints or [0.0]), "write_cpu": summary(write_cpu)}
    size_ratio = size / raw
    speedup = figures["like_baseline"]["median"] / figures["search"]["median"]
    rows = [(name, f"{figures[name]['median']:.2f} ms", f"{figures[name]['p99']:.2f} ms",
             f"<= {GOALS_MS[name]:g} ms", verdict(figures[name]["p99"] <= GOALS_MS[name]))
            for name in ("search", "recent", "write")]
    rows.append(("write, CPU time (no waiting)", f"{figures['write_cpu']['median']:.2f} ms",
                 f"{figures['write_cpu']['p99']:.2f} ms", "", ""))
    rows.append((f"checkpoint after a turn ({len(checkpoints)} of {len(writes)})",
                 f"{figures['checkpoint']['median']:.2f} ms",
                 f"{figures['checkpoint']['p99']:.2f} ms", "writer thread", ""))
    rows.append(("LIKE scan (baseline)", f"{figures['like_baseline']['median']:.2f} ms",
                 f"{figures['like_baseline']['p99']:.2f} ms", "", ""))
    rows.append(("size / raw text", f"{size_ratio:.2f}x", f"{size / 1e6:.0f} MB / {raw / 1e6:.0f} MB",
                 f"<= {GOAL_SIZE:g}x", verdict(size_ratio <= GOAL_SIZE)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.conversations:,} conversations, {messages:,} messages; built in {built:.0f} s;"
          f" search {speedup:.0f}x faster than a LIKE scan (median); load average {load:.1f}"
          f" on {os.cpu_count()} CPUs (wall-clock p99s include waiting for them)")
    print_table(("figure", "median", "p99", "goal", "result"), rows)
    headlines = [headline(f"history {name}: p99", figures[name]["p99"],
                          f"<= {GOALS_MS[name]:g} ms", figures[name]["p99"] <= GOALS_MS[name],
                          unit="ms") for name in ("search", "recent", "write")]
    headlines.append(headline("history search vs LIKE scan (median)", speedup, "", None))
    headlines.append(headline("history db size / raw text", size_ratio, f"<= {GOAL_SIZE:g}x",
                              size_ratio <= GOAL_SIZE))
    write_record("history", {"conversations": args.conversations, "messages": messages,
                             "raw_bytes": raw, "db_bytes": size, "build_seconds": built,
                             "load_average": load, "figures": figures, "headlines": headlines})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
