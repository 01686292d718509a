"""Put text on the user's clipboard: the terminal's OSC 52 sequence and a local clipboard tool.

OSC 52 asks the terminal itself to set the clipboard, so it works over SSH; whether the terminal
allows it cannot be known (tmux needs `set-clipboard on`). A local tool (wl-copy, xclip, xsel,
pbcopy, clip.exe) is used as well when one is on PATH and can reach a clipboard. Neither way
raises: the outcome says what was done and what failed.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Terminals cap what one OSC 52 sequence may carry (xterm and others: about 100 kB of base64
# by default); longer text goes to the local tool only.
MAX_OSC52_BYTES = 100_000
TOOL_SECONDS = 3.0  # a clipboard tool that has not taken the text by then is given up on


@dataclass(frozen=True, slots=True)
class ClipboardTool:
    """A command that reads the text to copy on its stdin, and the encoding it expects."""

    name: str
    argv: tuple[str, ...]
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """How a copy went: the ways that took the text, and why the others did not."""

    ways: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def copied(self) -> bool:
        return bool(self.ways)

    def describe(self, characters: int, what: str = "") -> str:
        """`copied 1,234 characters (code block 2) via OSC 52 and xclip`, or why nothing was."""
        label = f" ({what})" if what else ""
        if not self.ways:
            return f"nothing copied{label}: {'; '.join(self.problems) or 'no way to copy'}"
        noun = "character" if characters == 1 else "characters"
        line = f"copied {characters:,} {noun}{label} via {' and '.join(self.ways)}"
        return line + (f" ({'; '.join(self.problems)})" if self.problems else "")


def osc52(text: str) -> str:
    """The OSC 52 sequence that sets the clipboard to `text` (base64 of its UTF-8 bytes)."""
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"\x1b]52;c;{data}\x07"


def find_tool(env: Mapping[str, str]) -> ClipboardTool | None:
    """The local clipboard tool to use under `env`, or None: wl-copy under Wayland, xclip or
    xsel under X, pbcopy (macOS), clip.exe (Windows, WSL)."""
    path = env.get("PATH")
    candidates: list[ClipboardTool] = []
    if env.get("WAYLAND_DISPLAY"):
        candidates.append(ClipboardTool("wl-copy", ("wl-copy",)))
    if env.get("DISPLAY"):
        candidates += [ClipboardTool("xclip", ("xclip", "-selection", "clipboard", "-in")),
                       ClipboardTool("xsel", ("xsel", "--clipboard", "--input"))]
    candidates += [ClipboardTool("pbcopy", ("pbcopy",)),
                   # clip.exe reads UTF-16 with a byte-order mark correctly, UTF-8 it garbles.
                   ClipboardTool("clip.exe", ("clip.exe",), encoding="utf-16")]
    for tool in candidates:
        found = shutil.which(tool.argv[0], path=path)
        if found:
            return ClipboardTool(tool.name, (found, *tool.argv[1:]), tool.encoding)
    return None


def run_tool(tool: ClipboardTool, text: str, env: Mapping[str, str],
             timeout: float = TOOL_SECONDS) -> str | None:
    """Give `text` to `tool`; None when it took it, else why not (one short phrase).

    Its output goes nowhere: xclip and wl-copy leave a child behind to serve the clipboard,
    which must not hold a pipe this waits on."""
    try:
        done = subprocess.run(tool.argv, input=text.encode(tool.encoding), env=dict(env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{tool.name} did not finish within {timeout:g} s"
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"{tool.name} could not run: {exc.__class__.__name__}"
    if done.returncode != 0:
        return f"{tool.name} failed with exit status {done.returncode}"
    return None


def copy_text(text: str, env: Mapping[str, str],
              write_terminal: Callable[[str], None] | None) -> CopyOutcome:
    """Copy `text` by OSC 52 (through `write_terminal`, when there is a terminal) and by the
    local clipboard tool (when there is one). Never raises."""
    ways: list[str] = []
    problems: list[str] = []
    if write_terminal is None:
        problems.append("no terminal for OSC 52")
    else:
        sequence = osc52(text)
        if len(sequence) > MAX_OSC52_BYTES:
            problems.append(f"too long for OSC 52 (over {MAX_OSC52_BYTES:,} bytes)")
        else:
            try:
                write_terminal(sequence)
                ways.append("OSC 52")
            except (OSError, ValueError) as exc:
                problems.append(f"OSC 52 could not be written: {exc.__class__.__name__}")
    tool = find_tool(env)
    if tool is None:
        if not ways:
            problems.append("no clipboard tool found (wl-copy, xclip, xsel, pbcopy, clip.exe)")
    else:
        problem = run_tool(tool, text, env)
        if problem is None:
            ways.append(tool.name)
        else:
            problems.append(problem)
    return CopyOutcome(tuple(ways), tuple(problems))
