"""Roles: a system prompt with its own model and parameters, one Markdown file per role.

A role file is `ROLES_DIR/NAME.md`: an optional YAML header between `---` lines (`model`,
`parameters`, `description`), then the system prompt. `{{name}}` in the prompt is a variable
the user fills in when the role is taken. Files are read when used (edits apply at once),
bounded in size; a bad file is one RoleError line naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatrepl.config import validation_line
from chatrepl.errors import ConfigError, RoleError
from chatrepl.fsutil import read_at_most
from chatrepl.parameters import ModelParameters
from chatrepl.yamlsource import parse_yaml_text, suggest

MAX_ROLE_BYTES = 256 * 1024
ROLE_SUFFIX = ".md"
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FENCE = "---"


class RoleHeader(BaseModel):
    """The YAML header of a role file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    description: str | None = None
    parameters: ModelParameters = Field(default_factory=ModelParameters)


@dataclass(frozen=True, slots=True)
class Role:
    """One role as its file says: the prompt may still hold `{{variables}}`."""

    name: str
    path: Path
    prompt: str
    model: str | None
    description: str | None
    parameters: ModelParameters

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names of the prompt, in order of first use."""
        return tuple(dict.fromkeys(_VARIABLE.findall(self.prompt)))

    def render(self, values: Mapping[str, str]) -> str:
        """The prompt with its variables filled in; RoleError naming any left without a value."""
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise RoleError(f"role {self.name} needs {', '.join(missing)}:"
                            f" give {' '.join(f'{m}=VALUE' for m in missing)}")
        return _VARIABLE.sub(lambda match: values[match.group(1)], self.prompt)


def role_names(folder: Path) -> list[str]:
    """The roles in `folder`, sorted; none when it does not exist."""
    try:
        return sorted(path.name[: -len(ROLE_SUFFIX)] for path in folder.iterdir()
                      if path.name.endswith(ROLE_SUFFIX) and _ROLE_NAME.match(path.name)
                      and path.is_file())
    except OSError:
        return []


def load_role(folder: Path, name: str) -> Role:
    """The role `name` from `folder`; RoleError when there is none or its file is bad."""
    if not _ROLE_NAME.match(name):
        raise RoleError(f"{name!r} is not a role name (letters, digits, '.', '_', '-')")
    path = folder / f"{name}{ROLE_SUFFIX}"
    try:
        raw = read_at_most(path, MAX_ROLE_BYTES)
    except FileNotFoundError:
        known = role_names(folder)
        close = suggest(name, known)
        hint = f"; did you mean {close}?" if close else (
            f" (roles: {', '.join(known[:10])})" if known else "")
        raise RoleError(f"no role {name!r}: add {path}{hint}") from None
    except IsADirectoryError:
        raise RoleError(f"{path}: is a directory, expected a Markdown file") from None
    except OSError as exc:
        raise RoleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_ROLE_BYTES:
        raise RoleError(f"{path}: larger than {MAX_ROLE_BYTES // 1024} KiB; is it a role file?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RoleError(f"{path}:{line}: not valid UTF-8 text; save the file as UTF-8") from None
    return parse_role(name, path, text)


def parse_role(name: str, path: Path, text: str) -> Role:
    """A role from the text of its file (see the module docstring)."""
    lines = text.splitlines(keepends=True)
    header = RoleHeader()
    body = text
    if lines and lines[0].rstrip() == _FENCE:
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in (_FENCE, "...")), None)
        if end is None:
            raise RoleError(f"{path}:1: the header opened by --- is not closed; end it with a"
                            " line of ---")
        header = _read_header(path, "".join(lines[:end]))
        body = "".join(lines[end + 1:])
    prompt = body.strip()
    if not prompt:
        raise RoleError(f"{path}: the role has no system prompt; write it after the header")
    return Role(name, path, prompt, header.model, header.description, header.parameters)


def _read_header(path: Path, text: str) -> RoleHeader:
    """The header (text from the opening `---`, so lines count as in the file)."""
    try:
        document = parse_yaml_text(path, text)
    except ConfigError as exc:
        raise RoleError(str(exc)) from None
    if document.data is None:
        return RoleHeader()
    if not isinstance(document.data, dict):
        raise RoleError(f"{document.where(())}: the header must be a map (model:, parameters:)")
    try:
        return RoleHeader.model_validate(document.data)
    except ValidationError as exc:
        fields: dict[str, type[BaseModel]] = {"": RoleHeader, "parameters": ModelParameters}
        raise RoleError(validation_line(document, exc, fields)) from None


def parse_assignments(words: list[str]) -> dict[str, str]:
    """`name=value` words as a map; RoleError for a word without `=`."""
    values: dict[str, str] = {}
    for word in words:
        name, equals, value = word.partition("=")
        if not equals or not name.strip():
            raise RoleError(f"{word!r}: give role variables as name=value")
        values[name.strip()] = value
    return values
