"""The history when things go wrong: a damaged, read-only, full or locked database (one line,
the chat goes on, nothing deleted), kill -9 in the middle of writing, two writers at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from historyhelpers import HistoryRepl

from chatrepl.historydb import HistoryDB, NewMessage
from chatrepl.historyrecorder import HistoryRecorder, Snapshot
from chatrepl.messages import assistant, user
from chatrepl.toolbar import toolbar_text

WRITER = Path(__file__).parent / "historywriter.py"
ROOT = WRITER.parent.parent
DAMAGED = b"this is not an SQLite database, whatever its name says\n" * 200


def snapshot(*texts: str) -> Snapshot:
    messages = tuple(user(t) if i % 2 == 0 else assistant(t) for i, t in enumerate(texts))
    return Snapshot("prov", "mod", None, messages)


class Said:
    """The lines a recorder says, collected from its thread."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)


def stored(path: Path) -> list[list[str]]:
    db = HistoryDB(path)
    try:
        result = []
        for row in sorted(db.recent(100), key=lambda r: r.id):
            found = db.conversation(row.id)
            assert found is not None
            result.append([m.message.content for m in found.path])
        return result
    finally:
        db.close()


def test_a_damaged_database_is_said_once_and_left_alone(chatrepl_home: Path, fake_server) -> None:
    repl = HistoryRepl(chatrepl_home, fake_server.url)
    repl.paths.history_db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    repl.paths.history_db.write_bytes(DAMAGED)
    fake_server.behavior.chat_reply = "still chatting"
    printed = repl.run("hello", "again")
    assert printed.count("the database is damaged") == 1
    assert "kept in memory but not saved" in printed
    assert printed.count("still chatting") == 2
    assert repl.state is not None and len(repl.state.chat.messages) == 4
    assert "not saved" in toolbar_text(repl.state)
    assert repl.paths.history_db.read_bytes() == DAMAGED


def test_a_damaged_database_in_the_cli_is_one_line(chatrepl_home: Path) -> None:
    from test_cli import run as run_cli

    db_path = chatrepl_home / "state" / "history.sqlite3"
    db_path.parent.mkdir(mode=0o700, parents=True)
    db_path.write_bytes(DAMAGED)
    code, out, err = run_cli(["history", "list"], chatrepl_home)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "the database is damaged" in err and "Traceback" not in err
    assert db_path.read_bytes() == DAMAGED


def test_a_read_only_database_is_said_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    HistoryDB(path).close()
    said = Said()
    recorder = HistoryRecorder(path, said, opener=lambda p: HistoryDB(p, read_only=True))
    recorder.record(snapshot("q", "a"))
    recorder.record(snapshot("q", "a", "q2", "a2"))
    assert recorder.flush()
    assert len(said.lines) == 1 and "read-only" in said.lines[0]
    assert recorder.problem is not None
    recorder.close()
    assert stored(path) == []


def test_a_full_disk_is_said_and_the_missed_turns_are_written_when_there_is_room(
        tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    opened: list[HistoryDB] = []

    def opener(target: Path) -> HistoryDB:
        db = HistoryDB(target)
        pages = db._db.execute("PRAGMA page_count").fetchone()[0]
        db._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
        opened.append(db)
        return db

    said = Said()
    recorder = HistoryRecorder(path, said, opener=opener)
    recorder.record(snapshot("q", "x" * 20000))
    assert recorder.flush()
    assert len(said.lines) == 1 and "the disk is full" in said.lines[0]
    opened[0]._db.execute("PRAGMA max_page_count = 1000000")  # room again
    recorder.record(snapshot("q", "x" * 20000, "q2", "a2"))
    assert recorder.flush() and recorder.problem is None
    assert "saving again" in said.lines[-1]
    recorder.close()
    assert stored(path) == [["q", "x" * 20000, "q2", "a2"]]


def test_a_database_locked_too_long_is_said_and_caught_up_later(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    HistoryDB(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    said = Said()
    recorder = HistoryRecorder(path, said, opener=lambda p: HistoryDB(p, busy_timeout=0.2))
    recorder.record(snapshot("q", "a"))
    assert recorder.flush()
    assert len(said.lines) == 1 and "locked by another chatrepl" in said.lines[0]
    holder.execute("COMMIT")
    holder.close()
    recorder.record(snapshot("q", "a", "q2", "a2"))
    assert recorder.flush() and recorder.problem is None
    recorder.close()
    assert stored(path) == [["q", "a", "q2", "a2"]]


def _writer(path: Path, tag: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, str(WRITER), str(path), tag, str(count)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=env)
    assert process.stdout is not None
    ready = process.stdout.readline()
    assert ready.startswith("ready"), ready
    return process


def test_kill_9_while_writing_keeps_every_committed_turn_and_no_half_one(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    process = _writer(path, "k", 0)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    committed = [int(process.stdout.readline()) for _ in range(40)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stdin.close()
    db = HistoryDB(path)
    assert db.check() == "ok"
    (row,) = db.recent()
    found = db.conversation(row.id)
    assert found is not None
    contents = [m.message.content for m in found.path]
    assert len(contents) % 2 == 0  # whole turns only
    assert len(contents) >= 2 * len(committed)
    for number in committed:
        assert f"k question {number}" in contents
    assert [m.message.role for m in found.path] == ["user", "assistant"] * (len(contents) // 2)
    assert len(db.search("question")) == 1  # the index agrees with the table
    db.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    HistoryDB(path).close()
    count = 60
    writers = [_writer(path, tag, count) for tag in ("left", "right")]
    for process in writers:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in writers:
        out, _err = process.communicate(timeout=50)
        assert process.returncode == 0
        assert out.split()[-1] == str(count - 1)
    paths = stored(path)
    assert len(paths) == 2
    for tag, contents in zip(("left", "right"), paths, strict=True):
        assert contents[::2] == [f"{tag} question {n}" for n in range(count)]


def test_history_writes_happen_off_the_prompt_thread(tmp_path: Path) -> None:
    seen: list[str] = []

    def opener(target: Path) -> HistoryDB:
        seen.append(threading.current_thread().name)
        return HistoryDB(target)

    recorder = HistoryRecorder(tmp_path / "h.sqlite3", Said(), opener=opener)
    recorder.record(snapshot("q", "a"))
    recorder.add_sibling_replies([NewMessage(assistant("b"))])
    assert recorder.flush()
    recorder.close()
    assert seen == ["chatrepl-history"]
    assert threading.current_thread().name not in seen


def test_the_log_is_checkpointed_after_a_turn_not_inside_it(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    recorder = HistoryRecorder(path, Said())
    recorder.record(snapshot("q", "long answer " * 500_000))  # ~6 MB through the log
    assert recorder.flush()
    assert path.stat().st_size > 4 * 1024 * 1024  # copied into the database by maintain()
    recorder.close()
    assert stored(path)[0][0] == "q"
