"""Ctrl-C for tests: a real SIGINT to the main thread, sent again until it has stopped the work.

A SIGINT's KeyboardInterrupt can be lost: raised while the main thread runs code that swallows
exceptions (a `__del__`, a callback the SDK or the GC runs), it never reaches the code under
test, which then reads a never-ending stream for ever. So a test does not assume one signal is
enough: it tells the `Interrupter` each time the work makes progress (a chunk arrived, a line
was written); when the work goes on after the interrupt was raised, the interrupt was lost and
another one is sent, at most `max_tries` times. While the interrupter is active the SIGINT
handler is its own, which raises one KeyboardInterrupt per signal sent and ignores any other,
so no signal can land after the work has stopped.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class Interrupter:
    """Use as a context manager in the main thread; call `progress()` from the work."""

    def __init__(self, *, start_after: int, max_tries: int = 20) -> None:
        self.start_after = start_after
        self.max_tries = max_tries
        self.sent = 0
        self.raised = 0
        self._progress = 0
        self._raised_at = 0
        self._armed = False
        self._step = threading.Event()
        self._done = threading.Event()
        self._main = threading.main_thread().ident
        self._thread: threading.Thread | None = None
        self._previous: Any = None

    def __enter__(self) -> Interrupter:
        assert threading.current_thread() is threading.main_thread()
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._done.set()
        self._step.set()
        try:
            if self._thread is not None:
                self._thread.join(timeout=10)
                assert not self._thread.is_alive(), "the interrupting thread did not end"
        finally:
            signal.signal(signal.SIGINT, self._previous)
        if isinstance(error, KeyboardInterrupt) and self.raised:
            # Not caught by the code under test: a test failure, not the end of the pytest run.
            raise AssertionError("the interrupt escaped the code under test") from error

    def progress(self) -> None:
        """The work made a step; the first interrupt goes out after `start_after` steps."""
        self._progress += 1
        if self._thread is None and self._progress >= self.start_after:
            self._thread = threading.Thread(target=self._interrupt_until_stopped,
                                            name="test-interrupter", daemon=True)
            self._thread.start()
        self._step.set()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: no locks here, plain assignments only.
        if self._armed and not self._done.is_set():
            self._raised_at = self._progress
            self._armed = False
            self.raised += 1
            raise KeyboardInterrupt

    def _lost(self) -> bool:
        """The interrupt was raised and the work has gone on since."""
        return not self._armed and self._progress > self._raised_at

    def _interrupt_until_stopped(self) -> None:
        assert self._main is not None
        while self.sent < self.max_tries and not self._done.is_set():
            self._armed = True
            self.sent += 1
            signal.pthread_kill(self._main, signal.SIGINT)
            while not self._done.is_set() and not self._lost():
                self._step.wait()
                self._step.clear()
