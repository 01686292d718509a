"""tools/build_progress.py: a long build's output to a log, its progress on one line, its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect

TOOL = Path(__file__).resolve().parent.parent / "tools" / "build_progress.py"
BUILD_LINES = ["Collecting llama-cpp-python", "-- Configuring done",
               "[ 10%] Building C object ggml.c.o", "[4/180] Building CXX object llama.cpp.o"]


def _fake_build(code: int, *, gate: Path | None = None) -> list[str]:
    """A command printing BUILD_LINES (then waiting for a line on `gate`), exiting with `code`."""
    wait = f"open({str(gate)!r}).readline()\n" if gate else ""
    script = (f"import sys\nfor line in {BUILD_LINES!r}:\n    print(line, flush=True)\n"
              f"{wait}sys.exit({code})\n")
    return [sys.executable, "-c", script]


def test_the_log_holds_everything_and_success_says_done(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    done = subprocess.run([sys.executable, str(TOOL), str(log), "--", *_fake_build(0)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert log.read_text(encoding="utf-8").splitlines() == BUILD_LINES
    assert done.stdout.startswith("  done in ") and str(log) in done.stdout
    assert "Collecting" not in done.stdout  # the build's own output stays in the log


def test_a_failed_build_shows_its_last_lines_and_exit_code(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    failed = subprocess.run([sys.executable, str(TOOL), str(log), "--", *_fake_build(3)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert failed.returncode == 3
    assert failed.stdout.splitlines()[:-1] == BUILD_LINES
    assert "failed (exit 3)" in failed.stdout and str(log) in failed.stdout


def test_on_a_terminal_the_current_step_shows_while_it_builds(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    child = pexpect.spawn(sys.executable, [str(TOOL), str(tmp_path / "build.log"), "--every",
                                           "0.1", "--", *_fake_build(0, gate=gate)],
                          encoding="utf-8", timeout=30, dimensions=(24, 100))
    try:
        # The status line: elapsed time and the last build step, while the build still runs.
        child.expect(r"\dm\d\ds  \[4/180\] Building CXX object llama\.cpp\.o")
        with gate.open("w") as opened:
            opened.write("go\n")
        child.expect("done in ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
