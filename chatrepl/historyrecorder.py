"""Writing a running conversation to the history database, on a thread of its own.

The REPL hands `record()` an immutable `Snapshot` of the conversation after each turn and goes
on; the writer thread compares it with the path it stored last and writes only what is new: a
turn appended, or, when the snapshot left the stored path (a `/retry`, an `/edit`), the new
messages as a branch beside the old ones. The database is opened by that thread on its first
job, so the prompt never waits for it.

When the database cannot be written (damaged, read-only, locked too long, disk full), one line
says so and the conversation goes on in memory; a locked database or full disk is tried again
at the next turn, and what was missed is written then.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from chatrepl.errors import HistoryError
from chatrepl.historydb import Conversation, ConversationRow, HistoryDB, NewMessage
from chatrepl.messages import Message

T = TypeVar("T")
WAIT_SECONDS = 10.0
LISTED = 300  # conversations kept for `/load` completion


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A conversation as it stands after a turn, with the usage and cost of its last reply."""

    provider: str
    model: str
    system_prompt: str | None
    messages: tuple[Message, ...]
    usage: dict[str, int] | None = None
    cost: float | None = None


def _same(stored: Message, message: Message) -> bool:
    """The same message, whether or not the context guard has left it out of what is sent."""
    return stored == (replace(message, left_out=False) if message.left_out else message)


