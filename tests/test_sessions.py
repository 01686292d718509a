"""SessionStore: JSON files written atomically with mode 0600, names, autosave, damaged files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chatrepl.errors import StateError
from chatrepl.sessions import SessionStore

DATA = {"format": "chatrepl-session", "version": 1, "provider": "local", "model": "m",
        "system_prompt": None, "messages": [{"role": "user", "content": "héllo"}]}


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "state" / "sessions", tmp_path / "state" / "autosave.json")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def no_temp_files(folder: Path) -> bool:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_save_load_round_trip(store: SessionStore) -> None:
    path = store.save("work", DATA)
    assert path == store.sessions_dir / "work.json"
    assert store.load("work") == DATA
    assert mode(path) == 0o600
    assert no_temp_files(store.sessions_dir)


def test_save_overwrites_atomically(store: SessionStore) -> None:
    store.save("work", DATA)
    inode_before = (store.sessions_dir / "work.json").stat().st_ino
    store.save("work", {**DATA, "model": "other"})
    assert store.load("work")["model"] == "other"
    # A rename put a new file in place rather than rewriting the old one.
    assert (store.sessions_dir / "work.json").stat().st_ino != inode_before
    assert no_temp_files(store.sessions_dir)


def test_explicit_paths(store: SessionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "chat.json"
    assert store.save(str(target), DATA) == target
    assert store.load(str(target)) == DATA
    assert mode(target) == 0o600
    monkeypatch.chdir(tmp_path)
    assert store.save("plain.json", DATA) == Path("plain.json")
    assert (tmp_path / "plain.json").exists()
    assert store.load("plain.json") == DATA
    assert store.names() == []  # explicit paths are not in the sessions folder


def test_names_newest_first(store: SessionStore) -> None:
    assert store.names() == []
    for index, name in enumerate(["old", "middle", "new"]):
        path = store.save(name, DATA)
        os.utime(path, (1_000_000 + index, 1_000_000 + index))
    store.autosave(DATA)
    (store.sessions_dir / "notes.txt").write_text("not a session")
    assert store.names() == ["new", "middle", "old"]


@pytest.mark.parametrize("name", ["", "   ", ".hidden", "..", "a\\b", "tab\there", "x" * 200])
def test_bad_names_are_refused(store: SessionStore, name: str) -> None:
    with pytest.raises(StateError) as caught:
        store.save(name, DATA)
    assert "\n" not in str(caught.value)
    assert not store.sessions_dir.exists() or list(store.sessions_dir.iterdir()) == []


def test_missing_session_names_what_exists(store: SessionStore) -> None:
    with pytest.raises(StateError, match="none saved yet"):
        store.load("nope")
    store.save("work", DATA)
    with pytest.raises(StateError, match=r"no saved session 'nope' \(saved: work\)"):
        store.load("nope")
    with pytest.raises(StateError, match="no such session file"):
        store.load("/nonexistent/dir/x.json")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe\x00bad", b""])
def test_damaged_file_is_a_state_error(store: SessionStore, content: bytes) -> None:
    store.save("work", DATA)
    (store.sessions_dir / "work.json").write_bytes(content)
    with pytest.raises(StateError) as caught:
        store.load("work")
    assert "\n" not in str(caught.value) and "work.json" in str(caught.value)


def test_directory_instead_of_file(store: SessionStore, tmp_path: Path) -> None:
    folder = tmp_path / "adir.json"
    folder.mkdir()
    with pytest.raises(StateError, match="directory"):
        store.load(str(folder))
    with pytest.raises(StateError, match="directory"):
        store.save(str(folder), DATA)


def test_unserialisable_data_leaves_old_file(store: SessionStore) -> None:
    store.save("work", DATA)
    with pytest.raises(StateError):
        store.save("work", {"bad": object()})
    assert store.load("work") == DATA
    assert no_temp_files(store.sessions_dir)


def test_autosave_round_trip(store: SessionStore) -> None:
    assert store.load_autosave() is None
    store.autosave(DATA)
    assert store.load_autosave() == DATA
    assert mode(store.autosave_file) == 0o600
    store.autosave({**DATA, "messages": []})
    assert store.load_autosave()["messages"] == []
    assert no_temp_files(store.autosave_file.parent)


def test_damaged_autosave_is_a_state_error(store: SessionStore) -> None:
    store.autosave(DATA)
    store.autosave_file.write_text('{"messages": [')
    with pytest.raises(StateError, match=r"autosave\.json"):
        store.load_autosave()


def test_unwritable_folder_is_a_state_error(store: SessionStore, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    blocked = SessionStore(blocker / "sessions", blocker / "autosave.json")
    with pytest.raises(StateError) as caught:
        blocked.save("work", DATA)
    assert "\n" not in str(caught.value)
    with pytest.raises(StateError):
        blocked.autosave(DATA)


def test_an_endless_file_is_refused_after_the_limit(store: SessionStore) -> None:
    with pytest.raises(StateError, match=r"/dev/zero: larger than 64 MB"):
        store.load("/dev/zero")


def test_an_oversized_session_file_is_refused(store: SessionStore, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chatrepl.sessions.MAX_SESSION_BYTES", 1024)
    path = tmp_path / "big.json"
    path.write_text('{"messages": "' + "x" * 2048 + '"}', encoding="utf-8")
    with pytest.raises(StateError, match="larger than"):
        store.load(str(path))


def test_a_named_pipe_with_no_writer_does_not_hang(store: SessionStore, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(StateError, match="damaged session file"):
        store.load(str(fifo))
