"""Typed errors. Each carries the one line a user sees and the exit code it maps to."""

from __future__ import annotations

import re
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class ChatReplError(Exception):
    """Base of every error chatrepl reports to a user as one line."""

    exit_code = EXIT_FAILURE

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else self.__class__.__name__
        return " ".join(text.splitlines())  # always one line

    def in_repl(self) -> str:
        """The line as shown inside the REPL: hints name slash commands, not shell commands."""
        return _REPL_HINT.sub(lambda m: f"`/{m.group(1)}", str(self))


# `chatrepl models` in a hint becomes `/models` when the error is shown inside the REPL.
_REPL_HINT = re.compile(r"`chatrepl (models|discover|providers|info)")


class UsageError(ChatReplError):
    """Bad command-line use."""

    exit_code = EXIT_USAGE


class ParameterError(UsageError, ValueError):
    """A request parameter name or value that cannot be used (`/set`, a config, a role)."""


class ConfigError(ChatReplError):
    """A configuration file that cannot be used; the message names file and line."""

    exit_code = EXIT_USAGE


class RoleError(ConfigError):
    """A role file that cannot be used, or an unknown role; the message names the file."""


class UnknownModelError(ChatReplError, KeyError):
    """A model name that matches nothing; carries up to three close suggestions."""

    exit_code = EXIT_USAGE

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown model {name!r}{hint} (see `chatrepl models`)")


class InvalidModelError(UnknownModelError):
    """A model its provider's `invalid_models` lists: it is never used, even by its full name."""

    def __init__(self, name: str, provider: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(name, suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        self.args = (f"model {name!r} is listed under invalid_models of {provider} (not a chat"
                     f" model, or the provider said it does not exist){hint}",)


class AmbiguousModelError(ChatReplError, KeyError):
    """A bare model name offered by more than one provider."""

    exit_code = EXIT_USAGE

    def __init__(self, name: str, candidates: Sequence[str]) -> None:
        self.name = name
        self.candidates = tuple(candidates)
        super().__init__(
            f"model {name!r} is offered by several providers: {', '.join(self.candidates)};"
            " name one as provider/model"
        )


class UnknownProviderError(ChatReplError, KeyError):
    """A provider name that is not configured."""

    exit_code = EXIT_USAGE

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        known_text = f" (configured: {', '.join(known)})" if known else " (none configured)"
        super().__init__(f"unknown provider {name!r}{known_text}")


class ProviderError(ChatReplError):
    """A provider answered with an error or could not be reached."""


class StateError(ChatReplError):
    """A state file (sessions, discovered models) could not be read or written."""


class UnsafeDirectoryError(ChatReplError):
    """A folder for private files (state, history, the local server's log) that other users
    could read or write; the message names it and the command that fixes it."""

    exit_code = EXIT_USAGE


class HistoryError(ChatReplError):
    """The history database cannot be read or written; `transient` when trying again later may
    help (locked by another process, disk full)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class CatalogError(ChatReplError):
    """Catalog data that cannot be used (a corrupt download or cache file)."""


class ModelsReplyError(ChatReplError):
    """A /models answer that is not a model list, or one too big or too slow to read. The
    message says what went wrong, not for which provider; `short_reason` names it in a word
    or two."""

    def __init__(self, message: str, short_reason: str = "failed") -> None:
        super().__init__(message)
        self.short_reason = short_reason


class ChatError(ProviderError):
    """A chat turn failed. `str()` is the one line to show; the conversation is unchanged.

    `model_not_found` is True when the provider said the model does not exist (the caller may
    mark it invalid and suggest close names); `partial` holds reply text that arrived before
    the failure; `status` is the HTTP status when there was one.
    """

    def __init__(self, message: str, *, provider: str = "", model: str = "",
                 status: int | None = None, model_not_found: bool = False,
                 partial: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.model_not_found = model_not_found
        self.partial = partial


class LocalServerError(ChatReplError):
    """The local model or server cannot be used; the message says what to do."""


class AttachmentError(UsageError):
    """A file, command or stdin that cannot go with a message (missing, binary, over a cap, a
    model that cannot take it): one line; nothing is staged or sent."""
