"""Helpers shared by the benchmarks: timing statistics, tables, JSON records, pseudo-terminals.

Importing this module puts the repository root and `tests/` on `sys.path`, so a benchmark run as
`python bench/NAME.py` can import `chatrepl` and `fakeserver`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import select
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
for _path in (ROOT / "tests", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pexpect  # noqa: E402
from fakeserver import FakeOpenAIServer  # noqa: E402

# How a benchmark starts chatrepl: the interpreter running the benchmark (the venv's).
CHATREPL = (sys.executable, "-m", "chatrepl")
PROMPT = "›"
# Variables of the parent environment that would change what a child chatrepl does.
# PYTHONUNBUFFERED (set on some CI machines) would turn every buffered write into a syscall.
_DROPPED_ENV = ("NO_COLOR", "COLORTERM", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP",
                "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


# -- statistics ------------------------------------------------------------------------------
def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in 0..1."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples: Sequence[float]) -> dict[str, float]:
    """median, p90, p99, min and max of `samples` (as given, e.g. seconds)."""
    return {"median": statistics.median(samples), "p90": percentile(samples, 0.9),
            "p99": percentile(samples, 0.99), "min": min(samples), "max": max(samples),
            "n": len(samples)}


def verdict(passed: bool | None) -> str:
    return "—" if passed is None else ("pass" if passed else "FAIL")


def headline(figure: str, value: float, goal: str, passed: bool | None,
             unit: str = "x") -> dict[str, Any]:
    """One line of the final summary of `run_all.py`."""
    return {"figure": figure, "value": round(value, 3), "unit": unit, "goal": goal,
            "pass": passed}


# -- output ----------------------------------------------------------------------------------
def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """A plain left-aligned text table."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(title)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()


def write_record(name: str, record: Mapping[str, Any]) -> Path:
    """Write `record` (plus time and machine) to bench/results/<name>-<timestamp>.json."""
    now = datetime.now(timezone.utc)
    full = {"benchmark": name, "time": now.isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": platform.machine(),
            "platform": platform.platform(), "cpus": os.cpu_count(), **record}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    print(f"record: {path.relative_to(ROOT)}")
    return path


# -- fake servers ----------------------------------------------------------------------------
@contextlib.contextmanager
def fake_servers(count: int) -> Iterator[list[FakeOpenAIServer]]:
    """`count` loopback OpenAI-compatible servers, all stopped on the way out."""
    servers: list[FakeOpenAIServer] = []
    try:
        for _ in range(count):
            servers.append(FakeOpenAIServer().start())
        yield servers
    finally:
        stoppers = [threading.Thread(target=server.stop) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)


_SERVER_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from fakeserver import FakeOpenAIServer
server = FakeOpenAIServer().start()
try:
    for name, value in json.loads(sys.argv[2]).items():
        setattr(server.behavior, name, value)
    print(server.url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
finally:
    server.stop()
"""


@contextlib.contextmanager
def server_process(**behavior: Any) -> Iterator[str]:
    """A fake server in a process of its own (so it never competes with the benchmark for the
    GIL), with the given Behavior fields; yields its base URL and stops it on the way out."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT, str(ROOT / "tests"),
                             json.dumps(behavior)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=str(ROOT))
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the fake server process did not start: {url!r}")
        yield url
    finally:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- a chatrepl home -------------------------------------------------------------------------
