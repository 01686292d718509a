"""chatrepl in a real pseudo-terminal, read through a terminal emulator (pyte): tests wait for
what the screen shows, not for bytes in the stream (prompt_toolkit redraws only what changed).

`Terminal` spawns chatrepl and reads it itself; `Screen` follows a child read with `expect`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pexpect
import pyte

TIMEOUT = 30
CLOSE_TRIES = 3


class Terminal:
    """A spawned `chatrepl` and the screen its output draws."""

    def __init__(self, home: Path, *args: str, columns: int = 120, rows: int = 24,
                 env: Mapping[str, str] | None = None) -> None:
        env = {**os.environ, "CHATREPL_HOME": str(home), "TERM": "xterm", "NO_COLOR": "1",
               **(env or {})}
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
        """Ctrl-D, wait for the end (bounded), and the exit status.

        A Ctrl-D sent between two prompts reaches a terminal in cooked mode, whose line
        discipline takes it as end of input: chatrepl never reads it. So it is sent again
        (at the next prompt, in raw mode) until chatrepl ends, at most CLOSE_TRIES times."""
        for _ in range(CLOSE_TRIES):
            if not self.child.isalive():
                break
            self.child.sendcontrol("d")
            with contextlib.suppress(pexpect.TIMEOUT):
                self.child.expect(pexpect.EOF, timeout=TIMEOUT / CLOSE_TRIES)
                break
        self.child.close(force=True)
        return self.child.exitstatus


class Screen:
    """The screen of a pexpect child that a test also reads with `child.expect`: attach it
    (with the child's dimensions) before the child writes anything; pexpect hands it every
    piece of output it reads, so `expect` and the screen stay in step.

    `child.expect(text)` finds text anywhere in the output, a completion menu or a line later
    redrawn included; a test that must know the state of the screen (the input line holds the
    completed text before Enter is pressed) waits for it here instead.
    """

    def __init__(self, child: pexpect.spawn, rows: int, columns: int) -> None:
        self.child = child
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.Stream(self.screen)
        child.logfile_read = self  # pexpect hands it every piece of output it reads

    def write(self, text: str) -> None:
        self._stream.feed(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def cursor_line(self) -> str:
        return self.screen.display[self.screen.cursor.y].rstrip()

    def wait_until(self, check: Callable[[Screen], bool], what: str, timeout: float) -> None:
        """Read the child's output until `check(self)` holds; AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not check(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                shown = "\n".join(line for line in self.lines() if line)
                raise AssertionError(f"the screen never showed {what}; it shows:\n{shown}")
            try:
                self.child.read_nonblocking(size=65536, timeout=min(remaining, 1.0))
            except pexpect.TIMEOUT:
                continue

    def wait_for_input_line(self, text: str, timeout: float) -> None:
        """Wait until the line with the cursor (the prompt being edited) reads `text`."""
        self.wait_until(lambda screen: screen.cursor_line() == text, f"the input line {text!r}",
                        timeout)
