"""Run a long build command, its whole output to a log, and show on the terminal that it moves.

    python tools/build_progress.py LOG [--every SECONDS] -- COMMAND [ARG ...]

Every line the command prints goes to LOG. Every SECONDS (10 by default) one line says how long
it has run and its last build step (a cmake/ninja progress line such as `[ 45%] Building CXX
object ...` or `[45/180] ...`); on a terminal that line is redrawn in place, elsewhere (CI, a
pipe) it is printed at most once a minute. At the end: one closing line; if the command
failed, the last lines of LOG and its path. Exits with the command's exit code.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

STEP = re.compile(r"^\s*(\[\s*\d+%\]|\[\d+/\d+\])\s+\S")
TAIL_LINES = 30


class Progress:
    """The command's last build step and line count, updated by the reader thread."""

    def __init__(self) -> None:
        self.step = ""
        self.lines = 0
        self.tail: list[str] = []

    def read(self, stream: TextIO, log: TextIO) -> None:
        for line in stream:
            log.write(line)
            log.flush()
            self.lines += 1
            self.tail = [*self.tail[-(TAIL_LINES - 1):], line.rstrip("\n")]
            if STEP.match(line):
                self.step = " ".join(line.split())


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def _status(progress: Progress, elapsed: float, width: int) -> str:
    step = progress.step or f"{progress.lines} lines of output"
    text = f"  {_clock(elapsed)}  {step}"
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.stderr.write(__doc__ or "")
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="build_progress")
    parser.add_argument("log", type=Path)
    parser.add_argument("--every", type=float, default=10.0)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no command after --")

    terminal = sys.stdout.isatty()
    every = args.every if terminal else max(args.every, 60.0)
    width = 120
    if terminal:
        import shutil

        width = shutil.get_terminal_size().columns - 1
    progress = Progress()
    started = time.monotonic()
    with args.log.open("w", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        assert proc.stdout is not None
        reader = threading.Thread(target=progress.read, args=(proc.stdout, log), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    code = proc.wait(timeout=every)
                    break
                except subprocess.TimeoutExpired:
                    status = _status(progress, time.monotonic() - started, width)
                    if terminal:
                        sys.stdout.write("\r\x1b[K" + status)
                    else:
                        sys.stdout.write(status + "\n")
                    sys.stdout.flush()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        finally:
            if terminal:
                sys.stdout.write("\r\x1b[K")
        reader.join(timeout=10)
    elapsed = _clock(time.monotonic() - started)
    if code == 0:
        sys.stdout.write(f"  done in {elapsed} (full output: {args.log})\n")
    else:
        sys.stdout.write("\n".join(progress.tail) + "\n")
        sys.stdout.write(f"  failed (exit {code}) after {elapsed}; full output: {args.log}\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
