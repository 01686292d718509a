"""The tests' Ctrl-C (interrupts.Interrupter): a lost interrupt is sent again, and only then."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from interrupts import Interrupter


@contextmanager
def endless_stream() -> Iterator[socket.socket]:
    """A socket that a feeder thread fills with bytes until it is closed."""
    reader, writer = socket.socketpair()

    def feed() -> None:
        try:
            while True:
                writer.sendall(b"." * 64)
        except OSError:
            return

    feeder = threading.Thread(target=feed, name="test-feeder", daemon=True)
    feeder.start()
    try:
        yield reader
    finally:
        reader.close()
        writer.close()
        feeder.join(timeout=10)
        assert not feeder.is_alive()


def read_until_interrupted(interrupter: Interrupter, swallow: int) -> int:
    """Read the stream in the main thread; the first `swallow` interrupts are lost on the way."""
    lost = 0
    with endless_stream() as stream:
        try:
            while True:
                try:
                    stream.recv(64)
                    interrupter.progress()
                except KeyboardInterrupt:
                    if lost == swallow:
                        raise
                    lost += 1
        except KeyboardInterrupt:
            return lost
    raise AssertionError("unreachable")


def test_one_interrupt_when_it_stops_the_work() -> None:
    with Interrupter(start_after=3) as interrupter:
        assert read_until_interrupted(interrupter, swallow=0) == 0
    assert (interrupter.sent, interrupter.raised) == (1, 1)


def test_a_lost_interrupt_is_sent_again() -> None:
    with Interrupter(start_after=3) as interrupter:
        assert read_until_interrupted(interrupter, swallow=2) == 2
    assert (interrupter.sent, interrupter.raised) == (3, 3)


def test_the_previous_sigint_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with Interrupter(start_after=1):
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_an_interrupt_the_work_does_not_catch_fails_the_test_only() -> None:
    with (pytest.raises(AssertionError, match="escaped"), Interrupter(start_after=1) as interrupter,
          endless_stream() as stream):
        while True:
            stream.recv(64)
            interrupter.progress()
    assert interrupter.raised == 1
