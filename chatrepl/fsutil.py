"""Private file writes: atomic replacement (temp file, fsync, rename), no-follow opens, and
folders that only their owner may enter."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from chatrepl.errors import UnsafeDirectoryError

try:
    import fcntl
except ImportError:  # not POSIX: files are not locked
    fcntl = None  # type: ignore[assignment]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) readable only by the user."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


def private_dir_problem(st: os.stat_result, uid: int, *, others_may_read: bool = False) -> str | None:
    """Why a folder with these stats cannot hold the private files of user `uid`, or None.

    Other users may never write to it; with `others_may_read` false they may not read it or
    enter it either.
    """
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if st.st_uid != uid:
        return f"belongs to another user (uid {st.st_uid}), not to you (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by other users"
    if not others_may_read and st.st_mode & 0o077:
        return "is open to other users"
    return None


def check_private_dir(path: Path, *, others_may_read: bool = False, uid: int | None = None) -> None:
    """UnsafeDirectoryError (one line naming `path` and the fix) when `path` exists and other
    users could read or plant files in it (see `private_dir_problem`); nothing when it is absent."""
    if uid is None and not hasattr(os, "getuid"):
        return  # no POSIX owners to compare
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeDirectoryError(f"{path}: cannot check it ({exc.strerror or exc})") from None
    owner = os.getuid() if uid is None else uid  # uid: for tests, which run as root
    problem = private_dir_problem(st, owner, others_may_read=others_may_read)
    if problem is None:
        return
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != owner:
        fix = "move it away, or set CHATREPL_HOME to a folder of your own"
    else:
        fix = f"run chmod {'go-w' if others_may_read else '700'} {path}"
    raise UnsafeDirectoryError(f"{path}: {problem}; chatrepl keeps private files there; {fix}")


def require_private_dir(path: Path, *, others_may_read: bool = False) -> Path:
    """`path`, created 0700 when missing; UnsafeDirectoryError when it is not private."""
    ensure_private_dir(path)
    check_private_dir(path, others_may_read=others_may_read)
    return path


def open_private(path: Path, *, append: bool = False) -> BinaryIO:
    """`path` opened for binary writing (emptied, or appended to) with mode 0600.

    Never through a symbolic link (ELOOP), never anything but a regular file of the user's own
    (a FIFO or device is refused at once, without blocking). An existing file keeps its
    content when appending and is made 0600.
    """
    flags = (os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _NONBLOCK
             | (os.O_APPEND if append else 0))
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise PermissionError(errno.EPERM, "belongs to another user", str(path))
        if stat.S_IMODE(st.st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A private (0600) binary file that replaces `path` whole when the block ends without error.

    A reader sees the old or the new file, never a mix; on an error the old file stays.
    """
    ensure_private_dir(path.parent)
    # mkstemp opens with O_CREAT | O_EXCL (mode 0600): a name planted in the folder fails it, and
    # os.replace swaps a link at `path` itself, never the file it points to.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_at_most(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of `path` (one more than allowed shows it is too long).

    Opened without blocking, so a named pipe nobody writes to reads as empty instead of hanging;
    a pipe with a writer (`--config <(decrypt config.yaml)`) is read to its end or the limit.
    IsADirectoryError for a directory.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(path)
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return handle.read(limit + 1)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.NAME.lock` beside `path` (other processes wait for it).

    The lock is advisory (flock) and ends with the process, so a killed holder never leaves it
    taken. Where flock does not exist, the block runs unlocked.
    """
    if fcntl is None:  # not POSIX
        yield
        return
    ensure_private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"),
                 os.O_CREAT | os.O_RDWR | _NOFOLLOW | _CLOEXEC, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` so a reader sees the old or the new file, never a mix."""
    with atomic_file(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def sweep_stale_temp_files(folder: Path, older_than_seconds: float = 3600.0) -> int:
    """Remove temp files that a killed write left behind (`.NAME.*.tmp`); returns the count.

    Only files older than `older_than_seconds` go, so a write in progress elsewhere is spared.
    """
    removed = 0
    cutoff = time.time() - older_than_seconds
    try:
        candidates = list(folder.glob(".*.tmp"))
    except OSError:
        return 0
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
