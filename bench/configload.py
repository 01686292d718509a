"""Benchmark: loading a legacy providers file with 48,000 models (about 2.5 MB).

Older versions wrote every discovered model into the providers file. The time to load it with
`load_config` (YAML with line numbers, then the pydantic models) is compared with the fastest way
PyYAML reads the same text (libyaml's `CSafeLoader`, no line numbers, no validation), measured in
the same run. Goal: load_config <= 2.5x the bare parse. In the REPL this load runs behind the first
prompt; a one-shot run waits for it.

    python bench/configload.py [--rounds N] [--models N]
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

import yaml
from common import headline, print_table, verdict, write_record
from legacyfile import legacy_providers_yaml

from chatrepl.config import load_config

GOAL_RATIO = 2.5


def _timed(action: Any, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", type=int, default=48_000)
    args = parser.parse_args(argv)
    text = legacy_providers_yaml(args.models)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        loaded = load_config(path, {})
        assert sum(len(p.valid_models) for p in loaded.providers.values()) == args.models
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        bare = _timed(lambda: yaml.load(path.read_text(encoding="utf-8"), Loader=loader), args.rounds)
        ours = _timed(lambda: load_config(path, {}), args.rounds)
    ratio = ours / bare
    passed = ratio <= GOAL_RATIO
    print_table(("file", "load_config", f"bare {loader.__name__}", "ratio", "goal", "result"),
                [(f"{args.models} models, {len(text) / 1e6:.1f} MB", f"{ours:.2f} s", f"{bare:.2f} s",
                  f"{ratio:.2f}x", f"<= {GOAL_RATIO:g}x", verdict(passed))])
    write_record("configload", {
        "models": args.models, "bytes": len(text), "rounds": args.rounds,
        "load_config_s": round(ours, 3), "bare_parse_s": round(bare, 3), "baseline": loader.__name__,
        "headlines": [headline(f"config load, {args.models // 1000}k-model legacy file: vs bare"
                               f" {loader.__name__}", ratio, f"<= {GOAL_RATIO:g}x", passed),
                      headline(f"config load, {args.models // 1000}k-model legacy file", ours,
                               "", None, unit="s")],
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
