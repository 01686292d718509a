"""Start-up with Python's cyclic garbage collector paused."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off, then freeze what it built and turn it on.

    Start-up imports build a few hundred thousand long-lived objects (modules, classes, the
    SDK's pydantic schemas) and next to no garbage, so collections in the middle only walk them
    again: about 30 ms of the openai SDK's import. Frozen, they stay out of later collections.
    Wrap imports and construction only, never a network wait: a slow server must not leave the
    collector off while a reply or a model list is read.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
