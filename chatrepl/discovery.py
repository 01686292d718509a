"""Model discovery: ask each provider's /models, classify, merge, persist; a background refresher."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from chatrepl.clients import describe_api_error, make_client, redact, short_api_reason
from chatrepl.config import DiscoverySettings, ProviderConfig
from chatrepl.errors import ChatReplError
from chatrepl.manager import ProviderManager
from chatrepl.state import DiscoveredModels, DiscoveredStore, effective_provider

NON_CHAT_PATTERN = re.compile(
    r"(embed|embedding|whisper|transcri|tts|text-to-speech|dall-e|dalle|gpt-image|image-gen"
    r"|stable-diffusion|sdxl|flux|moderation|rerank|guard-?\d|davinci-00|babbage|speech)",
    re.IGNORECASE,
)


def is_chat_model(model_id: str) -> bool:
    """False for ids that are clearly embeddings, audio, image, moderation or rerank models."""
    return NON_CHAT_PATTERN.search(model_id) is None


class DiscoveryState(str, Enum):
    """Where one provider's discovery stands (compares equal to its value, e.g. "ok")."""

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DiscoveryResult:
    """The outcome for one provider: its models (last known on failure) and any error.

    `short_reason` names the failure in a word or two (`401`, `unreachable`, `timeout`,
    `HTML page`, `no key`) for places with no room for `error`.
    """

    provider: str
    ok: bool
    models: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    error: str | None = None
    finished_at: float = 0.0
    from_cache: bool = False
    skipped: bool = False
    short_reason: str = ""

    @property
    def state(self) -> DiscoveryState:
        if self.ok:
            return DiscoveryState.OK
        return DiscoveryState.SKIPPED if self.skipped else DiscoveryState.ERROR

    def as_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "ok": self.ok, "models": list(self.models),
                "invalid": list(self.invalid), "error": self.error}


class ModelsReplyError(ChatReplError):
    """A /models answer that is not a model list; `short_reason` names it in a word or two."""

    def __init__(self, message: str, short_reason: str = "failed") -> None:
        super().__init__(message)
        self.short_reason = short_reason


def parse_models_reply(text: str, content_type: str = "") -> list[str] | None:
    """Model ids from a /models body in any of the shapes servers use.

    None for `{"data": null}`: a server with no models loaded yet, which is not an error.
    """
    stripped = text.lstrip()
    if "html" in content_type.lower() or stripped[:1] == "<":
        raise ModelsReplyError("answered an HTML page instead of a model list "
                               "(a login portal or proxy?); check base_api_url", "HTML page")
    try:
        payload = json.loads(text) if stripped else None
    except ValueError:
        raise ModelsReplyError("answered something that is not JSON; check base_api_url",
                               "not JSON") from None
    if isinstance(payload, dict):
        items = payload.get("data", payload.get("models", ...))
        if items is ...:
            raise ModelsReplyError("answered JSON without a `data` list; is this an "
                                   "OpenAI-compatible endpoint?", "no model list")
    else:
        items = payload
    if items is None:
        return None
    if not isinstance(items, list):
        raise ModelsReplyError("answered a model list of an unexpected shape", "bad model list")
    ids: list[str] = []
    for item in items:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, dict) and isinstance(item.get("id") or item.get("name"), str):
            ids.append(item.get("id") or item["name"])
    return list(dict.fromkeys(ids))


