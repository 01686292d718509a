"""Paths, globs and folders named by `/attach`, `-a` or `@path`, read into attachments.

A folder gives its text files only, skipping binaries and what `.gitignore` excludes (git's own
answer inside a work tree, the .gitignore files met otherwise), and is refused whole past
MAX_DIR_FILES files or MAX_DIR_BYTES of text: the cap is said, never silently applied. A glob
is bounded the same way.
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chatrepl.attachments import MAX_TOTAL_BYTES, Attachment, Loaded, read_file, size_text
from chatrepl.errors import AttachmentError

MAX_DIR_FILES = 200            # files taken from one directory or glob
MAX_DIR_BYTES = 4 * 1024 * 1024  # text taken from one directory or glob
MAX_WALK_ENTRIES = 20_000      # entries looked at in one tree (or glob matches) before giving up
GIT_TIMEOUT = 10.0
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"})


def has_magic(word: str) -> bool:
    return glob.has_magic(word)


def load_paths(words: Iterable[str], cwd: Path | None = None) -> Loaded:
    """Files, globs and directories named by `words` (`~` expanded, relative to `cwd`).

    AttachmentError when any cannot be read; nothing is kept then."""
    base = Path.cwd() if cwd is None else cwd
    words = list(words)
    items: list[Attachment] = []
    notes: list[str] = []
    for word in words:
        try:
            loaded = _load_word(word, base)
        except (OSError, RuntimeError) as exc:  # a folder on the way that cannot be entered, `~nobody`
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise AttachmentError(f"{word}: cannot read it ({reason})") from None
        items += loaded.items
        notes += loaded.notes
    total = sum(item.size for item in items)
    if total > MAX_TOTAL_BYTES:
        raise AttachmentError(f"{' '.join(words)}: {size_text(total)} in all, over the "
                              f"{size_text(MAX_TOTAL_BYTES)} cap for one message")
    return Loaded(tuple(items), tuple(notes))


def _load_word(word: str, base: Path) -> Loaded:
    """One file, glob or folder."""
    expanded = os.path.expanduser(word)
    if has_magic(expanded):
        pattern = expanded if os.path.isabs(expanded) else str(base / expanded)
        matches = sorted(itertools.islice(glob.iglob(pattern, recursive=True),
                                          MAX_WALK_ENTRIES + 1))
        if len(matches) > MAX_WALK_ENTRIES:
            raise AttachmentError(f"{word}: matches over {MAX_WALK_ENTRIES:,} paths; name fewer")
        if not matches:
            raise AttachmentError(f"{word}: no file matches")
        files = [Path(m) for m in matches if Path(m).is_file()]
        if len(files) > MAX_DIR_FILES:
            raise AttachmentError(f"{word}: matches {len(files)} files, over the cap of "
                                  f"{MAX_DIR_FILES}; name fewer")
        return _read_text_files(files, word, base)
    path = Path(expanded) if os.path.isabs(expanded) else base / expanded
    if path.is_dir():
        return load_directory(path, word, base)
    return Loaded((read_file(path, word),))


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _read_text_files(files: list[Path], said: str, base: Path) -> Loaded:
    """Each of `files` that is text; binaries are skipped and counted; caps said."""
    items: list[Attachment] = []
    skipped = 0
    total = 0
    for path in files:
        shown = _shown(path, base)
        try:
            item = read_file(path, shown, text_only=True)
        except AttachmentError:
            skipped += 1
            continue
        total += item.size
        if total > MAX_DIR_BYTES:
            raise AttachmentError(f"{said}: its text files pass the {size_text(MAX_DIR_BYTES)} "
                                  "cap for one directory or glob; name a narrower path")
        items.append(item)
    if not items:
        raise AttachmentError(f"{said}: no text file in it"
                              + (f" ({skipped} binary or unreadable skipped)" if skipped else ""))
    notes = (f"{said}: skipped {skipped} binary or unreadable file{'s' if skipped != 1 else ''}",) \
        if skipped else ()
    return Loaded(tuple(items), notes)


def load_directory(root: Path, said: str, base: Path) -> Loaded:
    """The text files under `root` that git does not ignore (capped: said, not silent); each
    named relative to `base` when under it."""
    files = directory_files(root, said)
    if len(files) > MAX_DIR_FILES:
        raise AttachmentError(f"{said}: {len(files)} files, over the cap of {MAX_DIR_FILES} "
                              "for one directory; name a narrower path or a glob")
    return _read_text_files(files, said, base)


def directory_files(root: Path, said: str) -> list[Path]:
    """Files under `root`, sorted, without what .gitignore excludes (git's own answer inside a
    work tree; the .gitignore files read here otherwise). AttachmentError past
    MAX_WALK_ENTRIES entries."""
    listed = _git_files(root)
    if listed is not None:
        if len(listed) > MAX_WALK_ENTRIES:
            raise AttachmentError(f"{said}: over {MAX_WALK_ENTRIES:,} files; name a narrower path")
        return listed
    return sorted(_walk(root, said))


def _git_files(root: Path) -> list[Path] | None:
    """The files git would track under `root` (tracked or not ignored); None outside a work
    tree or without git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard", "--", "."],
            capture_output=True, timeout=GIT_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = [n for n in done.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    return sorted({root / n for n in names if (root / n).is_file()})


@dataclass(frozen=True)
class _Ignore:
    """The patterns of one .gitignore, matched relative to its folder (no negations)."""

    folder: Path
    patterns: tuple[str, ...]

    def excludes(self, path: Path, is_dir: bool) -> bool:
        relative = path.relative_to(self.folder).as_posix()
        for pattern in self.patterns:
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            anchored = "/" in pattern
            pattern = pattern.lstrip("/")
            if (fnmatch.fnmatch(relative, pattern) if anchored
                    else fnmatch.fnmatch(path.name, pattern)):
                return True
        return False


def _read_ignore(folder: Path) -> _Ignore | None:
    try:
        text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    patterns = tuple(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith(("#", "!")))
    return _Ignore(folder, patterns) if patterns else None


def _walk(root: Path, said: str) -> Iterator[Path]:
    """Files under `root` outside a git work tree, honouring the .gitignore files met."""
    seen = 0
    stack: list[tuple[Path, tuple[_Ignore, ...]]] = [(root, ())]
    while stack:
        folder, rules = stack.pop()
        own = _read_ignore(folder)
        rules = (*rules, own) if own is not None else rules
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_WALK_ENTRIES:
                raise AttachmentError(f"{said}: over {MAX_WALK_ENTRIES:,} entries; name a "
                                      "narrower path")
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and entry.name in ALWAYS_SKIPPED_DIRS:
                continue
            if any(rule.excludes(path, is_dir) for rule in rules):
                continue
            if is_dir:
                stack.append((path, rules))
            elif entry.is_file():
                yield path
