"""Configuration: pydantic models and loading of the YAML providers file. No network, no printing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatrepl.errors import ConfigError
from chatrepl.parameters import ModelParameters
from chatrepl.presetdata import inherit_presets
from chatrepl.yamlsource import YamlDocument, load_yaml_document, suggest

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"})
LOCAL_PLACEHOLDER_KEY = "not-needed"
_VAR_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PROVIDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DiscoverySettings(_Strict):
    """How and when providers are asked for their models."""

    on_startup: bool = True
    ttl_seconds: float = Field(300.0, ge=0)
    timeout_seconds: float = Field(10.0, gt=0)
    concurrency: int = Field(8, ge=1, le=64)


class ChatSettings(_Strict):
    """Request limits for chat completions."""

    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    # The most a whole reply may take; by default 20 read timeouts (limits.reply_deadline).
    reply_deadline_seconds: float | None = Field(None, gt=0)


class CatalogSettings(_Strict):
    """Where model metadata comes from beyond the bundled models.dev data."""

    refresh: bool = False
    url: str = "https://models.dev/api.json"
    ttl_seconds: float = Field(86400.0, ge=0)


class BudgetSettings(_Strict):
    """Spending guards in USD (both optional): ask before a message estimated to cost more
    than `confirm_over_usd`; refuse to send once the session has spent `session_usd`."""

    confirm_over_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    session_usd: float | None = Field(None, ge=0, allow_inf_nan=False)


def expand_vars(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace `${VAR}` with its value; return the text and the names that were not set."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            missing.append(name)
            return ""
        return env[name]

    return _VAR_PATTERN.sub(replace, text), missing


def default_key_variable(provider_id: str) -> str:
    """`deepseek` -> `DEEPSEEK_API_KEY`."""
    return re.sub(r"[^A-Za-z0-9]", "_", provider_id).upper() + "_API_KEY"


def is_local_url(url: str) -> bool:
    """True when the URL points at this machine (such servers need no key)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


