"""Request parameters (temperature, max_tokens, ...): what each one takes, which models accept
it according to the catalog, and the keyword arguments a request is sent with. Pure: no I/O.

A model's catalog entry decides what is sent: `temperature: false` (many reasoning models)
means no sampling parameters (temperature, top_p and the penalties, which such models refuse
too); `reasoning: false` means no reasoning_effort. A model the catalog does not know is sent
what the user set. `max_tokens` over the model's output limit is sent as that limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from chatrepl.errors import ParameterError

if TYPE_CHECKING:
    from chatrepl.modelinfo import ModelInfo

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SEED_RANGE = (-(2**63), 2**63 - 1)
MAX_TOKENS_CAP = 100_000_000  # beyond any model's output; refuses typos such as 1e12


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One parameter: its kind (`float`, `int` or `choice`), its range or choices, its help."""

    name: str
    kind: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    # The catalog fact that must not be False for the model to accept it.
    needs: str | None = None

    def describe(self) -> str:
        """What a valid value is, e.g. `a number from 0 to 2`."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "int":
            if self.name == "seed":
                return "a whole number"
            return f"a whole number from 1 to {self.high:,.0f}"
        return f"a number from {self.low:g} to {self.high:g}"


SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in (
    ParameterSpec("temperature", "float", "randomness of the reply", 0, 2, needs="temperature"),
    ParameterSpec("top_p", "float", "nucleus sampling: share of probability mass kept", 0, 1,
                  needs="temperature"),
    ParameterSpec("max_tokens", "int", "the most tokens the reply may have", 1, MAX_TOKENS_CAP),
    ParameterSpec("seed", "int", "ask for repeatable sampling", *SEED_RANGE),
    ParameterSpec("presence_penalty", "float", "discourage tokens already present", -2, 2,
                  needs="temperature"),
    ParameterSpec("frequency_penalty", "float", "discourage frequent tokens", -2, 2,
                  needs="temperature"),
    ParameterSpec("reasoning_effort", "choice", "how hard a reasoning model thinks",
                  choices=REASONING_EFFORTS, needs="reasoning"),
)}
NAMES: tuple[str, ...] = tuple(SPECS)


def spec_of(name: str) -> ParameterSpec:
    """The spec of `name`; ParameterError naming the known ones otherwise."""
    spec = SPECS.get(name.strip().lower().replace("-", "_"))
    if spec is None:
        raise ParameterError(f"unknown parameter {name!r}; known: {', '.join(NAMES)}")
    return spec


def check_value(name: str, value: Any) -> Any:
    """`value` as `name` takes it (an int for max_tokens, a float for temperature...);
    ParameterError saying what a valid value is."""
    spec = spec_of(name)
    wrong = ParameterError(f"{spec.name} must be {spec.describe()}, not {value!r}")
    if spec.kind == "choice":
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text not in spec.choices:
            raise wrong
        return text
    if isinstance(value, bool):
        raise wrong
    if spec.kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise wrong
    elif isinstance(value, (int, float)):
        value = float(value)
        if not math.isfinite(value):
            raise wrong
    else:
        raise wrong
    assert spec.low is not None and spec.high is not None
    if not spec.low <= value <= spec.high:
        raise wrong
    return value


def parse_value(name: str, text: str) -> Any:
    """A value typed after `/set NAME` (or given as `--set NAME=VALUE`), checked."""
    spec = spec_of(name)
    text = text.strip()
    if spec.kind == "choice":
        return check_value(spec.name, text)
    try:
        number: Any = int(text) if spec.kind == "int" else float(text)
    except ValueError:
        raise ParameterError(f"{spec.name} must be {spec.describe()}, not {text!r}") from None
    return check_value(spec.name, number)


class ModelParameters(BaseModel):
    """Parameters as a config file or a role writes them (`temperature: 0.2`); unset is None."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _checked(cls, value: Any, info: Any) -> Any:
        if value is None:
            return None
        try:
            return check_value(info.field_name, value)
        except ParameterError as exc:
            raise ValueError(str(exc).removeprefix(f"{info.field_name} ")) from None

    def values(self) -> dict[str, Any]:
        """The parameters that are set, by name, in the order of NAMES."""
        return {name: getattr(self, name) for name in NAMES if getattr(self, name) is not None}


def refusal(name: str, info: ModelInfo | None) -> str | None:
    """Why the model of `info` does not take `name` according to the catalog, or None when it
    does (or the catalog does not know)."""
    spec = spec_of(name)
    if info is None or spec.needs is None:
        return None
    if spec.needs == "temperature" and info.temperature is False:
        return "takes no temperature or other sampling parameter"
    if spec.needs == "reasoning" and not info.reasoning and info.from_catalog:
        return "is not a reasoning model"
    return None


def accepted_names(info: ModelInfo | None) -> list[str]:
    """The parameters the model of `info` takes according to the catalog."""
    return [name for name in NAMES if refusal(name, info) is None]


@dataclass(frozen=True, slots=True)
class RequestParameters:
    """What one request is sent: `kwargs` for the SDK's create(), `values` (by our names) to
    record on the reply, and `notes` saying what was left out or lowered, and why."""

    kwargs: Mapping[str, Any]
    values: Mapping[str, Any]
    notes: tuple[tuple[str, str], ...] = ()  # (parameter, one line)


NO_PARAMETERS = RequestParameters({}, {})


def _max_tokens_field(info: ModelInfo | None) -> str:
    """OpenAI's own API takes `max_completion_tokens` (its reasoning models refuse
    `max_tokens`); every other OpenAI-compatible server takes `max_tokens`."""
    return "max_completion_tokens" if info is not None and info.catalog_provider == "openai" \
        else "max_tokens"


def request_parameters(values: Mapping[str, Any], info: ModelInfo | None,
                       scoped: str = "the model") -> RequestParameters:
    """The keyword arguments for `values` sent to the model of `info` (`scoped` names it)."""
    if not values:
        return NO_PARAMETERS
    kwargs: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    notes: list[tuple[str, str]] = []
    for name, value in values.items():
        why = refusal(name, info)
        if why is not None:
            notes.append((name, f"{scoped} {why} (per the catalog): {name} is not sent to it"))
            continue
        if name == "max_tokens" and info is not None and info.max_output \
                and value > info.max_output:
            notes.append((name, f"max_tokens {value} is over {scoped}'s output limit"
                                f" ({info.max_output}): {info.max_output} is sent"))
            value = info.max_output
        kwargs[_max_tokens_field(info) if name == "max_tokens" else name] = value
        sent[name] = value
    return RequestParameters(kwargs, sent, tuple(notes))
