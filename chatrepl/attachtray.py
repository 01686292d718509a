"""The attachments staged for the next message, read off the prompt's thread.

`/attach PATH` starts a load on a thread of its own and returns at once; the load stages what
it read (or says why not) when done. The next message the user types waits for loads still
running (Ctrl-C stops waiting; nothing is sent then), takes `@path` tokens of its text, checks
everything against the model's catalog facts and context window, and goes with it all. The
staged items are dropped only once a reply came; a refusal or a failed turn leaves them.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatrepl.attachments import (
    MAX_TOTAL_BYTES,
    PDF_INSTALL,
    Attachment,
    Loaded,
    size_text,
)
from chatrepl.attachpaths import load_paths
from chatrepl.errors import AttachmentError
from chatrepl.sanitize import clean_line
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.modelinfo import ModelInfo

Report = Callable[[Sequence[str], bool], None]  # report(lines, error)

# Attachment content one conversation keeps (base64 for images and PDFs): a saved conversation
# is read back only up to sessions.MAX_SESSION_BYTES (64 MB).
MAX_CONVERSATION_BYTES = 48 * 1024 * 1024

# `@path` at the start of a word; trailing punctuation is not part of it unless the file has it.
_AT_TOKEN = re.compile(r"(?:^|(?<=\s))@(\S+)")
_TRAILING = ",.;:!?)]}'\""


def describe(item: Attachment) -> str:
    """`notes.md (text, 1.2 KB, ~310 tokens)`."""
    return (f"{clean_line(item.name)} ({item.kind}, {size_text(item.size)},"
            f" ~{item.estimated_tokens():,} tokens)")


def tokens_text(tokens: int) -> str:
    return f"{tokens / 1000:.1f}k".replace(".0k", "k") if tokens >= 1000 else str(tokens)


def at_paths(text: str, cwd: Path) -> list[str]:
    """The `@path` tokens of a message that name a file or folder, or start as a path does
    (`/`, `./`, `../`, `~`): those are attached, and a missing one is an error. Any other
    `@word` is left as text (`@functools.wraps`, `@v1.2`, `@app.route('/')`)."""
    found: list[str] = []
    for match in _AT_TOKEN.finditer(text):
        word = match.group(1)
        candidates = [word, word.rstrip(_TRAILING)]
        existing = next((c for c in candidates if c and _exists(cwd, c)), None)
        if existing is not None:
            found.append(existing)
            continue
        bare = word.rstrip(_TRAILING)
        if bare.startswith(("/", "./", "../", "~")):
            found.append(bare)  # reading it says it is missing
    return found


def _exists(cwd: Path, word: str) -> bool:
    try:
        return (cwd / Path(word).expanduser()).exists()
    except (OSError, RuntimeError, ValueError):  # `~nobody`, a NUL byte, a folder not entered
        return False


class _Worker:
    """One daemon thread running loads in order. A read that never ends (a FIFO, a hung
    network mount) holds it for ever; the tray then abandons it and starts another, and it
    never holds up the exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[None], Callable[[], None]]] = \
            queue.SimpleQueue()
        threading.Thread(target=self._serve, name="chatrepl-attach", daemon=True).start()

    def submit(self, run: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        self._jobs.put((future, run))
        return future

    def _serve(self) -> None:
        while True:
            future, run = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                run()
            except BaseException as exc:  # handed to whoever waits for the load
                future.set_exception(exc)
            else:
                future.set_result(None)


def _identity(item: Attachment) -> tuple[str, str]:
    """What makes two staged items the same: the file (by its real path; else the name, as
    for a command's output) and the content."""
    return item.path or os.path.normpath(item.name), item.sha256


def _without_staged(items: Sequence[Attachment],
                    staged: Sequence[Attachment]) -> tuple[list[Attachment], list[Attachment]]:
    """(`items` that are not in `staged` nor earlier in `items`, the others)."""
    seen = {_identity(i) for i in staged}
    fresh: list[Attachment] = []
    again: list[Attachment] = []
    for item in items:
        (again if _identity(item) in seen else fresh).append(item)
        seen.add(_identity(item))
    return fresh, again


@dataclass(frozen=True)
class _Slot:
    """One `/attach`: its place in the order, and its items once read."""

    order: int
    items: tuple[Attachment, ...]


class AttachmentTray:
    """Staged attachments (in the order they were asked for) and loads still running.

    Items are replaced whole under a short lock; the toolbar reads them from the prompt's
    thread while a load finishes on its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: tuple[_Slot, ...] = ()
        self._loads: dict[int, Future[None]] = {}  # by order: loads not dropped
        self._next = 0
        self._dropped_before = 0  # loads of this order or lower were dropped: not staged
        # One worker, started on the first load: handing it a load never waits for a thread
        # to start (Thread.start() does, and on a busy machine that is the slow part).
        self._worker: _Worker | None = None

    # -- reading -------------------------------------------------------------------------
    @property
    def items(self) -> tuple[Attachment, ...]:
        with self._lock:
            slots = self._slots
        return tuple(item for slot in sorted(slots, key=lambda s: s.order) for item in slot.items)

    def loading(self) -> int:
        with self._lock:
            return sum(not load.done() for load in self._loads.values())

    def __len__(self) -> int:
        return len(self.items)

    def toolbar_text(self) -> str:
        """`📎 3: 2 text, 1 image ~1.2k tokens` (and `attaching…` while a load runs); empty
        when nothing is staged."""
        items = self.items
        busy = "attaching…" if self.loading() else ""
        if not items:
            return busy
        kinds: dict[str, int] = {}
        for item in items:
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        kinds_said = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        tokens = sum(item.estimated_tokens() for item in items)
        return " ".join(p for p in (f"📎 {len(items)}: {kinds_said} ~{tokens_text(tokens)} tokens",
                                    busy) if p)

    # -- staging -------------------------------------------------------------------------
    def _reserve(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def add(self, items: Sequence[Attachment], order: int | None = None, *,
            skip_staged: bool = False) -> tuple[Attachment, ...]:
        """Stage `items`; AttachmentError (nothing staged) past MAX_TOTAL_BYTES in all. With
        `skip_staged`, an item already staged (same file, same content) is not staged again.
        Returns the items staged."""
        order = self._reserve() if order is None else order
        with self._lock:
            if order <= self._dropped_before:  # its read was dropped (/detach) meanwhile
                return ()
            if skip_staged:
                items, _ = _without_staged(items, [i for slot in self._slots for i in slot.items])
            staged = sum(i.size for slot in self._slots for i in slot.items)
            added = sum(i.size for i in items)
            if staged + added > MAX_TOTAL_BYTES:
                raise AttachmentError(
                    f"{', '.join(i.name for i in items)}: staging it would make "
                    f"{size_text(staged + added)}, over the {size_text(MAX_TOTAL_BYTES)} cap for "
                    "one message; /detach some first")
            self._slots = (*self._slots, _Slot(order, tuple(items)))
        return tuple(items)

    def start(self, job: Callable[[], Loaded], report: Report,
              on_change: Callable[[], None] = lambda: None) -> Future[None]:
        """Run `job` (reading files) on the tray's worker thread and stage what it read;
        `report` gets the lines to say. Returns at once."""
        order = self._reserve()

        def run() -> None:
            try:
                loaded = job()
                if order <= self._dropped_before:
                    return
                staged = self.add(loaded.items, order, skip_staged=True)
            except AttachmentError as exc:
                report([str(exc)], True)
            except Exception as exc:  # a bug: one line, the staged items as they were
                report([f"attaching failed: {type(exc).__name__}: {exc}"], True)
            else:
                kept = {id(item) for item in staged}  # the very items read, when staged
                report([*loaded.notes,
                        *(f"attached {describe(item)}" if id(item) in kept
                          else f"{clean_line(item.name)} is already staged"
                          for item in loaded.items),
                        self.waiting_line()], False)
            finally:
                on_change()

        with self._lock:
            if self._worker is None:
                self._worker = _Worker()
            load = self._worker.submit(run)
            self._loads = {o: f for o, f in self._loads.items() if not f.done()}
            self._loads[order] = load
        return load

    def start_paths(self, words: Sequence[str], cwd: Path, report: Report,
                    on_change: Callable[[], None] = lambda: None) -> Future[None]:
        """`/attach PATH...` read in the background."""
        return self.start(lambda: load_paths(words, cwd), report, on_change)

    def wait(self) -> None:
        """Until every load has finished (KeyboardInterrupt on Ctrl-C)."""
        with self._lock:
            loads = list(self._loads.values())
        for load in loads:
            if not load.cancelled():
                load.result()

    def drop_loading(self) -> int:
        """Forget the loads still running (`/detach`): what they read is not staged. A read
        that never ends is left to its thread; later loads get a new one. Returns how many."""
        with self._lock:
            pending = [f for f in self._loads.values() if not f.done()]
            self._dropped_before = self._next
            self._loads = {}
            for future in pending:
                if not future.cancel():  # running now: it may never end
                    self._worker = None
        return len(pending)

    def waiting_line(self) -> str:
        count = len(self.items)
        return (f"{plural(count, 'attachment')} staged; {'it goes' if count == 1 else 'they go'}"
                " with your next message")

    def drop(self, number: int | None = None) -> list[Attachment]:
        """Unstage item `number` (from 1), or all; returns what was dropped. UsageError-like
        AttachmentError for a number out of range."""
        items = self.items
        if number is None:
            with self._lock:
                self._slots = ()
            return list(items)

        if not 1 <= number <= len(items):
            raise AttachmentError(f"no staged attachment {number}; /attach lists them"
                                  if items else "nothing is staged")
        gone = items[number - 1]
        with self._lock:
            self._slots = tuple(
                _Slot(slot.order, tuple(i for i in slot.items if i is not gone))
                for slot in self._slots)
        return [gone]

    def clear_sent(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Unstage what went with a message that got its reply (its records: the same source
        and sha256)."""
        sent = {(r.get("source"), r.get("sha256")) for r in records}
        with self._lock:
            self._slots = tuple(
                _Slot(slot.order, tuple(i for i in slot.items if (i.source, i.sha256) not in sent))
                for slot in self._slots)

    # -- sending -------------------------------------------------------------------------
    def for_message(self, text: str, cwd: Path, info: ModelInfo | None, model: str,
                    conversation_tokens: int, stored: int = 0) -> tuple[dict[str, Any], ...]:
        """The records to send with `text`: the staged items and the message's `@path` files.
        Waits for loads still running. AttachmentError (one line; nothing sent, nothing
        unstaged) when any cannot go to `model`."""
        self.wait()
        staged = list(self.items)
        words = at_paths(text, cwd)
        typed, _ = _without_staged(load_paths(words, cwd).items if words else (), staged)
        return outgoing([*staged, *typed], info, model, conversation_tokens + -(-len(text) // 4),
                        stored)


def outgoing(items: Sequence[Attachment], info: ModelInfo | None, model: str,
             other_tokens: int, stored: int = 0) -> tuple[dict[str, Any], ...]:
    """The records to send for `items` to `model` (whose catalog facts are `info`, None when
    unknown); AttachmentError when one cannot go: an image to a model known to take none, a
    PDF without text to a model known to take no PDFs, more tokens than its context window.
    A PDF goes whole to a model that takes PDFs, else as its text when it has some. `stored`:
    the attachment content the conversation holds already (a saved conversation keeps at most
    MAX_CONVERSATION_BYTES of it, so that it can be loaded again)."""
    records = []
    for item in items:
        if item.kind == "image":
            if info is not None and info.takes("image") is False:
                raise AttachmentError(
                    f"{item.name}: {model} takes no images (its catalog facts list text input"
                    " only); `chatrepl models --vision` lists models that do")
            records.append(item.record("image"))
        elif item.kind == "pdf":
            takes = info.takes("pdf") if info is not None else None
            if takes:
                records.append(item.record("file"))
            elif item.text is not None:
                records.append(item.record("text"))
            elif takes is None:  # not known: sent whole, and the provider answers
                records.append(item.record("file"))
            else:
                why = item.text_error or f"reading PDFs needs pypdf: {PDF_INSTALL}"
                raise AttachmentError(f"{item.name}: {model} takes no PDF files and {why}")
        else:
            records.append(item.record("text"))
    if not records:  # a message alone: the context guard's to judge
        return ()
    adding = sum(len(str(r.get("text", ""))) + len(str(r.get("data", ""))) for r in records)
    if stored + adding > MAX_CONVERSATION_BYTES:
        raise AttachmentError(
            f"the conversation holds {size_text(stored)} of attachments; with these "
            f"({size_text(adding)}) it would pass the {size_text(MAX_CONVERSATION_BYTES)} a saved"
            " conversation keeps; /clear (or /save and /clear) first")
    if info is not None and info.context_window:
        from chatrepl.attachwire import record_tokens

        total = other_tokens + sum(record_tokens(r) for r in records)
        if total > info.context_window:
            raise AttachmentError(
                f"with its attachments the message is ~{total:,} tokens, larger than {model}'s"
                f" context window ({info.context_window:,}); /detach some or pick a larger model")
    return tuple(records)
