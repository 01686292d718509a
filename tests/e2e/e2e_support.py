"""Helpers of the e2e tests: running chatrepl, pseudo-terminals, processes, measured figures."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from localstandin import ends_within  # noqa: F401  (re-exported for the e2e tests)

FIGURES: dict[str, str] = {}
SERVER_WAIT = 180.0
REPLY_WAIT = 120.0
PROMPT = "›"
# Three letters in a row that are not the tail of an escape sequence: text the model wrote.
WORDS = re.compile(r"(?<![\x1b\[\]\d;?])[A-Za-z]{3,}")
_EVAL_LINE = re.compile(r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*(\d+) (?:runs|tokens)")


def unavailable(reason: str) -> None:
    """Skip, except under CI (`CI` set), where .ci/run installs the extra: there it fails."""
    if os.environ.get("CI"):
        pytest.fail(f"e2e under CI: {reason}")
    pytest.skip(reason)


def record(name: str, value: str) -> None:
    """Keep a measured figure for the summary at the end of the run."""
    FIGURES[name] = value


def chatrepl_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "CHATREPL_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("CHATREPL_CONFIG", None)
    return env


def run_chatrepl(home: Path, *args: str, input: str | None = None,
                 timeout: float = REPLY_WAIT) -> subprocess.CompletedProcess[str]:
    """`chatrepl ARGS` as a separate process with piped stdin/stdout/stderr."""
    return subprocess.run([sys.executable, "-m", "chatrepl", *args], env=chatrepl_env(home),
                          input=input if input is not None else "",
                          capture_output=True, text=True, timeout=timeout, check=False)


def first_output_after(home: Path, *args: str, timeout: float = REPLY_WAIT,
                       ) -> tuple[float | None, float, int, str]:
    """Run chatrepl; (seconds to its first stdout byte, seconds to exit, exit code, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "chatrepl", *args], env=chatrepl_env(home),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first: float | None = None
    chunks: list[bytes] = []
    deadline = started + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        if first is None and chunk.strip():
            first = time.monotonic() - started
        chunks.append(chunk)
    try:
        code = proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return first, time.monotonic() - started, code, b"".join(chunks).decode("utf-8", "replace")


def spawn_repl(home: Path, *args: str, timeout: float = REPLY_WAIT) -> pexpect.spawn:
    """chatrepl in a real pseudo-terminal."""
    return pexpect.spawn(sys.executable, ["-m", "chatrepl", *args], env=chatrepl_env(home),
                         encoding="utf-8", timeout=timeout, dimensions=(30, 120))


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        commands[int(entry.name)] = cmdline
    found: list[tuple[int, str]] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current:
                found.append((child, commands[child]))
                frontier.append(child)
    return found


def llama_servers_below(pid: int) -> list[int]:
    return [child for child, command in descendants(pid) if "chatrepl.localchild" in command]


def server_eval_rate(log_lines: list[str]) -> tuple[int, float] | None:
    """(tokens, tokens/s) of the last generation, from llama.cpp's own timing lines."""
    for line in reversed(log_lines):
        match = _EVAL_LINE.search(line)
        if match and float(match.group(1)) > 0:
            millis, tokens = float(match.group(1)), int(match.group(2))
            return tokens, tokens / (millis / 1000.0)
    return None