class ModelDiscoveryService:
    """Discovers models per provider with a TTL cache, and keeps the manager and state file current.

    `base_providers` are the providers as configured; discovered models are merged onto them.
    """

    def __init__(self, manager: ProviderManager, env: Mapping[str, str],
                 settings: DiscoverySettings | None = None, store: DiscoveredStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.manager = manager
        self.env = env
        self.settings = settings or DiscoverySettings()
        self.store = store
        self.clock = clock
        self.base_providers: dict[str, ProviderConfig] = dict(manager.providers)
        self._lock = threading.Lock()
        self._known: dict[str, DiscoveredModels] = store.load() if store else {}
        self._apply(self._known.keys())

    # -- state ---------------------------------------------------------------------------
    def _apply(self, names: Iterable[str]) -> None:
        updates = {name: effective_provider(self.base_providers[name], self._known.get(name))
                   for name in names if name in self.base_providers}
        if updates:
            self.manager.replace_providers(updates)

    def _record(self, name: str, found: DiscoveredModels) -> None:
        with self._lock:
            self._known[name] = found
        self._apply([name])
        if self.store is not None:
            # Copy under the same lock as the write, so a later write never holds older data.
            with self._lock:
                self.store.save(dict(self._known))

    def add_providers(self, providers: Mapping[str, ProviderConfig]) -> list[str]:
        """Register providers found after start-up (local servers); returns the new names.

        A provider already known (configured) is left as it is.
        """
        added = [name for name in providers if name not in self.base_providers]
        for name in added:
            self.base_providers[name] = providers[name]
        self.manager.replace_providers({n: effective_provider(providers[n], self._known.get(n))
                                        for n in added})
        return added

    def last_discovered(self, name: str) -> float | None:
        found = self._known.get(name)
        return found.discovered_at if found else None

    def is_fresh(self, name: str) -> bool:
        found = self._known.get(name)
        base = self.base_providers.get(name)
        return (found is not None and base is not None
                and found.base_api_url.rstrip("/") == base.shown_url
                and self.clock() - found.discovered_at < self.settings.ttl_seconds)

    def stale_providers(self) -> list[str]:
        """Providers whose discovered models are older than the TTL."""
        return [name for name in self.base_providers if not self.is_fresh(name)]

    # -- discovery -----------------------------------------------------------------------
    def _provider(self, provider: str | ProviderConfig) -> ProviderConfig:
        if isinstance(provider, ProviderConfig):
            self.base_providers.setdefault(provider.id, provider)
            return self.base_providers[provider.id]
        return self.base_providers.get(provider) or self.manager.provider_named(provider)

    def _result_from_known(self, name: str, **kwargs: Any) -> DiscoveryResult:
        found = self._known.get(name)
        models = self.manager.providers[name].valid_models if name in self.manager else {}
        return DiscoveryResult(provider=name, models=tuple(models),
                               invalid=found.invalid_models if found else (), **kwargs)

    def discover_models(self, provider: str | ProviderConfig,
                        force_refresh: bool = False) -> DiscoveryResult:
        """List one provider's models; on failure the last known list plus the error."""
        config = self._provider(provider)
        name = config.id
        if not force_refresh and self.is_fresh(name):
            return self._result_from_known(name, ok=True, from_cache=True,
                                           finished_at=self._known[name].discovered_at)
        if config.resolve_api_key(self.env) is None:
            return self._result_from_known(name, ok=False, skipped=True,
                                           error=config.missing_key_reason(),
                                           short_reason="no key", finished_at=self.clock())
        try:
            ids = self._fetch_ids(config)
        except ChatReplError as exc:
            return self._result_from_known(name, ok=False, error=str(exc),
                                           short_reason=getattr(exc, "short_reason", "failed"),
                                           finished_at=self.clock())
        previous = self._known.get(name)
        if ids is None:
            if previous is not None and previous.chat_models:
                # No models loaded right now: keep what the server offered last time.
                return self._result_from_known(name, ok=True, finished_at=self.clock())
            ids = []
        chat = tuple(i for i in ids if is_chat_model(i))
        invalid = tuple(i for i in ids if not is_chat_model(i))
        if previous is not None and previous.base_api_url.rstrip("/") == config.shown_url:
            # Models found invalid by validation stay invalid while the provider lists them.
            invalid = tuple(dict.fromkeys([*invalid, *(i for i in previous.invalid_models
                                                       if i in ids)]))
            chat = tuple(i for i in chat if i not in invalid)
        found = DiscoveredModels(config.shown_url, chat, invalid, self.clock(),
                                 config.display_name)
        self._record(name, found)
        return self._result_from_known(name, ok=True, finished_at=found.discovered_at)

    def _fetch_ids(self, config: ProviderConfig) -> list[str] | None:
        import openai

        client = make_client(config, self.env, timeout=self.settings.timeout_seconds,
                             max_retries=1)
        try:
            raw = client.models.with_raw_response.list()
            return parse_models_reply(raw.text, raw.headers.get("content-type", ""))
        except ModelsReplyError as exc:
            raise ModelsReplyError(f"{config.id}: /models {exc}", exc.short_reason) from None
        except openai.NotFoundError:
            hint = ("; does the base URL need /v1?"
                    if not config.base_api_url.rstrip("/").endswith("/v1") else "")
            raise ModelsReplyError(
                f"{config.id}: no model list at {config.shown_url}/models (404){hint}", "404"
            ) from None
        except openai.OpenAIError as exc:
            raise ModelsReplyError(describe_api_error(exc, config, self.env),
                                   short_api_reason(exc)) from None
        except Exception as exc:  # the SDK may raise transport errors of its own
            text = redact(f"{config.id}: {type(exc).__name__}: {exc}",
                          [config.resolve_api_key(self.env)])
            raise ModelsReplyError(text, "connection error") from None
        finally:
            client.close()

    def models_to_validate(self, provider: str | ProviderConfig) -> list[str]:
        """The models validation would try (one chat request each): those discovered, not
        those the user listed."""
        config = self._provider(provider)
        listed = set(config.valid_models)
        current = self.manager.providers.get(config.id)
        return [m for m in (current.valid_models if current else {}) if m not in listed]

    def validate_models(self, provider: str | ProviderConfig,
                        ids: Iterable[str] | None = None) -> dict[str, str]:
        """Try each model with a one-token chat, `concurrency` at a time.

        Returns id -> `valid`, `invalid` (404/400 naming the model) or `unknown`; invalid ids
        are recorded.
        """
        config = self._provider(provider)
        ids = self.models_to_validate(config) if ids is None else list(ids)
        if not ids or config.resolve_api_key(self.env) is None:
            return dict.fromkeys(ids, "unknown")
        from concurrent.futures import ThreadPoolExecutor

        client = make_client(config, self.env, timeout=self.settings.timeout_seconds,
                             max_retries=0)
        try:
            with ThreadPoolExecutor(self.settings.concurrency,
                                    thread_name_prefix=f"validate-{config.id}") as pool:
                verdicts = dict(zip(ids, pool.map(lambda m: _probe(client, m), ids), strict=True))
        finally:
            client.close()
        rejected = tuple(m for m, verdict in verdicts.items() if verdict == "invalid")
        found = self._known.get(config.id)
        if rejected and found is not None:
            merged = DiscoveredModels(
                found.base_api_url, tuple(m for m in found.chat_models if m not in rejected),
                tuple(dict.fromkeys([*found.invalid_models, *rejected])),
                found.discovered_at, found.name)
            self._record(config.id, merged)
        return verdicts

    def discover_all(self, names: Iterable[str] | None = None, *, force_refresh: bool = False,
                     validate: bool = False,
                     on_result: Callable[[DiscoveryResult], None] | None = None,
                     ) -> list[DiscoveryResult]:
        """Discover the named providers (default: all) at once; results in the order asked."""
        chosen = [self._provider(n).id for n in names] if names else list(self.base_providers)
        if not chosen:
            return []

        def one(name: str) -> DiscoveryResult:
            result = self.discover_models(name, force_refresh=force_refresh)
            if validate and result.ok:
                self.validate_models(name)
                result = self._result_from_known(name, ok=True, finished_at=self.clock())
            if on_result is not None:
                on_result(result)
            return result

        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(chosen), 32)
        with ThreadPoolExecutor(workers, thread_name_prefix="discover") as pool:
            return list(pool.map(one, chosen))


