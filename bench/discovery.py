"""Benchmark: concurrent model discovery and validation against loopback OpenAI servers.

1. Eight providers, each answering `/models` after 200 ms. The wall time of one
   `discover_all` over all eight is compared with the slowest provider discovered alone,
   measured in the same run. Goal: ratio <= 1.3 (the providers are asked at once).
2. Validation of 40 models where each one-token chat request takes 200 ms, with
   concurrency 8. The wall time is compared with the ideal 5 x 200 ms (40 / 8 waves).
   Goal: ratio <= 1.3.

    python bench/discovery.py [--rounds N]

Prints a table and writes a JSON record to bench/results/discovery-<timestamp>.json. Exits 0
even when a goal is missed; a miss is printed as FAIL.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from common import fake_servers  # noqa: E402
from fakeserver import FakeOpenAIServer  # noqa: E402

from chatrepl.config import DiscoverySettings  # noqa: E402
from chatrepl.discoveredstore import DiscoveredStore  # noqa: E402
from chatrepl.discovery import ModelDiscoveryService  # noqa: E402
from chatrepl.manager import ProviderManager  # noqa: E402

PROVIDERS = 8
MODELS_DELAY = 0.2
VALIDATE_MODELS = 40
CHAT_DELAY = 0.2
CONCURRENCY = 8
GOAL = 1.3
RESULTS = ROOT / "bench" / "results"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_discovery(servers: list[FakeOpenAIServer], state_dir: Path, rounds: int) -> dict[str, object]:
    for index, server in enumerate(servers):
        server.behavior.models = [f"model-{index}-{n}" for n in range(30)] + ["text-embedding-x"]
        server.behavior.models_delay = MODELS_DELAY
    providers = {f"p{i}": {"base_url": s.url} for i, s in enumerate(servers)}
    manager = ProviderManager(providers)
    service = ModelDiscoveryService(manager, {}, DiscoverySettings(concurrency=CONCURRENCY),
                                    DiscoveredStore(state_dir / "discovered.yaml"))
    service.discover_models("p0", force_refresh=True)  # warm-up: SDK import, first client

    singles: list[float] = []
    together: list[float] = []
    for _ in range(rounds):
        alone = [timed(lambda name=name: check(service.discover_models(name, force_refresh=True)))
                 for name in providers]
        singles.append(max(alone))
        together.append(timed(lambda: [check(r) for r in service.discover_all(force_refresh=True)]))
    baseline, value = statistics.median(singles), statistics.median(together)
    return figure(f"discover_all, {PROVIDERS} providers x {MODELS_DELAY * 1000:.0f} ms",
                  value, baseline, "slowest provider alone (same run)")


def bench_validation(server: FakeOpenAIServer, state_dir: Path, rounds: int) -> dict[str, object]:
    ids = [f"chat-model-{n}" for n in range(VALIDATE_MODELS)]
    server.behavior.models = ids
    server.behavior.chat_delay = CHAT_DELAY
    manager = ProviderManager({"v": {"base_url": server.url}})
    service = ModelDiscoveryService(manager, {}, DiscoverySettings(concurrency=CONCURRENCY),
                                    DiscoveredStore(state_dir / "validate.yaml"))
    check(service.discover_models("v", force_refresh=True))
    walls: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        verdicts = service.validate_models("v", ids)
        walls.append(time.perf_counter() - start)
        if set(verdicts.values()) != {"valid"} or len(verdicts) != VALIDATE_MODELS:
            raise SystemExit(f"validation gave unexpected verdicts: {verdicts}")
    waves = -(-VALIDATE_MODELS // CONCURRENCY)
    ideal = waves * CHAT_DELAY
    # Faster than the ideal is impossible with at most CONCURRENCY requests at once: a ratio
    # well below 1 means the limit was not kept, which fails too.
    return figure(f"validate {VALIDATE_MODELS} models x {CHAT_DELAY * 1000:.0f} ms, concurrency "
                  f"{CONCURRENCY}", statistics.median(walls), ideal,
                  f"ideal {waves} x {CHAT_DELAY * 1000:.0f} ms", floor=0.95)


def check(result: object) -> None:
    if not getattr(result, "ok", False):
        raise SystemExit(f"discovery failed during the benchmark: {result}")


def figure(name: str, value: float, baseline: float, baseline_name: str,
           floor: float | None = None) -> dict[str, object]:
    ratio = value / baseline
    goal = f"<= {GOAL}" if floor is None else f"{floor}..{GOAL}"
    return {"figure": name, "value_s": round(value, 4), "baseline": baseline_name,
            "baseline_s": round(baseline, 4), "ratio": round(ratio, 3), "goal": goal,
            "pass": ratio <= GOAL and (floor is None or ratio >= floor)}


def print_table(rows: list[dict[str, object]]) -> None:
    headers = ("figure", "value", "baseline", "ratio", "goal", "result")
    table = [(str(r["figure"]), f"{r['value_s']:.3f} s",
              f"{r['baseline_s']:.3f} s ({r['baseline']})", f"{r['ratio']:.2f}", str(r["goal"]),
              "pass" if r["pass"] else "FAIL") for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median kept)")
    args = parser.parse_args()

    with fake_servers(PROVIDERS + 1) as servers, \
            tempfile.TemporaryDirectory(prefix="chatrepl-bench-") as state:
        rows = [bench_discovery(servers[:PROVIDERS], Path(state), args.rounds),
                bench_validation(servers[PROVIDERS], Path(state), args.rounds)]

    print(f"model discovery ({args.rounds} rounds, medians)")
    print_table(rows)
    failed = [r["figure"] for r in rows if not r["pass"]]
    if failed:
        print(f"FAIL: goal missed for: {'; '.join(map(str, failed))}")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {"bench": "discovery", "timestamp": stamp, "python": platform.python_version(),
              "platform": platform.platform(), "rounds": args.rounds, "figures": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"discovery-{stamp}.json"
    with out.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(f"record: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
