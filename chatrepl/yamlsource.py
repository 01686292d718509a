"""YAML read with line numbers, duplicate-key detection and size limits, for clear errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatrepl.errors import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024

Location = tuple[Any, ...]


@dataclass
class YamlDocument:
    """Parsed data plus the line on which each key or item starts."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, loc: Location) -> int | None:
        """The line of the deepest part of `loc` that appears in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def where(self, loc: Location) -> str:
        """`path:line` (or just `path` when there is no line)."""
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `word`, if any is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _read_text(path: Path) -> str:
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, expected a YAML file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; create it (see config.example.yaml or `chatrepl init`)"
        ) from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied; make it readable (chmod u+r)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than 1 MiB; is this really the config file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 text; save the file as UTF-8") from None


class _Builder:
    """Turns a composed YAML node tree into plain data, recording lines and duplicate keys."""

    def __init__(self, document: YamlDocument, loader: yaml.SafeLoader) -> None:
        self.document = document
        self.loader = loader

    def build(self, node: yaml.Node, loc: Location, depth: int = 0) -> Any:
        if depth > 50:
            raise ConfigError(f"{self.document.where(loc)}: nesting is too deep")
        self.document.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise ConfigError(f"{self.document.path}:{line}: a key must be plain text")
                if key in result:
                    first = self.document.lines.get((*loc, key))
                    raise ConfigError(
                        f"{self.document.path}:{line}: duplicate key {key!r}"
                        f" (first on line {first}); keep one of them"
                    )
                self.document.lines[(*loc, key)] = line
                result[key] = self.build(value_node, (*loc, key), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load_yaml_document(path: Path) -> YamlDocument:
    """Read `path` as YAML; every problem becomes a ConfigError naming the file and line."""
    text = _read_text(path)
    document = YamlDocument(path=path, data=None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            document.data = _Builder(document, loader).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = (exc.problem or exc.context or "cannot parse").replace("\t", "\\t")
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nesting is too deep") from None
    finally:
        loader.dispose()
    return document
