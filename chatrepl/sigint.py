"""Ctrl-C that cannot be lost while a reply streams.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to be. When
that is code which swallows exceptions (a `__del__`, a callback run by the garbage collector or
a library), the interrupt is gone and a never-ending reply goes on. `interrupt_latch()` also sets
an event on each SIGINT, which the stream loop checks after every chunk, so a swallowed
KeyboardInterrupt still stops the reply at the next chunk.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TextIO


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


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Within the block a SIGINT is held, not raised: it goes to the handler in force once the
    block ends, so a few lines that must not be cut halfway run whole (starting a process and
    keeping its handle, without which it could not be stopped). Off the main thread, or when
    SIGINT is not handled by Python, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    held: list[FrameType | None] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(frame)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            previous(signal.SIGINT, held[0])


def keyboard_interrupts_on() -> None:
    """Ctrl-C raises KeyboardInterrupt even in a process started with SIGINT ignored (a
    background job of a script, `nohup`): at the REPL the key is the user's way to stop a reply.
    Only from the main thread."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def ctrl_c_not_echoed(stream: TextIO) -> Iterator[None]:
    """While the block runs, the terminal behind `stream` does not echo Ctrl-C as `^C` in the
    middle of a streamed reply (its ECHOCTL flag is cleared, then put back). Nothing is done
    when `stream` is not a terminal."""
    try:
        import termios  # POSIX only
    except ImportError:
        yield
        return
    try:
        fd = stream.fileno()
        if not os.isatty(fd):
            raise OSError
        before = termios.tcgetattr(fd)
    except (OSError, ValueError, AttributeError, termios.error):
        yield
        return
    quiet = list(before)
    quiet[3] &= ~termios.ECHOCTL
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        with suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, before)