class _Job:
    """Work for the writer thread, and the event its caller may wait on."""

    def __init__(self, run: Callable[[], Any]) -> None:
        self.run = run
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class HistoryRecorder:
    """The history of one running chatrepl: a writer thread over one HistoryDB connection.

    `conversation_id` and `path_ids` (the stored ids of the current path, message by message)
    belong to the writer thread; other threads read `has_branches` and `problem`.
    """

    def __init__(self, path: Path, say: Callable[[str], None],
                 on_open: Callable[[HistoryDB], None] | None = None,
                 opener: Callable[[Path], HistoryDB] = HistoryDB) -> None:
        self.path = path
        self._opener = opener
        self._say = say
        self._on_open = on_open
        self._db: HistoryDB | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.conversation_id: int | None = None
        self.path_ids: list[int] = []
        self._stored: list[Message] = []
        self._meta: tuple[str, str, str | None] | None = None
        self.has_branches = False
        self.problem: str | None = None  # why turns are not being saved now
        self.recent_rows: tuple[ConversationRow, ...] = ()  # replaced whole after each write
        self.listed: list[int] = []  # the ids `/history` showed last, for `/history open N`
        self._broken = False  # a damaged or read-only database: not tried again

    # -- the thread ------------------------------------------------------------------------
    def _submit(self, run: Callable[[], Any]) -> _Job:
        job = _Job(run)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="chatrepl-history",
                                                daemon=True)
                self._thread.start()
        self._jobs.put(job)
        return job

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            try:
                job.result = job.run()
            except BaseException as exc:  # handed to whoever waits; a HistoryError is said
                job.error = exc
            job.done.set()
        if self._db is not None:
            self._db.close()
            self._db = None

    def start(self) -> None:
        """Open the database now (on the writer thread), e.g. once the prompt is drawn."""
        self._submit(self._guarded(lambda db: None))

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Write what is queued, then stop the thread (waits at most `timeout`); a later call
        starts a new one."""
        with self._lock:  # held while it stops: a job submitted meanwhile goes to a new thread
            thread = self._thread
            if thread is not None:
                self._jobs.put(None)
                thread.join(timeout)
                if not thread.is_alive():
                    self._thread = None

    def flush(self, timeout: float = WAIT_SECONDS) -> bool:
        """Wait until what was queued before is written; False after `timeout`."""
        return self._submit(lambda: None).done.wait(timeout)

    def call(self, run: Callable[[HistoryDB], T], timeout: float = WAIT_SECONDS) -> T:
        """Run `run(db)` on the writer thread after what is queued and return its result;
        HistoryError when the database cannot be used or does not answer in time."""
        job = self._submit(lambda: run(self._database()))
        if not job.done.wait(timeout):
            raise HistoryError(f"history {self.path}: busy; try again")
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _database(self) -> HistoryDB:
        if self._db is None:
            self._db = self._opener(self.path)
            if self._on_open is not None:
                self._on_open(self._db)
        return self._db

    def _guarded(self, write: Callable[[HistoryDB], None]) -> Callable[[], None]:
        """`write` on the database, a failure said once (and the chat goes on)."""
        def run() -> None:
            if self._broken:
                return
            try:
                db = self._database()
                write(db)
                self.recent_rows = tuple(db.recent(LISTED))
                db.maintain()
            except HistoryError as exc:
                self._broken = not exc.transient
                if self.problem is None:
                    self._say(f"{exc}; this conversation is kept in memory but not saved to"
                              " the history")
                self.problem = str(exc)
                return
            if self.problem is not None:
                self.problem = None
                self._say(f"history {self.path}: saving again")
        return run

    # -- what the REPL calls ---------------------------------------------------------------
    def record(self, snapshot: Snapshot) -> None:
        """Store what is new in `snapshot` (in the background)."""
        self._submit(self._guarded(lambda db: self._write(db, snapshot)))

    def new_conversation(self) -> None:
        """The next turn starts a new conversation (`/clear`)."""
        def reset() -> None:
            self.conversation_id, self.path_ids, self._stored = None, [], []
            self._meta, self.has_branches = None, False
        self._submit(reset)

    def follow(self, conversation: Conversation, *, touch: bool = False) -> None:
        """From now on, record into `conversation` (loaded from the database), at its path;
        `touch` makes it the latest (what `--continue` resumes)."""
        def run() -> None:
            self.adopt(conversation)
            if touch and conversation.path:
                self._guarded(lambda db: db.set_current(conversation.row.id,
                                                        conversation.path[-1].id))()
        self._submit(run)

    def adopt(self, conversation: Conversation) -> None:
        """`follow`, on the writer thread (inside `call`)."""
        self.conversation_id = conversation.row.id
        self.path_ids = [m.id for m in conversation.path]
        self._stored = [m.message for m in conversation.path]
        self._meta = (conversation.row.provider, conversation.row.model,
                      conversation.system_prompt)
        self.has_branches = conversation.row.branched

    def name(self, name: str, snapshot: Snapshot) -> None:
        """Name the current conversation (stored first when it is not yet)."""
        def write(db: HistoryDB) -> None:
            self._write(db, snapshot)
            if self.conversation_id is not None:
                db.set_name(self.conversation_id, name)
        self._submit(self._guarded(write))

    def add_sibling_replies(self, replies: Sequence[NewMessage]) -> None:
        """Store `replies` beside the last reply of the current path (alternatives the user
        did not keep, e.g. from /compare); the current path stays."""
        def write(db: HistoryDB) -> None:
            if self.conversation_id is None or not self.path_ids:
                return
            parent = self.path_ids[-2] if len(self.path_ids) > 1 else None
            db.add_sibling_replies(self.conversation_id, parent, replies)
            self.has_branches = True
        self._submit(self._guarded(write))

    # -- the writer thread's part ----------------------------------------------------------
    def _write(self, db: HistoryDB, snapshot: Snapshot) -> None:
        messages = list(snapshot.messages)
        if not messages:
            return
        meta = (snapshot.provider, snapshot.model, snapshot.system_prompt)
        if self.conversation_id is None:
            self.conversation_id = db.new_conversation(*meta)
            self._meta = meta
        shared = 0
        for stored, message in zip(self._stored, messages, strict=False):
            if not _same(stored, message):
                break
            shared += 1
        self._store_left_out(db, messages[:shared])
        new = messages[shared:]
        if not new:
            if shared < len(self.path_ids):  # went back up the tree (a shorter path)
                db.set_current(self.conversation_id, self.path_ids[shared - 1])
                self.path_ids, self._stored = self.path_ids[:shared], self._stored[:shared]
            return
        parent = self.path_ids[shared - 1] if shared else None
        chain = [NewMessage(m, snapshot.provider if m.role == "assistant" else None,
                            snapshot.model if m.role == "assistant" else None,
                            snapshot.usage if i == len(new) - 1 and m.role == "assistant"
                            else None,
                            snapshot.cost if i == len(new) - 1 and m.role == "assistant"
                            else None)
                 for i, m in enumerate(new)]
        changed = meta != self._meta
        ids = db.add_messages(self.conversation_id, parent, chain,
                              provider=snapshot.provider if changed else None,
                              model=snapshot.model if changed else None,
                              system_prompt=(snapshot.system_prompt or "") if changed else None)
        self._meta = meta
        if shared < len(self.path_ids):
            self.has_branches = True
        self.path_ids = [*self.path_ids[:shared], *ids]
        self._stored = [*self._stored[:shared], *new]

    def _store_left_out(self, db: HistoryDB, messages: Sequence[Message]) -> None:
        """Store which of the stored `messages` the context guard now leaves out (or sends
        again), so a resumed conversation leaves out the same."""
        stored = self._stored[:len(messages)]
        changed = [i for i, (before, now) in enumerate(zip(stored, messages, strict=True))
                   if before.left_out != now.left_out]
        if not changed:
            return
        db.set_left_out([self.path_ids[i] for i in changed if messages[i].left_out],
                        [self.path_ids[i] for i in changed if not messages[i].left_out])
        for i in changed:
            self._stored[i] = messages[i]
