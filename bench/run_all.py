"""Run every benchmark in turn and print a summary of the headline figures and goals.

    python bench/run_all.py [--thorough] [NAME ...]   (default: all; `make bench` runs this)

Each benchmark prints its own table and writes its JSON record to bench/results/; the summary
is read back from those records. A missed goal is shown as FAIL; the exit code is 1 only when a
benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, headline, print_table, verdict

BENCHES = ("discovery", "completion", "startup", "streaming", "memory", "configload",
           "contextsize", "compare", "history", "attach")
# Options that keep the whole run within ~5 minutes on 2 cores (`--thorough` drops them).
# completion: FuzzyCompleter over 48k names takes ~70 s per round; 2 rounds instead of 3.
QUICK = {"completion": ["--rounds", "2"]}
# Always: completion is measured with catalog facts in the menu meta, as the REPL shows them.
ALWAYS = {"completion": ["--meta"]}


def newest_record(name: str, since: float) -> dict[str, Any] | None:
    """The newest bench/results/<name>-*.json written after `since`."""
    files = [p for p in RESULTS.glob(f"{name}-*.json") if p.stat().st_mtime >= since - 1]
    if not files:
        return None
    text = max(files, key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:  # several JSON lines appended to one file: the last one
        return json.loads(text.strip().splitlines()[-1])


def headlines_of(name: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures to quote from a record, in the common headline shape."""
    if "headlines" in record:
        return list(record["headlines"])
    if name == "discovery":
        return [headline(f"discovery: {f['figure']}", f["ratio"], f["goal"], f["pass"])
                for f in record.get("figures", [])]
    if name == "completion":
        out = []
        for row in record.get("rows", []):
            goal = row["goal_p99_ms"]
            out.append(headline(f"completion {row['label']}: p99 per keystroke", row["ours_p99_ms"],
                                f"<= {goal:g} ms", row["ours_p99_ms"] <= goal, unit="ms"))
            ratio = min(row["fuzzy_p99_ratio"], row["fuzzy_word_p99_ratio"])
            out.append(headline(f"completion {row['label']}: p99 vs FuzzyCompleter (worse of two)",
                                ratio, ">= 30x", ratio >= 30))
        return out
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default all: {', '.join(BENCHES)})")
    parser.add_argument("--thorough", action="store_true",
                        help="each benchmark's own defaults (completion: 3 rounds; ~1.5 min more)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")

    summary: list[dict[str, Any]] = []
    durations: list[tuple[str, float, str]] = []
    broken = False
    for name in args.names or BENCHES:
        print(f"\n=== {name} " + "=" * 60, flush=True)
        start = time.time()
        options = ALWAYS.get(name, []) + ([] if args.thorough else QUICK.get(name, []))
        saved_argv = sys.argv
        sys.argv = [f"bench/{name}.py", *options]  # for a bench whose main() reads sys.argv
        try:
            module = importlib.import_module(name)
            code = module.main() if name == "discovery" else module.main(options)
            status = "ok" if code in (0, None) else f"exit {code}"
        except (Exception, SystemExit) as exc:  # one broken bench must not stop the others
            traceback.print_exc()
            status, broken = f"error: {type(exc).__name__}: {exc}", True
        finally:
            sys.argv = saved_argv
        durations.append((name, time.time() - start, status))
        record = newest_record(name, start)
        if record is None:
            summary.append(headline(f"{name}: no record written", 0, "", False, unit=""))
            broken = True
            continue
        summary.extend(headlines_of(name, record))

    print("\n=== summary " + "=" * 60)
    print_table(("figure", "value", "goal", "result"),
                [(h["figure"], f"{h['value']:.2f}{'' if h['unit'] in ('', 'x') else ' '}{h['unit']}",
                  h["goal"], verdict(h["pass"])) for h in summary])
    print_table(("benchmark", "time", "status"),
                [(name, f"{seconds:.0f} s", status) for name, seconds, status in durations])
    failed = [h["figure"] for h in summary if h["pass"] is False]
    print(f"{len(summary) - len(failed)} of {len(summary)} goals met"
          + (f"; missed: {'; '.join(failed)}" if failed else ""))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
