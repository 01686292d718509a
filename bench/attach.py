"""Benchmark: how long `/attach` holds the prompt's thread, for a 1 MB text file and a 5 MB image.

`/attach PATH` reads, hashes and base64-encodes on a thread of its own; what the prompt's thread
does is parse the line and start that thread. Measured: `handle_line(state, "/attach PATH")` on
the calling thread (the load then finishes before the next round, untimed). Baseline, in the
same run: the same reading and encoding done on the calling thread (`load_paths`), which is
what a synchronous /attach would cost. Goal: under 50 ms (p99) on the prompt's thread.

    python bench/attach.py [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import headline, percentile, print_table, verdict, write_record
from replhelpers import build_repl_state

from chatrepl.attachpaths import load_paths
from chatrepl.repl import handle_line

GOAL_MS = 50.0
PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def _files(folder: Path) -> dict[str, Path]:
    text = folder / "big.txt"
    line = "The quick brown fox jumps over the lazy dog, again and again. 0123456789\n"
    text.write_text(line * (1024 * 1024 // len(line) + 1), encoding="utf-8")
    image = folder / "big.png"
    image.write_bytes(PNG_HEAD + os.urandom(5 * 1024 * 1024 - len(PNG_HEAD)))
    return {"1 MB text file": text, "5 MB image": image}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    rows, headlines, record = [], [], {}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(
            "providers:\n  fake:\n    base_api_url: http://127.0.0.1:9/v1\n"
            "    valid_models: [fake-chat]\n", encoding="utf-8")
        state = build_repl_state(home, "fake", "fake-chat", out=io.StringIO())[0]
        for label, path in _files(Path(folder)).items():
            ours, sync = [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                handle_line(state, f"/attach {path}")
                ours.append((time.perf_counter() - start) * 1000)
                state.attachments.wait()
                assert len(state.attachments.items) == 1, "the load did not stage the file"
                state.attachments.drop()
                start = time.perf_counter()
                load_paths([str(path)])
                sync.append((time.perf_counter() - start) * 1000)
            p99, base = percentile(ours, 0.99), percentile(sync, 0.5)
            passed = p99 < GOAL_MS
            rows.append((label, f"{percentile(ours, 0.5):.2f} ms", f"{p99:.2f} ms", f"{base:.1f} ms",
                         f"{base / max(p99, 1e-6):.2f}x", f"< {GOAL_MS:g} ms", verdict(passed)))
            headlines.append(headline(f"/attach {label}: p99 on the prompt's thread", p99,
                                      f"< {GOAL_MS:g} ms", passed, unit="ms"))
            record[label] = {"prompt_thread_ms_p99": round(p99, 3),
                             "prompt_thread_ms_median": round(percentile(ours, 0.5), 3),
                             "synchronous_read_ms_median": round(base, 3)}
    print_table(("attachment", "median", "p99", "read on the thread (median)", "read / p99", "goal",
                 "result"), rows)
    write_record("attach", {"rounds": args.rounds, **record, "headlines": headlines})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
