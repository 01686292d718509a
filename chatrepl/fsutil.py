"""Atomic, private file writes: a temp file in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) readable only by the user."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A private (0600) binary file that replaces `path` whole when the block ends without error.

    A reader sees the old or the new file, never a mix; on an error the old file stays.
    """
    import tempfile  # on first write, not at start-up

    ensure_private_dir(path.parent)
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
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    ensure_private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE)
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
    import time

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
