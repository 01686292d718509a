"""Slash commands: one registry feeds dispatch, /help, `--help` and completion.

To add a command, register its handler with `@REGISTRY.command(...)` (slash_commands.py):
its name, aliases, help, usage, a parser for its flags, and a completer for its arguments.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prompt_toolkit.completion import Completer, merge_completers

from chatrepl.completer import FlagCompleter
from chatrepl.errors import ChatReplError, UsageError

Handler = Callable[["object", str], None]
# Builds a command's argument completer from the REPL state. Commands naming the same factory
# share the completer it builds (one index of model names for /model and /info).
CompleterFactory = Callable[[Any], Completer]
HELP_FLAGS = ("--help", "-h")


@dataclass(frozen=True)
class Command:
    """A slash command: its name, aliases, one-line help and handler(context, argument);
    `parser` builds the parser of its flags, `completer` the completer of its arguments."""

    name: str
    aliases: tuple[str, ...]
    help: str
    usage: str
    handler: Callable[..., None]
    parser: Callable[[], argparse.ArgumentParser] | None = None
    completer: CompleterFactory | None = None

    def flags(self) -> list[str]:
        """The option strings of its parser, `--help` aside."""
        if self.parser is None:
            return []
        return [option for action in self.parser()._actions for option in action.option_strings
                if option not in HELP_FLAGS]

    def help_lines(self) -> list[str]:
        """What `/NAME --help` shows: the parser's usage and options, or usage and help."""
        if self.parser is not None:
            return self.parser().format_help().rstrip().splitlines()
        aliases = f" (also {', '.join(self.aliases)})" if self.aliases else ""
        return [f"usage: {self.usage}", f"{self.help}{aliases}"]


class CommandRegistry:
    """Commands by name and alias. Names include the leading slash."""

    def __init__(self, show: Callable[[Any, str], None] | None = None) -> None:
        self._commands: dict[str, Command] = {}
        self._by_word: dict[str, Command] = {}
        self._show = show  # show(context, line) prints one line of `--help` text

    def command(self, name: str, *aliases: str, help: str, usage: str = "",
                parser: Callable[[], argparse.ArgumentParser] | None = None,
                completer: CompleterFactory | None = None,
                ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Decorator registering `handler(context, argument)` under `name` and `aliases`.

        `parser` builds the command's argument parser; `--help` shows its usage, and its flags
        are completed. `completer(context)` builds the completer of its other arguments.
        """

        def register(handler: Callable[..., None]) -> Callable[..., None]:
            command = Command(name, aliases, help, usage or name, handler, parser, completer)
            self._commands[name] = command
            for word in (name, *aliases):
                self._by_word[word] = command
            return handler

        return register

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def lookup(self, word: str) -> Command | None:
        return self._by_word.get(word.lower())

    def words(self) -> list[str]:
        return list(self._by_word)

    def completion_items(self) -> list[tuple[str, str]]:
        """(word, help) for every name and alias, names first."""
        items = [(c.name, c.help) for c in self]
        items += [(alias, f"alias of {c.name}") for c in self for alias in c.aliases]
        return items

    def argument_completers(self, context: Any) -> dict[str, Completer]:
        """The argument completer of each command that has arguments, under its name and every
        alias: its declared completer, with its flags when it has a parser."""
        made: dict[CompleterFactory, Completer] = {}
        completers: dict[str, Completer] = {}
        for command in self:
            parts = []
            if command.completer is not None:
                if command.completer not in made:
                    made[command.completer] = command.completer(context)
                parts.append(made[command.completer])
            flags = command.flags()
            if flags:
                parts.append(FlagCompleter(flags))
            if parts:
                completer = parts[0] if len(parts) == 1 else merge_completers(parts)
                completers.update(dict.fromkeys((command.name, *command.aliases), completer))
        return completers

    def closest(self, word: str) -> str | None:
        matches = difflib.get_close_matches(word.lower(), self.words(), n=1, cutoff=0.5)
        return matches[0] if matches else None

    def dispatch(self, context: object, line: str) -> None:
        """Run the command on `line` (which starts with '/'); UsageError for unknown ones."""
        word, _, argument = line.strip().partition(" ")
        command = self.lookup(word)
        if command is None:
            hint = self.closest(word)
            raise UsageError(f"unknown command {word}" + (f"; did you mean {hint}?" if hint else "")
                             + " (/help lists them)")
        if self._show is not None and _asks_for_help(command, argument):
            for text in command.help_lines():
                self._show(context, text)
            return
        command.handler(context, argument.strip())


def _asks_for_help(command: Command, argument: str) -> bool:
    """`--help` alone, or among the flags of a command that parses flags."""
    words = argument.split()
    return words in (["--help"], ["-h"]) or (
        command.parser is not None and any(w in HELP_FLAGS for w in words))


def split_arguments(argument: str) -> list[str]:
    """Shell-like words of a command argument; UsageError on unbalanced quotes."""
    try:
        return shlex.split(argument)
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments: {exc}") from None


__all__ = ["ChatReplError", "Command", "CommandRegistry", "split_arguments"]
