"""Model discovery: ask each provider's /models, classify, merge, persist; a background refresher."""

from __future__ import annotations

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
from chatrepl.modelsreply import (  # noqa: F401  (is_chat_model re-exported)
    ListedFacts,
    ModelsReply,
    ModelsReplyError,
    cap_models_response,
    is_chat_model,
    parse_models_reply,
    read_models_body,
)
from chatrepl.discoveredstore import DiscoveredModels, DiscoveredStore, effective_provider
from chatrepl.wording import plural

# How much longer than `timeout_seconds` a discovery round waits for one provider before it
# reports it "timed out" and goes on without it.
ROUND_GRACE_SECONDS = 2.0

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
    dropped: int = 0  # ids refused: too long, unprintable or past the cap

    @property
    def state(self) -> DiscoveryState:
        if self.ok:
            return DiscoveryState.OK
        return DiscoveryState.SKIPPED if self.skipped else DiscoveryState.ERROR

    def as_json(self) -> dict[str, Any]:
        out = {"provider": self.provider, "ok": self.ok, "models": list(self.models),
               "invalid": list(self.invalid), "error": self.error}
        return {**out, "dropped": self.dropped} if self.dropped else out

    @property
    def dropped_note(self) -> str:
        """'; 3 ids dropped (too long, unprintable or too many)', or ''."""
        if not self.dropped:
            return ""
        return f"; {plural(self.dropped, 'id')} dropped (too long, unprintable or too many)"


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

    def listed_facts(self, name: str, model: str) -> ListedFacts | None:
        """What the provider's own /models listing said about `model` (context, prices)."""
        found = self._known.get(name)
        base = self.base_providers.get(name)
        if found is None or base is None or found.base_api_url.rstrip("/") != base.shown_url:
            return None
        return found.facts.get(model)

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
            reply = self._fetch_models(config)
        except ChatReplError as exc:
            return self._result_from_known(name, ok=False, error=str(exc),
                                           short_reason=getattr(exc, "short_reason", "failed"),
                                           finished_at=self.clock())
        previous = self._known.get(name)
        if reply is None:
            if previous is not None and previous.chat_models:
                # No models loaded right now: keep what the server offered last time.
                return self._result_from_known(name, ok=True, finished_at=self.clock())
            reply = ModelsReply(())
        ids = set(reply.ids)
        chat = tuple(m.id for m in reply.models if m.is_chat)
        invalid = tuple(m.id for m in reply.models if not m.is_chat)
        if previous is not None and previous.base_api_url.rstrip("/") == config.shown_url:
            # Models found invalid by validation stay invalid while the provider lists them.
            invalid = tuple(dict.fromkeys([*invalid, *(i for i in previous.invalid_models
                                                       if i in ids)]))
            rejected = set(invalid)
            chat = tuple(i for i in chat if i not in rejected)
        kept = set(chat)
        facts = {m.id: m.facts for m in reply.models if m.facts and m.id in kept}
        found = DiscoveredModels(config.shown_url, chat, invalid, self.clock(),
                                 config.display_name, facts)
        self._record(name, found)
        return self._result_from_known(name, ok=True, finished_at=found.discovered_at,
                                       dropped=reply.dropped)

    def _fetch_models(self, config: ProviderConfig) -> ModelsReply | None:
        """The provider's /models reply, read within MAX_MODELS_BYTES and `timeout_seconds` of
        wall-clock time (every body the client reads, error bodies too, is capped)."""
        import openai

        timeout = self.settings.timeout_seconds
        deadline = time.monotonic() + timeout
        client = make_client(config, self.env, timeout=timeout, max_retries=1,
                             response_hook=lambda r: cap_models_response(r, deadline))
        try:
            with client.models.with_streaming_response.list() as response:
                body = read_models_body(response.iter_bytes(), deadline)
                content_type = response.headers.get("content-type", "")
            return parse_models_reply(body, content_type)
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

        # One daemon thread per provider; the round waits for each until its deadline, so a
        # provider that keeps the connection open is reported "timed out" and holds up neither
        # the others, nor the next round, nor the program's exit.
        lock = threading.Lock()
        results: dict[str, DiscoveryResult] = {}
        listed = {name: threading.Event() for name in chosen}
        finished = {name: threading.Event() for name in chosen}
        given_up: set[str] = set()

        def report(name: str, result: DiscoveryResult) -> None:
            with lock:
                if name in given_up:
                    return
                results[name] = result
            if on_result is not None:
                on_result(result)

        def one(name: str) -> None:
            try:
                result = self.discover_models(name, force_refresh=force_refresh)
                listed[name].set()
                if validate and result.ok:
                    self.validate_models(name)
                    result = self._result_from_known(name, ok=True, finished_at=self.clock(),
                                                     dropped=result.dropped)
                report(name, result)
            except Exception as exc:  # a bug for one provider must not lose the others
                report(name, self._result_from_known(name, ok=False, error=str(exc),
                                                     short_reason="failed",
                                                     finished_at=self.clock()))
            finally:
                listed[name].set()
                finished[name].set()

        for name in chosen:
            threading.Thread(target=one, args=(name,), name=f"chatrepl-discover-{name}",
                             daemon=True).start()
        deadline = time.monotonic() + self.settings.timeout_seconds + ROUND_GRACE_SECONDS
        for name in chosen:
            if listed[name].wait(max(0.0, deadline - time.monotonic())):
                finished[name].wait()  # validation: each request has its own timeout
                continue
            with lock:
                if name in results:
                    continue
                given_up.add(name)
            timed_out = self._result_from_known(
                name, ok=False, finished_at=self.clock(), short_reason="timeout",
                error=f"{name}: timed out after {self.settings.timeout_seconds:g} s")
            results[name] = timed_out
            if on_result is not None:
                on_result(timed_out)
        return [results[name] for name in chosen]


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
    dropped: int = 0  # ids the listing sent that were refused


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
            result.short_reason, result.dropped)}
        self._notify_progress()

    def _notify_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress()
