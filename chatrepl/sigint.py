"""Ctrl-C that cannot be lost while a reply streams.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to be. When
that is code which swallows exceptions (a `__del__`, a callback run by the garbage collector or
a library), the interrupt is gone and a never-ending reply goes on. `interrupt_latch()` also sets
an event on each SIGINT, which the stream loop checks after every chunk, so a swallowed
KeyboardInterrupt still stops the reply at the next chunk.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def interrupt_latch(event: threading.Event) -> Iterator[threading.Event]:
    """Within the block, each SIGINT sets `event` before the handler in force runs (the default
    one raises KeyboardInterrupt). Off the main thread, or when SIGINT is ignored or not handled
    by Python, nothing is installed and `event` is only what the caller sets."""
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL or a handler installed outside Python
        yield event
        return

    def latch(signum: int, frame: FrameType | None) -> None:
        event.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, latch)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def keyboard_interrupts_on() -> None:
    """Ctrl-C raises KeyboardInterrupt even in a process started with SIGINT ignored (a
    background job of a script, `nohup`): at the REPL the key is the user's way to stop a reply.
    Only from the main thread."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
