"""YAML read with line numbers, duplicate-key detection and size limits, for clear errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatrepl.errors import ConfigError
from chatrepl.fsutil import read_at_most

# Older versions wrote every discovered model into the providers file: 48,000 models make
# about 2 MB. The cap (as for saved sessions) refuses /dev/zero or a disk image, not real files.
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Values a document may expand to: one per byte of text, at least this many. Aliases let a few
# lines stand for millions of values (the "billion laughs"); a file without aliases cannot write
# more values than it has bytes, so past this budget the file is refused, not walked.
MAX_CONFIG_VALUES = 100_000
# libyaml's parser when PyYAML was built with it: 6x faster on a large legacy file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

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
            raise IsADirectoryError(path)
        raw = read_at_most(path, MAX_CONFIG_BYTES)
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; create it (see config.example.yaml or `chatrepl init`)"
        ) from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied; make it readable (chmod u+r)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB;"
                          " is this really the config file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 text; save the file as UTF-8") from None


class _Builder:
    """Turns a composed YAML node tree into plain data, recording lines and duplicate keys.

    Merge keys (`<<: *defaults`) are honoured: merged entries may be overridden by the keys
    written in the mapping itself, as YAML allows; two written keys of the same name are an error.
    """

    def __init__(self, document: YamlDocument, loader: yaml.SafeLoader, budget: int) -> None:
        self.document = document
        self.loader = loader
        self.budget = budget

    def _fail(self, node: yaml.Node, what: str) -> ConfigError:
        return ConfigError(f"{self.document.path}:{node.start_mark.line + 1}: {what}")

    def _construct(self, node: yaml.Node) -> Any:
        """A scalar as the safe loader reads it; a value it cannot read is a ConfigError."""
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, AttributeError):
            kind = str(node.tag).rsplit(":", 1)[-1]
            text = str(node.value)
            shown = text if len(text) <= 40 else text[:40] + "…"
            article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
            raise self._fail(node, f"invalid YAML: cannot read {shown!r} as {article} {kind}") from None

    def build(self, node: yaml.Node, loc: Location, depth: int = 0) -> Any:
        if depth > 50:
            raise ConfigError(f"{self.document.where(loc)}: nesting is too deep")
        self.budget -= 1
        if self.budget < 0:
            raise self._fail(node, "invalid YAML: too many values (an alias repeated many"
                                   " times?); write the values out")
        self.document.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise self._fail(node, f"invalid YAML: unsupported tag {node.tag!r} on a map")
            written = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
            self.loader.flatten_mapping(node)  # merged entries first, then the written ones
            first_written = len(node.value) - written
            result: dict[Any, Any] = {}
            written_keys: set[Any] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self._construct(key_node)
                line = key_node.start_mark.line + 1
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise ConfigError(f"{self.document.path}:{line}: a key must be plain text")
                key_loc = (*loc, key)
                if index >= first_written:
                    if key in written_keys:
                        first = self.document.lines.get(key_loc)
                        raise ConfigError(
                            f"{self.document.path}:{line}: duplicate key {key!r}"
                            f" (first on line {first}); keep one of them"
                        )
                    written_keys.add(key)
                self.document.lines[key_loc] = line
                result[key] = self.build(value_node, key_loc, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self._fail(node, f"invalid YAML: unsupported tag {node.tag!r} on a list")
            return [self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value)]
        return self._construct(node)


def _marked_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    """One line from a PyYAML error: the line of the problem, and where the construct began.

    An unclosed quote or bracket is found at the end of the file; the line that opened it is
    the one to name.
    """
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "cannot parse"
    context_mark = exc.context_mark
    if exc.context and exc.problem and context_mark is not None:
        last_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if mark is not None and mark.line + 1 > last_line:
            mark = context_mark
            problem = f"{problem} {exc.context}"
        elif mark is not None and context_mark.line != mark.line:
            problem = f"{problem} ({exc.context} on line {context_mark.line + 1})"
    line = f":{mark.line + 1}" if mark else ""
    problem = " ".join(problem.replace("\t", "\\t").split())
    return ConfigError(f"{path}{line}: invalid YAML: {problem}")


def load_yaml_document(path: Path) -> YamlDocument:
    """Read `path` as YAML; every problem becomes a ConfigError naming the file and line."""
    return parse_yaml_text(path, _read_text(path))


def parse_yaml_text(path: Path, text: str) -> YamlDocument:
    """`text` (read from `path`) as YAML; errors name `path` and the line within `text`."""
    if _LOADER is not yaml.SafeLoader:
        try:
            return _parse(path, text, _LOADER)
        except _SyntaxError:
            pass  # read again below: the pure-Python parser's messages say more
    return _parse(path, text, yaml.SafeLoader)


class _SyntaxError(ConfigError):
    """Text that is not YAML (rather than YAML this program refuses)."""


def _parse(path: Path, text: str, loader_class: type[yaml.SafeLoader]) -> YamlDocument:
    document = YamlDocument(path=path, data=None)
    loader: yaml.SafeLoader | None = None
    try:
        loader = loader_class(text)  # checks for characters YAML does not allow
        node = loader.get_single_node()
        if node is not None:
            budget = max(MAX_CONFIG_VALUES, len(text))
            document.data = _Builder(document, loader, budget).build(node, ())
    except yaml.reader.ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        what = (f"character U+{exc.character:04X} is not allowed"
                if isinstance(exc.character, int) else "a character that is not allowed")
        raise _SyntaxError(f"{path}:{line}: invalid YAML: {what}; remove it") from None
    except yaml.MarkedYAMLError as exc:
        raise _SyntaxError(str(_marked_error(path, text, exc))) from None
    except yaml.YAMLError as exc:
        raise _SyntaxError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nesting is too deep") from None
    finally:
        if loader is not None:
            loader.dispose()
    return document