class ProviderConfig(_Strict):
    """One OpenAI-compatible provider. Pure data: resolving its key reads a given environment."""

    id: str = Field("", exclude=True)
    name: str = ""
    base_api_url: str = Field(alias="base_url")
    api_key: str | None = None
    api_key_env: str | None = None
    valid_models: dict[str, str] = Field(default_factory=dict)
    invalid_models: list[str] = Field(default_factory=list)
    catalog_id: str | None = None
    # Found by probing a local port, not configured by the user: it is never given a key.
    probed: bool = Field(False, exclude=True)
    # The base URL as the config file wrote it (with its `${VAR}`), for printing and the state file.
    url_as_written: str | None = Field(None, exclude=True)

    @field_validator("base_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) URL; write it with its scheme,"
                " e.g. https://api.openai.com/v1"
            )
        if not parts.hostname or any(c.isspace() for c in parts.netloc):
            raise ValueError(f"{value!r} is not a valid URL: the host name is empty or has spaces")
        try:
            parts.port  # noqa: B018  (urlsplit checks the port when it is read)
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port (1-65535)") from None
        return value.rstrip("/")

    @field_validator("valid_models", mode="before")
    @classmethod
    def _models_as_map(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ValueError("a list of model ids must hold only strings")
            return {item: item for item in value}
        if isinstance(value, dict):
            return {long: (long if short is None else short) for long, short in value.items()}
        raise ValueError(
            f"must be a map of model id to short name, or a list of model ids, not {type(value).__name__}"
        )

    @field_validator("invalid_models", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def is_local(self) -> bool:
        return is_local_url(self.base_api_url)

    @property
    def shown_url(self) -> str:
        """The base URL to print or store: as written, so an expanded `${VAR}` stays hidden."""
        return self.url_as_written or self.base_api_url

    @property
    def key_configured(self) -> bool:
        """True when the config names a key (`api_key` or `api_key_env`)."""
        return bool((self.api_key or "").strip() or (self.api_key_env or "").strip())

    def key_variables(self) -> tuple[str, ...]:
        """Environment variables that may hold this provider's key, in the order tried.

        Those named in `api_key: ${VAR}`, then `api_key_env`, then `<ID>_API_KEY`; none for a
        probed server, which never reads a key.
        """
        if self.probed:
            return ()
        names = [match.group(1) for match in _VAR_PATTERN.finditer(self.api_key or "")]
        if self.api_key_env:
            names.append(self.api_key_env)
        names.append(default_key_variable(self.id or self.name))
        return tuple(dict.fromkeys(names))

    def key_source(self, env: Mapping[str, str]) -> tuple[str | None, str | None]:
        """(key to send, where it came from): a variable name, `api_key` for an inline key.

        A probed server gets the placeholder; so does a local URL with no key configured.
        (None, None) means the key is missing.
        """
        if self.probed:
            return LOCAL_PLACEHOLDER_KEY, None
        if self.api_key:
            expanded, _missing = expand_vars(self.api_key, env)
            if expanded.strip():
                named = _VAR_PATTERN.findall(self.api_key)
                return expanded.strip(), named[0] if named else "api_key"
        for variable in self.key_variables():
            if env.get(variable, "").strip():
                return env[variable].strip(), variable
        if self.is_local and not self.key_configured:
            return LOCAL_PLACEHOLDER_KEY, None
        return None, None

    def resolve_api_key(self, env: Mapping[str, str]) -> str | None:
        """The key to send: inline (with `${VAR}` expanded), then the key variables.

        A probed server, or a provider on localhost with no key configured, gets a placeholder;
        otherwise None means missing.
        """
        return self.key_source(env)[0]

    def key_status(self, env: Mapping[str, str]) -> str:
        """`set`, `missing` or `not needed`; never the key itself (providertable.key_text names
        the variables of a missing key)."""
        key = self.resolve_api_key(env)
        if key is None:
            return "missing"
        return "not needed" if key == LOCAL_PLACEHOLDER_KEY else "set"

    def missing_key_reason(self) -> str:
        """What to do when no key is found."""
        return f"no API key: set {' or '.join(self.key_variables())}, or api_key in the config"

    def key_advice(self, env: Mapping[str, str]) -> str:
        """What to check when the provider refuses the key it was sent (a 401)."""
        source = self.key_source(env)[1]
        if source == "api_key":
            return f"check the api_key of provider {self.id} in the config file"
        if source is not None:
            return f"check {source}"
        if self.probed:
            return f"it wants a key: add {self.id} with its key to the config file"
        return f"it wants a key: set {' or '.join(self.key_variables())}, or api_key in the config"

    def usable_models(self) -> Mapping[str, str]:
        """Long name -> short name for every model known to work, read-only.

        An id listed as invalid too (a hand-edited or older file) is left out: invalid wins.
        """
        if not self.invalid_models:
            return MappingProxyType(self.valid_models)
        dropped = set(self.invalid_models)
        return MappingProxyType({long: short for long, short in self.valid_models.items()
                                 if long not in dropped})

    def exact_model(self, name: str) -> str | None:
        """The long name for an exact long or short name (case-insensitive as a fallback).

        Ids marked invalid never match.
        """
        models = self.usable_models()
        if name in models:
            return name
        for long, short in models.items():
            if short == name:
                return long
        folded = name.lower()
        for long, short in models.items():
            if folded in (long.lower(), short.lower()):
                return long
        return None

    def is_invalid(self, model: str) -> bool:
        """True when `model` is listed as invalid (exact id, or case-insensitively)."""
        if model in self.invalid_models:
            return True
        folded = model.lower()
        return any(folded == item.lower() for item in self.invalid_models)

    def merge_valid_models(self, ids: Iterable[str]) -> ProviderConfig:
        """A copy that also lists `ids`; new ids get their long name as short name."""
        merged = dict(self.valid_models)
        for model_id in ids:
            merged.setdefault(model_id, model_id)
        return self.model_copy(update={"valid_models": merged})


class Config(_Strict):
    """The whole configuration file."""

    default_model: str | None = None
    system_prompt: str | None = None
    history: bool = True  # keep every conversation in the history database
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    # Request parameters per model: `models: {openai/gpt-4o: {temperature: 0.2}}`.
    models: dict[str, ModelParameters] = Field(default_factory=dict)
    source: Path | None = Field(None, exclude=True)

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_with_ids(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        # Names are checked by load_config (_check_provider_names), which knows their lines.
        return {key: {**entry, "id": key} if isinstance(entry, dict) else entry
                for key, entry in value.items()}

    @field_validator("models", mode="before")
    @classmethod
    def _none_is_no_models(cls, value: Any) -> Any:
        return {} if value is None else value


# Fields a user may write at each place in the file, for "did you mean" hints.
_FIELDS_AT: dict[str, type[BaseModel]] = {
    "": Config,
    "discovery": DiscoverySettings,
    "chat": ChatSettings,
    "catalog": CatalogSettings,
    "budget": BudgetSettings,
    "providers.*": ProviderConfig,
    "models.*": ModelParameters,
}
_EXPANDED_FIELDS = ("base_api_url", "base_url", "name", "api_key_env", "catalog_id")
_EXPANDED_TOP = ("default_model", "system_prompt")


def dotted_path(loc: tuple[Any, ...]) -> str:
    """`providers.openai.base_api_url`; a part that is not a plain word is quoted (one line)."""
    return ".".join(str(p) if str(p).isprintable() and " " not in str(p) and str(p)
                    else repr(str(p)) for p in loc)


def _known_fields(parent: tuple[Any, ...],
                  fields_at: Mapping[str, type[BaseModel]] | None = None) -> list[str]:
    key = ".".join("*" if i == 1 and parent[0] in ("providers", "models") else str(p)
                   for i, p in enumerate(parent))
    model = (_FIELDS_AT if fields_at is None else fields_at).get(key)
    if model is None:
        return []
    names: list[str] = []
    for field_name, info in model.model_fields.items():
        if field_name in ("id", "source", "probed", "url_as_written"):
            continue
        names.append(field_name)
        if isinstance(info.alias, str):
            names.append(info.alias)
    return names


# Field name -> the other spelling a user may write for it (pydantic reports the alias).
_ALIASES = {"base_api_url": "base_url", "base_url": "base_api_url"}


def _error_rank(error: Any) -> int:
    """Report a typo before the `is required` it causes (base_urll -> base_url missing)."""
    return {"extra_forbidden": 0, "missing": 2}.get(error["type"], 1)


def _error_loc(error: Any) -> tuple[Any, ...]:
    """The location to name: a missing `base_url` is reported as `base_api_url`."""
    loc = tuple(error["loc"])
    if error["type"] == "missing" and loc and loc[-1] == "base_url":
        return (*loc[:-1], "base_api_url")
    return loc


def _describe_error(error: Any, fields_at: Mapping[str, type[BaseModel]] | None = None) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        other = _ALIASES.get(str(loc[-1]))
        if other is not None:
            return f"given twice, as {loc[-1]} and as {other}; keep one"
        hint = suggest(str(loc[-1]), _known_fields(loc[:-1], fields_at))
        return "unknown key" + (f"; did you mean {hint!r}?" if hint else "")
    if error["type"] == "missing":
        spelled = str(loc[-1]) if loc else ""
        return "is required" + (f" (written as {spelled} or {_ALIASES[spelled]})"
                                if spelled in _ALIASES else "")
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def validation_line(document: YamlDocument, exc: ValidationError,
                    fields_at: Mapping[str, type[BaseModel]] | None = None) -> str:
    """`file:line: dotted.path: what is wrong` for the first error worth naming; `fields_at`
    (default: the config file's) names the keys allowed at each place, for "did you mean"."""
    first = min(exc.errors(), key=_error_rank)
    loc = _error_loc(first)
    dotted = dotted_path(loc) or "(top level)"
    return f"{document.where(loc)}: {dotted}: {_describe_error(first, fields_at)}"


def _expand_strings(document: YamlDocument, env: Mapping[str, str]) -> dict[str, str]:
    """Expand `${VAR}` in the fields that allow it; an unset variable is an error.

    Returns the base URLs that held a variable, as written, by provider name.
    """
    data = document.data
    written: dict[str, str] = {}

    def expand(path: tuple[Any, ...], container: dict[str, Any], key: str) -> None:
        value = container.get(key)
        if isinstance(value, str):
            expanded, missing = expand_vars(value, env)
            if missing:
                raise ConfigError(
                    f"{document.where(path)}: {dotted_path(path)}: environment variable"
                    f" {missing[0]} is not set; export it or write the value in the file"
                )
            container[key] = expanded

    for key in _EXPANDED_TOP:
        expand((key,), data, key)
    providers = data.get("providers")
    if isinstance(providers, dict):
        for pid, entry in providers.items():
            if isinstance(entry, dict):
                for key in ("base_url", "base_api_url"):
                    if isinstance(entry.get(key), str) and _VAR_PATTERN.search(entry[key]):
                        written[pid] = entry[key].strip().rstrip("/")
                for key in _EXPANDED_FIELDS:
                    expand(("providers", pid, key), entry, key)
    return written


def _check_provider_names(document: YamlDocument) -> None:
    """Provider names become the `provider/` of scoped model names: no slashes or spaces."""
    providers = document.data.get("providers")
    if not isinstance(providers, dict):
        return
    for key in providers:
        if not isinstance(key, str) or not _PROVIDER_ID_PATTERN.match(key):
            raise ConfigError(
                f"{document.where(('providers', key))}: providers: provider name {key!r} must be"
                " letters, digits, '.', '_' or '-' (no '/')"
            )


def _check_model_names(document: YamlDocument) -> None:
    """Keys of `models:` name one model of one provider: `provider/model`."""
    models = document.data.get("models")
    if not isinstance(models, dict):
        return
    for key in models:
        provider, slash, model = key.partition("/") if isinstance(key, str) else ("", "", "")
        if not slash or not _PROVIDER_ID_PATTERN.match(provider) or not model.strip():
            raise ConfigError(
                f"{document.where(('models', key))}: models: {key!r} must be written"
                " provider/model (e.g. openai/gpt-4o)"
            )


def load_config(path: Path | str | None, env: Mapping[str, str] | None = None,
                *, must_exist: bool = False) -> Config:
    """Read and validate a config file; raise ConfigError naming file and line on any problem.

    A missing file gives an empty config unless `must_exist`. The file is only read.
    """
    if path is None:
        return Config()
    path = Path(path)
    env = {} if env is None else env
    if not path.exists() and not path.is_symlink() and not must_exist:
        return Config(source=path)
    document = load_yaml_document(path)
    if document.data is None:
        raise ConfigError(
            f"{path}: the file is empty; add a `providers:` map (see config.example.yaml)"
        )
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        raise ConfigError(
            f"{document.where(())}: the top level is a {kind}, expected a map with `providers:`"
        )
    _check_provider_names(document)
    _check_model_names(document)
    if isinstance(document.data.get("providers"), dict):
        inherit_presets(document.data["providers"], env)
    written_urls = _expand_strings(document, env)
    try:
        config = Config.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(validation_line(document, exc)) from None
    # Fields the program sets, whatever the file says: configured providers are not probed.
    providers = {pid: provider.model_copy(update={"probed": False,
                                                  "url_as_written": written_urls.get(pid)})
                 for pid, provider in config.providers.items()}
    return config.model_copy(update={"source": path, "providers": providers})
