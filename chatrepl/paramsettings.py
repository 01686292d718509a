"""The request parameters in force for a model, and where each came from.

Four layers, later ones winning: the model's defaults in the config (`models:`), the defaults
saved with `/set --save` (a file in the state directory; the config file is never written),
the current role's, and this session's `/set`. What a model does not accept (per the catalog)
is not sent, and that is said once per model and parameter (`notes_for`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from chatrepl.errors import StateError
from chatrepl.fsutil import locked, read_at_most, write_atomic
from chatrepl.parameters import (
    NAMES,
    ModelParameters,
    RequestParameters,
    request_parameters,
)

if TYPE_CHECKING:
    from chatrepl.modelinfo import ModelInfo

InfoFor = Callable[[str, str], "ModelInfo | None"]
SAVED_FORMAT = "chatrepl-parameters"
MAX_SAVED_BYTES = 4 * 1024 * 1024


class InForce(NamedTuple):
    """One parameter in force: its value and where it came from (`config`, `saved`,
    `role NAME`, `this session`)."""

    value: Any
    source: str


class SavedParameters:
    """`/set --save` defaults per `provider/model`, in one JSON file written atomically.

    A file that cannot be read is reported (StateError) and never overwritten by a save.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        """Saved values by scoped model name; {} when there is no file."""
        try:
            raw = read_at_most(self.path, MAX_SAVED_BYTES)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw) if len(raw) <= MAX_SAVED_BYTES else None
        except (ValueError, RecursionError):
            data = None
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("format") != SAVED_FORMAT \
                or not isinstance(models, dict):
            raise StateError(f"{self.path}: not a saved-parameters file; move it away to start"
                             " again")
        found: dict[str, dict[str, Any]] = {}
        for scoped, values in models.items():
            try:
                found[str(scoped)] = ModelParameters.model_validate(values).values()
            except ValidationError:
                continue  # one bad entry (an edited file) does not lose the others
        return found

    def update(self, scoped: str, name: str, value: Any | None) -> None:
        """Save `value` for `name` of `scoped` (None removes it)."""
        with locked(self.path):
            everything = self.load()
            values = dict(everything.get(scoped, {}))
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
            if values:
                everything[scoped] = values
            else:
                everything.pop(scoped, None)
            write_atomic(self.path, json.dumps({"format": SAVED_FORMAT, "version": 1,
                                                "models": everything}, indent=2) + "\n")


class ParameterSettings:
    """The layers of parameters and what has been said about them; safe to read from the turn's
    thread while the prompt's thread changes them (changes replace whole dicts)."""

    def __init__(self, configured: Mapping[str, ModelParameters], saved: SavedParameters,
                 info_for: InfoFor) -> None:
        self.configured = {scoped: params.values() for scoped, params in configured.items()}
        self.saved = saved
        self.info_for = info_for
        self.session: dict[str, Any] = {}  # None: unset for this session
        self.role: dict[str, Any] = {}
        self.role_name: str | None = None
        self._saved_cache: dict[str, dict[str, Any]] | None = None
        self._told: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # -- layers -------------------------------------------------------------------------------
    def saved_values(self) -> dict[str, dict[str, Any]]:
        """The saved defaults (read once; an unreadable file reads as none)."""
        if self._saved_cache is None:
            try:
                self._saved_cache = self.saved.load()
            except StateError:
                self._saved_cache = {}
        return self._saved_cache

    def in_force(self, provider: str, model: str) -> dict[str, InForce]:
        """Every parameter in force for `provider/model`, in the order of NAMES."""
        scoped = f"{provider}/{model}"
        layers = [(self.configured.get(scoped, {}), "config"),
                  (self.saved_values().get(scoped, {}), "saved"),
                  (self.role, f"role {self.role_name}"),
                  (self.session, "this session")]
        found: dict[str, InForce] = {}
        for values, source in layers:
            for name, value in values.items():
                if value is None:  # /unset: not sent, whatever an earlier layer says
                    found.pop(name, None)
                else:
                    found[name] = InForce(value, source)
        return {name: found[name] for name in NAMES if name in found}

    def set(self, name: str, value: Any) -> None:
        self.session = {**self.session, name: value}

    def unset(self, name: str) -> None:
        """Send no `name` for the rest of the session, whichever layer set it."""
        self.session = {**self.session, name: None}

    def save(self, provider: str, model: str, name: str, value: Any | None) -> None:
        """Store (None: remove) the saved default of `name` for `provider/model`."""
        self.saved.update(f"{provider}/{model}", name, value)
        self._saved_cache = None

    def use_role(self, name: str | None, values: Mapping[str, Any]) -> None:
        """The role's parameters replace the previous role's and this session's."""
        self.role_name, self.role, self.session = name, dict(values), {}

    # -- requests -----------------------------------------------------------------------------
    def for_request(self, provider: str, model: str) -> RequestParameters:
        """What a request to `provider/model` is sent (nothing, and no catalog lookup, when no
        parameter is in force)."""
        values = {name: item.value for name, item in self.in_force(provider, model).items()}
        if not values:
            return request_parameters({}, None)
        return request_parameters(values, self.info_for(provider, model), f"{provider}/{model}")

    def notes_for(self, provider: str, model: str) -> list[str]:
        """Lines about parameters left out or lowered for `provider/model`, each said once."""
        notes = self.for_request(provider, model).notes
        fresh: list[str] = []
        with self._lock:
            for name, line in notes:
                key = (f"{provider}/{model}", name)
                if key not in self._told:
                    self._told.add(key)
                    fresh.append(line)
        return fresh
