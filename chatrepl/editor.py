"""Edit text in the user's editor ($VISUAL, else $EDITOR, else the first of a few usual ones).

`edit_text` writes the text to a private temporary file, runs the editor on it and reads it
back. It never raises: the outcome carries the new text, or one line saying why there is none,
and a hint when the editor came back at once with nothing changed (a GUI editor started
without its wait flag returns before the user has typed anything).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from chatrepl.sanitize import clean

# Tried, in this order, when neither VISUAL nor EDITOR is set.
FALLBACK_EDITORS = ("editor", "nano", "vi")
# An editor back this soon with the text unchanged most likely never waited for the user.
AT_ONCE_SECONDS = 1.0
MAX_EDITED_BYTES = 1_000_000  # what is read back into the input line
UNCHANGED_HINT = ("the editor returned at once with no change; a GUI editor needs its wait flag,"
                  " e.g. EDITOR='code --wait'")


class NoEditorError(Exception):
    """No editor can be run; the message is the one line to show."""


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """What came back: `text` (None when the input stays as it was), and a line to show."""

    text: str | None
    message: str | None = None


def editor_command(env: Mapping[str, str]) -> list[str]:
    """The editor's command line (program found on PATH) under `env`; NoEditorError saying
    what to set when there is none."""
    path = env.get("PATH")
    for variable in ("VISUAL", "EDITOR"):
        value = env.get(variable, "").strip()
        if not value:
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = []
        if not words:
            raise NoEditorError(f"cannot read ${variable} ({clean(value)!r}); set it to an"
                                " editor command, e.g. EDITOR=nano")
        found = shutil.which(words[0], path=path)
        if found is None:
            raise NoEditorError(f"the editor {clean(words[0])!r} (from ${variable}) was not found;"
                                f" set ${variable} to an installed editor, e.g. {variable}=nano")
        return [found, *words[1:]]
    for name in FALLBACK_EDITORS:
        found = shutil.which(name, path=path)
        if found is not None:
            return [found]
    raise NoEditorError("no editor found; set $EDITOR (e.g. export EDITOR=nano) or $VISUAL")


def edit_text(text: str, env: Mapping[str, str], *,
              clock: Callable[[], float] = time.monotonic) -> EditOutcome:
    """Run the editor on `text` and return what the user saved (one trailing newline dropped,
    as editors add one). Waits for the editor; never raises."""
    try:
        command = editor_command(env)
    except NoEditorError as exc:
        return EditOutcome(None, str(exc))
    try:
        with tempfile.TemporaryDirectory(prefix="chatrepl-edit-") as folder:
            file = Path(folder) / "message.md"  # the folder is private (0700): so is the file
            file.write_text(text + "\n" if text else "", encoding="utf-8")
            started = clock()
            try:
                status = subprocess.run([*command, str(file)], env=dict(env),
                                        check=False).returncode
            except KeyboardInterrupt:  # Ctrl-C reached us, not only the editor: it is stopped
                return EditOutcome(None, "editing interrupted; the input is as it was")
            elapsed = clock() - started
            if status != 0:
                return EditOutcome(None, f"the editor exited with status {status};"
                                   " the input is as it was")
            with file.open("rb") as saved:
                data = saved.read(MAX_EDITED_BYTES + 1)
    except OSError as exc:
        return EditOutcome(None, f"the editor could not be run: {exc.strerror or exc}")
    if len(data) > MAX_EDITED_BYTES:
        return EditOutcome(None, f"the edited text is over {MAX_EDITED_BYTES:,} bytes;"
                           " the input is as it was")
    try:
        edited = data.decode("utf-8")
    except UnicodeDecodeError:
        return EditOutcome(None, "the edited text is not UTF-8; the input is as it was")
    edited = edited.removesuffix("\n")
    if edited == text and elapsed < AT_ONCE_SECONDS:
        return EditOutcome(text, UNCHANGED_HINT)
    return EditOutcome(edited)
