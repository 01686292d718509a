"""`--role NAME [--var name=value ...]` on the command line, for one-shot runs and the REPL.

The role's variables are gathered before anything starts: from `--var`, else asked on the
terminal (`ask`), else a UsageError naming them. The chat then starts with the role's prompt,
parameters and (unless -m names one) model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from chatrepl.errors import RoleError, UsageError
from chatrepl.roles import Role, load_role, parse_assignments


@dataclass(frozen=True, slots=True)
class StartingRole:
    """The role asked for on the command line and its variables' values."""

    role: Role
    values: dict[str, str]

    @property
    def prompt(self) -> str:
        return self.role.render(self.values)


def ask_on(stdin: TextIO, stderr: TextIO) -> Callable[[str], str]:
    """A question on stderr, its answer one line of stdin (EOF: UsageError)."""

    def ask(question: str) -> str:
        stderr.write(question)
        stderr.flush()
        line = stdin.readline()
        if not line:
            raise UsageError("no answer: give the role's variables with --var NAME=VALUE")
        return line.rstrip("\r\n")

    return ask


def starting_role(roles_dir: Path, args: argparse.Namespace,
                  ask: Callable[[str], str] | None) -> StartingRole | None:
    """The role of `--role` with every variable filled in (from --var, else `ask`); None when
    no role was asked for. RoleError for a bad role file, UsageError for a missing variable."""
    name = getattr(args, "role", None)
    variables = list(getattr(args, "var", None) or [])
    if not name:
        if variables:
            raise UsageError("--var gives a role's variables: use it with --role NAME")
        return None
    role = load_role(roles_dir, name)
    values = parse_assignments(variables)
    for variable in role.variables:
        if variable not in values:
            if ask is None:
                raise UsageError(f"role {role.name} needs {variable}: give --var"
                                 f" {variable}=VALUE")
            values[variable] = ask(f"{role.name}: {variable}? ")
    unknown = sorted(set(values) - set(role.variables))
    if unknown:
        raise RoleError(f"role {role.name} has no variable {unknown[0]}"
                        + (f" (it has {', '.join(role.variables)})" if role.variables else ""))
    return StartingRole(role, values)