def _probe(client: Any, model: str) -> str:
    import openai

    try:
        client.chat.completions.create(model=model, max_tokens=1,
                                       messages=[{"role": "user", "content": "hi"}])
        return "valid"
    except (openai.NotFoundError, openai.BadRequestError) as exc:
        # Only an error that names the model says the model is wrong (not the route or the key).
        return "invalid" if model.lower() in str(exc).lower() else "unknown"
    except Exception:  # auth, network and server errors leave the model as it was
        return "unknown"


@dataclass
class ProviderStatus:
    """What the refresher knows about one provider."""

    state: DiscoveryState = DiscoveryState.PENDING
    models: int = 0
    error: str | None = None
    finished_at: float | None = None
    short_reason: str = ""  # `401`, `unreachable`, … when state is ERROR or SKIPPED


@dataclass
class _Request:
    providers: tuple[str, ...] | None
    validate: bool
    force: bool


@dataclass
class DiscoveryRefresher:
    """Runs discovery on one named daemon thread; a refresh asked for meanwhile runs next.

    `synchronous=True` runs the same code inline (tests, one-shot CLI).
    """

    service: ModelDiscoveryService
    synchronous: bool = False
    callbacks: list[Callable[[list[DiscoveryResult]], None]] = field(default_factory=list)
    on_progress: Callable[[], None] | None = None
    status: dict[str, ProviderStatus] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: _Request | None = None
    _running: bool = False
    _thread: threading.Thread | None = None
    _idle: threading.Event = field(default_factory=threading.Event)
    last_results: list[DiscoveryResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._idle.set()

    def add_callback(self, callback: Callable[[list[DiscoveryResult]], None]) -> None:
        self.callbacks.append(callback)

    def refresh(self, providers: Iterable[str] | None = None, validate: bool = False,
                force: bool = True) -> None:
        """Start (or queue a restart of) discovery; returns at once unless synchronous."""
        request = _Request(tuple(providers) if providers else None, validate, force)
        with self._lock:
            self._pending = request
            self._idle.clear()
            if self._running:  # the running loop picks the request up when its round ends
                return
            self._running = True
            if not self.synchronous:
                self._thread = threading.Thread(target=self._run, name="chatrepl-discovery",
                                                daemon=True)
                self._thread.start()
                return
        self._run()

    def is_refreshing(self) -> bool:
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no refresh runs; True if it finished within `timeout`."""
        return self._idle.wait(timeout)

    def progress(self) -> tuple[int, int]:
        """(finished, total) providers of the current or last round."""
        states = list(self.status.values())
        busy = (DiscoveryState.PENDING, DiscoveryState.RUNNING)
        return sum(s.state not in busy for s in states), len(states)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            # A bug in discovery or a callback must not leave is_refreshing() true forever.
            with self._lock:
                self._running = False
                self._pending = None
                self._idle.set()
            raise

    def _loop(self) -> None:
        while True:
            with self._lock:
                request, self._pending = self._pending, None
                if request is None:
                    self._running = False
                    self._idle.set()
            if request is None:
                self._notify_progress()  # the last redraw shows the round's outcome
                return
            names = list(request.providers or self.service.base_providers)
            self.status = {**self.status,
                           **{n: ProviderStatus(DiscoveryState.RUNNING) for n in names}}
            self._notify_progress()
            try:
                results = self.service.discover_all(
                    request.providers, force_refresh=request.force, validate=request.validate,
                    on_result=self._on_result)
            except ChatReplError as exc:
                results = [DiscoveryResult(provider=n, ok=False, error=str(exc),
                                           short_reason="failed") for n in names]
                for result in results:
                    self._on_result(result)
            self.last_results = results
            with self._lock:
                restarting = self._pending is not None
            if not restarting:
                for callback in list(self.callbacks):
                    callback(results)

    def _on_result(self, result: DiscoveryResult) -> None:
        self.status = {**self.status, result.provider: ProviderStatus(
            result.state, len(result.models), result.error, result.finished_at,
            result.short_reason)}
        self._notify_progress()

    def _notify_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress()
