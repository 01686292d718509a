"""chatrepl in a real pseudo-terminal, read through a terminal emulator (pyte): tests wait for
what the screen shows, not for bytes in the stream (prompt_toolkit redraws only what changed)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

TIMEOUT = 30


class Terminal:
    """A spawned `chatrepl` and the screen its output draws."""

    def __init__(self, home: Path, *args: str, columns: int = 120, rows: int = 24) -> None:
        env = {**os.environ, "CHATREPL_HOME": str(home), "TERM": "xterm", "NO_COLOR": "1"}
        env.pop("CHATREPL_CONFIG", None)
        env.pop("PROMPT_TOOLKIT_NO_CPR", None)  # the emulator answers cursor position requests,
        # so prompt_toolkit knows the height below the prompt and draws the bottom toolbar
        self.child = pexpect.spawn(sys.executable, ["-m", "chatrepl", *args], env=env,
                                   encoding="utf-8", timeout=TIMEOUT, dimensions=(rows, columns))
        self.screen = pyte.Screen(columns, rows)
        self.screen.write_process_input = self.child.send  # type: ignore[method-assign]
        self.stream = pyte.Stream(self.screen)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, condition: Callable[[list[str]], bool], what: str,
                 timeout: float = TIMEOUT) -> list[str]:
        """Read output until `condition(screen lines)` holds; AssertionError with the screen if
        it does not within `timeout`."""
        deadline = time.monotonic() + timeout
        while not condition(self.lines()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"screen never showed {what}:\n{self.text()}")
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=min(left, 0.5)))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                if not condition(self.lines()):
                    raise AssertionError(f"chatrepl exited before showing {what}:\n"
                                         f"{self.text()}") from None
        return self.lines()

    def wait_text(self, text: str, timeout: float = TIMEOUT) -> list[str]:
        return self.wait_for(lambda lines: any(text in line for line in lines), repr(text), timeout)

    def bottom_line(self) -> str:
        """The last non-empty line: the toolbar while a prompt is up."""
        return next((line for line in reversed(self.lines()) if line.strip()), "")

    def close(self) -> int | None:
        """Ctrl-D, wait for the end (bounded), and the exit status."""
        if self.child.isalive():
            self.child.sendcontrol("d")
            with contextlib.suppress(pexpect.TIMEOUT):
                self.child.expect(pexpect.EOF, timeout=TIMEOUT)
        self.child.close(force=True)
        return self.child.exitstatus
