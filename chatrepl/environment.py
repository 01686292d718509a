"""What a run of chatrepl is given by its process: argv, the environment, the streams, the terminal.

`cli.main` builds one `Environment` and hands it down; nothing below it reads `sys.argv`,
`os.environ` or `sys.std*` itself. Tests build their own (`Environment(argv=..., env=..., ...)`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass(frozen=True)
class Environment:
    """The process's inputs and outputs. `stdin_isatty` and `stdout_isatty` default to asking
    the streams; a test sets them to act as a terminal."""

    argv: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            object.__setattr__(self, "stdin_isatty", _isatty(self.stdin))
        if self.stdout_isatty is None:
            object.__setattr__(self, "stdout_isatty", _isatty(self.stdout))

    @classmethod
    def from_process(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                     stdin: TextIO | None = None, stdout: TextIO | None = None,
                     stderr: TextIO | None = None) -> Environment:
        """This process's own, with any of them replaced."""
        return cls(argv=tuple(sys.argv[1:] if argv is None else argv),
                   env=os.environ if env is None else env,
                   stdin=stdin or sys.stdin, stdout=stdout or sys.stdout,
                   stderr=stderr or sys.stderr)

    @property
    def interactive(self) -> bool:
        """stdin is a terminal: with no prompt words, the REPL."""
        return bool(self.stdin_isatty)