def write_config(home: Path, providers: Mapping[str, str], *, discovery: bool,
                 models: Mapping[str, Sequence[str]] | None = None) -> Path:
    """config.yaml with `providers` (id -> base URL), and optionally models listed inline."""
    lines = ["discovery:", f"  on_startup: {'true' if discovery else 'false'}", "providers:"]
    for pid, url in providers.items():
        lines += [f"  {pid}:", f"    base_url: {url}"]
        listed = (models or {}).get(pid)
        if listed:
            lines.append("    valid_models: [" + ", ".join(listed) + "]")
    path = home / "config.yaml"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_discovered(home: Path, found: Mapping[str, tuple[str, Sequence[str]]],
                     discovered_at: float) -> Path:
    """The discovered-models state file as chatrepl.discoveredstore.DiscoveredStore writes it.

    `found`: provider id -> (base URL, model ids). The path comes from chatrepl.paths.
    """
    from chatrepl.paths import resolve_paths

    path = resolve_paths({"CHATREPL_HOME": str(home)}).discovered_file
    payload = {
        "providers": {pid: {"name": pid, "base_api_url": url, "valid_models": {m: m for m in ids},
                            "invalid_models": []}
                      for pid, (url, ids) in found.items()},
        "discovered_at": {pid: discovered_at for pid in found},
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # chatrepl refuses an open one
    path.parent.chmod(0o700)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path


def child_env(home: Path | None, term: str = "xterm", **extra: str) -> dict[str, str]:
    """The parent's environment without colour/profiling switches, with CHATREPL_HOME set and
    prompt_toolkit's cursor-position request off (a pty never answers it)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _DROPPED_ENV and not k.startswith("CHATREPL_")}
    env.update(TERM=term, PROMPT_TOOLKIT_NO_CPR="1", **extra)
    if home is not None:
        env["CHATREPL_HOME"] = str(home)
    return env


# -- pseudo-terminals ------------------------------------------------------------------------
def spawn(argv: Sequence[str], env: Mapping[str, str], rows: int = 40,
          cols: int = 120) -> pexpect.spawn:
    """`argv` in a fresh pseudo-terminal; reads in large blocks so the child never waits on us."""
    child = pexpect.spawn(argv[0], list(argv[1:]), env=dict(env), encoding="utf-8",
                          codec_errors="replace", dimensions=(rows, cols), maxread=65536,
                          searchwindowsize=4096, timeout=60, cwd=str(ROOT))
    child.delaybeforesend = None
    child.delayafterclose = 0.01
    child.delayafterterminate = 0.01
    return child


def finish(child: pexpect.spawn, timeout: float = 10) -> None:
    """Wait for the child to exit (draining its output); kill it if it will not."""
    try:
        child.expect(pexpect.EOF, timeout=timeout)
    except pexpect.TIMEOUT:
        child.terminate(force=True)
    finally:
        child.close(force=True)


def drain(child: pexpect.spawn, seconds: float) -> None:
    """Read whatever the child writes for `seconds`, so it never blocks on a full pty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(pexpect.TIMEOUT):
            child.read_nonblocking(65536, timeout=min(0.1, max(0.0, deadline - time.monotonic())))


def quit_repl(child: pexpect.spawn) -> None:
    """Ctrl-C (clears the line), Ctrl-D (exits at an empty prompt), then wait for the exit."""
    with contextlib.suppress(OSError):
        child.sendcontrol("c")
        child.sendcontrol("d")
    finish(child)


def run_in_pty(argv: Sequence[str], env: Mapping[str, str], marker: bytes, rows: int = 40,
               cols: int = 120, timeout: float = 120, batch: float = 0.005) -> tuple[float, float, bytes]:
    """Run `argv` with a pseudo-terminal as stdin/stdout/stderr, reading its output cheaply.

    Returns (seconds to `marker` in the output, seconds to exit, the last 2 kB of output). The
    reader waits on select until `marker` shows, then reads whatever is there every `batch`
    seconds (the pty holds far more than the child writes meanwhile), so measuring takes little
    CPU from the child on a small machine, unlike a reader that wakes for every write.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env),
                            cwd=str(ROOT), start_new_session=True, close_fds=True)
    os.close(slave)
    seen_at = exit_at = 0.0
    window, tail = b"", b""
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if seen_at:
                time.sleep(batch)
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(master, 1 << 20)
            except OSError:  # EIO: the child closed the pty
                data = b""
            if not data:
                exit_at = time.perf_counter() - start
                break
            if not seen_at:
                window = window[-len(marker):] + data
                if marker in window:
                    seen_at = time.perf_counter() - start
            tail = (tail + data)[-2048:]
        else:
            raise SystemExit(f"{' '.join(argv[:4])}: no exit within {timeout} s")
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    if code != 0 or not seen_at:
        raise SystemExit(f"{' '.join(argv[:4])} exited with {code} (marker seen: {bool(seen_at)}):"
                         f" {tail[-300:]!r}")
    return seen_at, exit_at, tail


def time_to_exit(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Seconds from spawning `argv` in a pty until it closes its output."""
    start = time.perf_counter()
    child = spawn(argv, env)
    child.expect(pexpect.EOF)
    elapsed = time.perf_counter() - start
    child.close(force=True)
    if child.exitstatus not in (0, None):
        raise SystemExit(f"{' '.join(argv)} exited with {child.exitstatus}: {child.before[-500:]}")
    return elapsed


def time_subprocess(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Seconds for `argv` to run to exit with its output to a pipe (read whole)."""
    start = time.perf_counter()
    done = subprocess.run(list(argv), env=dict(env), capture_output=True,
                          stdin=subprocess.DEVNULL, cwd=str(ROOT), check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr[-500:]!r}")
    return elapsed


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS / VmPeak ... of a process in kB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key.startswith("Vm") and rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    return values


# -- -X importtime ---------------------------------------------------------------------------
def parse_importtime(text: str) -> list[tuple[int, str, int, int]]:
    """(depth, module, self us, cumulative us) per line of `-X importtime` output."""
    out = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|", 2)
        stripped = name.lstrip()
        out.append(((len(name) - len(stripped) - 1) // 2, stripped.strip(), int(own), int(cumulative)))
    return out


def median_importtimes(runs: Sequence[list[tuple[int, str, int, int]]]) -> dict[str, tuple[float, float]]:
    """Module -> (self ms, cumulative ms), each the median over the runs that imported it."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for run in runs:
        for _depth, name, own, cumulative in run:
            seen.setdefault(name, []).append((own, cumulative))
    return {name: (statistics.median(s for s, _ in v) / 1000, statistics.median(c for _, c in v) / 1000)
            for name, v in seen.items()}


def importtime(argv_after_python: Sequence[str], env: Mapping[str, str],
               runs: int = 3) -> dict[str, tuple[float, float]]:
    """Module -> (self ms, cumulative ms), each the median over `runs` runs of
    `python -X importtime ARGS`."""
    parsed = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", *argv_after_python],
                              env=dict(env), capture_output=True, text=True, cwd=str(ROOT),
                              stdin=subprocess.DEVNULL, check=False)
        parsed.append(parse_importtime(done.stderr))
    return median_importtimes(parsed)


def print_importtime(title: str, times: Mapping[str, tuple[float, float]], top: int = 15) -> None:
    rows = sorted(times.items(), key=lambda item: item[1][1], reverse=True)[:top]
    print_table(("module", "cumulative", "self"),
                [(name, f"{c:.1f} ms", f"{s:.1f} ms") for name, (s, c) in rows], title)


def total_import_ms(times: Mapping[str, tuple[float, float]], prefix: str) -> float | None:
    """Cumulative ms of the top-level package `prefix` (None when it was not imported)."""
    hit = times.get(prefix)
    return hit[1] if hit else None
