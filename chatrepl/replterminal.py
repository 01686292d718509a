"""The one channel through which any thread writes while the prompt owns the terminal.

The REPL's thread (the main thread) owns the terminal. Another thread never writes to it: it
hands a function to `PromptTerminal.run_in_terminal`, which runs it on the REPL's thread,
above the prompt (prompt_toolkit's `run_in_terminal`) while a prompt is shown, or before the
next prompt is drawn while a command or a reply has the terminal. `call` runs a function on
the REPL's thread and returns its result: what must run on the main thread (starting the
local server: Linux ties a child's parent-death signal to the thread that forked it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar, cast

from prompt_toolkit.application import run_in_terminal

T = TypeVar("T")


class TerminalClosedError(RuntimeError):
    """The REPL ended before a function handed to it could run."""


class PromptTerminal:
    """Runs functions on the thread that made it (the REPL's), never over the prompt line."""

    def __init__(self) -> None:
        self._owner = threading.current_thread()
        self._lock = threading.Condition()
        self._tasks: deque[tuple[Callable[[], object], Future[object], bool]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None  # the prompt's: run_in_terminal finds its app
        self._closed = False
        # Handed to prompt_toolkit's run_in_terminal and not run yet: a prompt that ends first
        # (Enter right after) never runs them, so prompt_ended() does.
        self._above: dict[object, Callable[[], object]] = {}

    def on_owner_thread(self) -> bool:
        return threading.current_thread() is self._owner

    def run_in_terminal(self, write: Callable[[], None]) -> None:
        """Run `write` where it may write to the terminal: at once on the REPL's thread when
        no prompt is shown, else above the prompt on the REPL's thread. Never waits."""
        if self.on_owner_thread():
            with self._lock:
                prompt_shown = self._loop is not None
            if prompt_shown:
                self._above_prompt(write)
            else:
                write()
            return
        self._submit(write, in_terminal=True)

    def schedule(self, function: Callable[[], object]) -> None:
        """Run `function` on the REPL's thread soon (not above the prompt: it writes nothing).
        Dropped when the REPL has ended."""
        if self.on_owner_thread():
            function()
        else:
            self._submit(function, in_terminal=False)

    def call(self, function: Callable[[], T]) -> T:
        """`function()` run on the REPL's thread; waits for it and returns what it returned.
        TerminalClosedError when the REPL ended first."""
        if self.on_owner_thread():
            return function()
        # Not in_terminal: the future holds what `function()` returned.
        return cast(T, self._submit(function, in_terminal=False).result())

    # -- the REPL's side -------------------------------------------------------------------
    def prompt_started(self) -> None:
        """Called on the prompt's event loop once it runs: queued work runs now, later work
        is scheduled on the loop."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._context = contextvars.copy_context()
        self._drain()

    def prompt_ended(self) -> None:
        with self._lock:
            self._loop = None
            left = list(self._above.values())
            self._above.clear()
        for function in left:  # handed to a prompt that closed before running them
            function()
        self._drain()  # what came while the prompt was closing

    def serve_until(self, done: Callable[[], bool]) -> None:
        """On the REPL's thread with no prompt shown: run handed-in work until `done()`;
        `wake()` makes it look again."""
        while True:
            self._drain()
            with self._lock:
                if done():
                    return
                if not self._tasks:
                    self._lock.wait()

    def wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def close(self) -> None:
        """The REPL has ended: what is queued runs now (lines are never lost); later calls
        fail with TerminalClosedError, later lines are written by the thread that has them."""
        self._drain()
        with self._lock:
            self._closed = True
            self._loop = None

    def _submit(self, function: Callable[[], object], *, in_terminal: bool) -> Future[object]:
        future: Future[object] = Future()
        with self._lock:
            if self._closed:
                if in_terminal:
                    function()  # no prompt any more: nothing to write over
                    future.set_result(None)
                else:
                    future.set_exception(TerminalClosedError("the REPL has ended"))
                return future
            self._tasks.append((function, future, in_terminal))
            loop, context = self._loop, self._context
            self._lock.notify_all()
        if loop is not None:
            # RuntimeError: the prompt's loop just closed; prompt_ended() drains the queue.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain, context=context)
        return future

    def _drain(self) -> None:
        """Run the queued work, on the REPL's thread."""
        while True:
            with self._lock:
                if not self._tasks:
                    return
                function, future, in_terminal = self._tasks.popleft()
                prompt_shown = self._loop is not None
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if in_terminal and prompt_shown:
                    self._above_prompt(function)
                    future.set_result(None)
                else:
                    future.set_result(function())
            except BaseException as exc:  # handed to the caller, which reports it
                future.set_exception(exc)

    def _above_prompt(self, function: Callable[[], object]) -> None:
        """`function` run above the prompt, once: by prompt_toolkit, or by prompt_ended()
        when the prompt closes before prompt_toolkit got to it."""
        key = object()

        def once() -> None:
            with self._lock:
                claimed = self._above.pop(key, None)
            if claimed is not None:
                claimed()

        with self._lock:
            self._above[key] = function
        run_in_terminal(once)
