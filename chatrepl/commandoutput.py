"""`/attach !COMMAND`: a shell command's stdout as a text attachment, bounded in size and time.

The command runs in its own process group with no stdin; Ctrl-C (KeyboardInterrupt on the
waiting thread), the time limit or too much output kill the whole group. Output goes to the
model, not to the screen; terminal escape sequences (colours) are taken out of it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from typing import IO

from chatrepl.attachments import MAX_TEXT_BYTES, Attachment, from_bytes, size_text
from chatrepl.errors import AttachmentError
from chatrepl.sigint import interrupts_held

MAX_COMMAND_BYTES = MAX_TEXT_BYTES
COMMAND_SECONDS = 60.0
MAX_ERROR_BYTES = 4096
_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class _Reader(threading.Thread):
    """Reads a pipe to its end, keeping at most `limit` + 1 bytes (the head)."""

    def __init__(self, pipe: IO[bytes], limit: int, *, keep_tail: bool = False) -> None:
        super().__init__(name="chatrepl-command-output", daemon=True)
        self.pipe, self.limit, self.keep_tail = pipe, limit, keep_tail
        self.data = bytearray()
        self.over = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                block = self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536)
                if not block:
                    return
                self.data += block
                if len(self.data) > self.limit:
                    if self.keep_tail:
                        del self.data[:-self.limit]
                    else:
                        self.over.set()
                        return


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        process.wait(timeout=5)


def run_command(command: str, *, seconds: float = COMMAND_SECONDS,
                limit: int = MAX_COMMAND_BYTES, cwd: str | None = None) -> Attachment:
    """Run `command` in the shell and return its stdout as a text attachment (source
    `!command`). AttachmentError with one line when it fails, runs past `seconds`, writes more
    than `limit` bytes or writes binary. KeyboardInterrupt (after killing it) on Ctrl-C."""
    source = f"!{command}"
    if not command.strip():
        raise AttachmentError("usage: /attach !COMMAND (its output is attached)")
    # A Ctrl-C while the command starts is held until its handle is kept and its output read:
    # raised inside Popen, it would leave the command running with nothing to stop it.
    process: subprocess.Popen[bytes] | None = None
    readers: list[_Reader] = []
    try:
        with interrupts_held():
            try:
                process = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           cwd=cwd, start_new_session=True)
            except OSError as exc:
                raise AttachmentError(f"{source}: cannot start it ({exc.strerror or exc})") \
                    from None
            assert process.stdout is not None and process.stderr is not None
            out = _Reader(process.stdout, limit)
            err = _Reader(process.stderr, MAX_ERROR_BYTES, keep_tail=True)
            readers = [out, err]
            out.start()
            err.start()
        code = _wait(process, out, seconds)
    finally:
        # Ctrl-C included, wherever it lands after the start: the command is not left running.
        # What it left running in the background (`cmd &`) would hold the output open: its
        # output ends with the shell, and the rest of its process group goes with it.
        if process is not None:
            _kill(process)
            for reader in readers:
                if reader.ident is not None:
                    reader.join(timeout=5)
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
    if code is None:
        raise AttachmentError(f"{source}: still running after {seconds:g} s; stopped (nothing "
                              "attached)")
    if out.over.is_set():
        raise AttachmentError(f"{source}: wrote more than the {size_text(limit)} cap; stopped "
                              "(nothing attached)")
    if code != 0:
        said = _ESCAPES.sub(b"", bytes(err.data)).decode("utf-8", "replace").strip()
        last = said.splitlines()[-1] if said else ""
        raise AttachmentError(f"{source}: failed (exit {code})" + (f": {last[:200]}" if last else ""))
    raw = _ESCAPES.sub(b"", bytes(out.data))
    if not raw.strip():
        raise AttachmentError(f"{source}: wrote nothing to attach")
    return from_bytes(raw, source, "text", "text/plain", name=source)


def _wait(process: subprocess.Popen[bytes], out: _Reader, seconds: float) -> int | None:
    """The exit code; None past `seconds`. Stops early (killing it) when the output is over
    its cap."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if out.over.is_set():
                _kill(process)
                return process.returncode
    _kill(process)
    return None
