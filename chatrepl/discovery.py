"""Model discovery: ask each provider's /models, classify, merge, persist.

`ModelDiscoveryService` is the one writer of the model list: every change to the manager's
providers and snapshot (discovered models, validation verdicts, a model a provider answered
"not found" for, local servers added after start-up) goes through it. `chatrepl.refresher`
runs it in the background.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from chatrepl.clients import describe_api_problem, make_client, redact, short_api_reason
from chatrepl.config import DiscoverySettings, ProviderConfig
from chatrepl.discoveredstore import DiscoveredModels, DiscoveredStore, effective_provider
from chatrepl.errors import ChatReplError, ModelsReplyError
from chatrepl.manager import ProviderManager
from chatrepl.modelsreply import (  # noqa: F401  (is_chat_model re-exported)
    ListedFacts,
    ModelsReply,
    cap_models_response,
    is_chat_model,
    parse_models_reply,
    read_models_body,
)
from chatrepl.wording import plural

if TYPE_CHECKING:
    from openai import OpenAI

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
    detail: str | None = None  # `error` without the provider's name, for where it is shown

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
    """Discovers models per provider with a TTL cache, and keeps the manager and the
    discovered-models file current.

    The one writer of the model list: `_update` (discovery, validation, `mark_invalid`) and
    `add_providers` are the only paths to the manager's swap. `base_providers` are the
    providers as configured; discovered models are merged onto them.
    """

    def __init__(self, manager: ProviderManager, env: Mapping[str, str],
                 settings: DiscoverySettings | None = None, store: DiscoveredStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.manager = manager
        self.env = env
        self.settings = settings or DiscoverySettings()
        self.store = store
        self.clock = clock
        # Replaced whole (never mutated) under `_lock`, so readers on any thread see it whole.
        self._base: Mapping[str, ProviderConfig] = MappingProxyType(dict(manager.providers))
        # Guards `_known` and `_base`, and orders their changes with the manager's swaps.
        self._lock = threading.RLock()
        # At most `concurrency` validation requests in flight, across all providers.
        self._probe_slots = threading.BoundedSemaphore(self.settings.concurrency)
        self._known: dict[str, DiscoveredModels] = store.load() if store else {}
        with self._lock:
            self._apply(self._known.keys())

    @property
    def base_providers(self) -> Mapping[str, ProviderConfig]:
        """The providers as configured (plus those added later); discovered models are merged
        onto them. A read-only mapping, replaced whole when one is added."""
        return self._base

    # -- the one writer of the manager's providers -----------------------------------------
    def _apply(self, names: Iterable[str]) -> None:
        """Swap the named providers' merged configs into the manager (call under `_lock`)."""
        updates = {name: effective_provider(self._base[name], self._known.get(name))
                   for name in names if name in self._base}
        if updates:
            self.manager._replace_providers(updates)

    def _update(self, name: str, change: Callable[[DiscoveredModels | None],
                                                  DiscoveredModels | None]) -> None:
        """Replace what is known about `name` by `change(old)` (nothing when it gives None),
        apply it to the manager and save the file, all in one step against other writers."""
        with self._lock:
            found = change(self._known.get(name))
            if found is None:
                return
            self._known[name] = found
            self._apply([name])
            if self.store is not None:
                self.store.save(dict(self._known))

    def add_providers(self, providers: Mapping[str, ProviderConfig]) -> list[str]:
        """Register providers found after start-up (local servers); returns the new names.

        A provider already known (configured) is left as it is.
        """
        with self._lock:
            added = [name for name in providers if name not in self._base]
            self._base = MappingProxyType({**self._base, **{n: providers[n] for n in added}})
            self._apply(added)
        return added

    def mark_invalid(self, provider: str, model: str) -> None:
        """Record that `provider` answered "not found" for `model`: it leaves the menu, is
        saved in the discovered-models file, and stays invalid across discovery for as long
        as the provider still lists it."""
        base = self._base.get(provider)
        if base is None:
            return

        def reject(found: DiscoveredModels | None) -> DiscoveredModels:
            if found is None or found.base_api_url.rstrip("/") != base.shown_url:
                found = DiscoveredModels(base.shown_url, (), name=base.display_name)
            return found.with_rejected([model])

        self._update(provider, reject)

    def listed_facts(self, name: str, model: str) -> ListedFacts | None:
        """What the provider's own /models listing said about `model` (context, prices)."""
        found = self._known.get(name)
        base = self._base.get(name)
        if found is None or base is None or found.base_api_url.rstrip("/") != base.shown_url:
            return None
        return found.facts.get(model)

    def last_discovered(self, name: str) -> float | None:
        found = self._known.get(name)
        return found.discovered_at if found else None

    def is_fresh(self, name: str) -> bool:
        found = self._known.get(name)
        base = self._base.get(name)
        return (found is not None and base is not None
                and found.base_api_url.rstrip("/") == base.shown_url
                and self.clock() - found.discovered_at < self.settings.ttl_seconds)

    def stale_providers(self) -> list[str]:
        """Providers whose discovered models are older than the TTL."""
        return [name for name in self._base if not self.is_fresh(name)]

    # -- discovery -----------------------------------------------------------------------
    def _provider(self, provider: str | ProviderConfig) -> ProviderConfig:
        if isinstance(provider, ProviderConfig):
            with self._lock:
                if provider.id not in self._base:
                    self._base = MappingProxyType({**self._base, provider.id: provider})
                return self._base[provider.id]
        return self._base.get(provider) or self.manager.provider_named(provider)

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
            reason = config.missing_key_reason()
            return self._result_from_known(name, ok=False, skipped=True, error=reason,
                                           detail=reason, short_reason="no key",
                                           finished_at=self.clock())
        try:
            reply = self._fetch_models(config)
        except ModelsReplyError as exc:  # says what failed, not for which provider
            return self._result_from_known(name, ok=False, error=f"{name}: {exc}",
                                           detail=str(exc), short_reason=exc.short_reason,
                                           finished_at=self.clock())
        except ChatReplError as exc:
            return self._result_from_known(name, ok=False, error=str(exc), detail=str(exc),
                                           short_reason="failed", finished_at=self.clock())
        previous = self._known.get(name)
        if reply is None:
            if previous is not None and previous.chat_models:
                # No models loaded right now: keep what the server offered last time.
                return self._result_from_known(name, ok=True, finished_at=self.clock())
            reply = ModelsReply(())
        ids = set(reply.ids)
        chat = tuple(m.id for m in reply.models if m.is_chat)
        invalid = tuple(m.id for m in reply.models if not m.is_chat)
        rejected: tuple[str, ...] = ()
        if previous is not None and previous.base_api_url.rstrip("/") == config.shown_url:
            # Models found invalid by validation, or answered "not found" in a chat, stay
            # invalid while the provider lists them.
            invalid = tuple(dict.fromkeys([*invalid, *(i for i in previous.invalid_models
                                                       if i in ids)]))
            rejected = tuple(i for i in previous.rejected_models if i in ids)
            dropped = set(invalid)
            chat = tuple(i for i in chat if i not in dropped)
        kept = set(chat)
        facts = {m.id: m.facts for m in reply.models if m.facts and m.id in kept}
        found = DiscoveredModels(config.shown_url, chat, invalid, self.clock(),
                                 config.display_name, facts, rejected)
        self._update(name, lambda _old: found)
        return self._result_from_known(name, ok=True, finished_at=found.discovered_at,
                                       dropped=reply.dropped)

    def _fetch_models(self, config: ProviderConfig) -> ModelsReply | None:
        """The provider's /models reply, read within MAX_MODELS_BYTES and `timeout_seconds` of
        wall-clock time (every body the client reads, error bodies too, is capped).

        ModelsReplyError says what failed without the provider's name in front."""
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
            raise ModelsReplyError(f"/models {exc}", exc.short_reason) from None
        except openai.NotFoundError:
            hint = ("; does the base URL need /v1?"
                    if not config.base_api_url.rstrip("/").endswith("/v1") else "")
            raise ModelsReplyError(
                f"no model list at {config.shown_url}/models (404){hint}", "404"
            ) from None
        except openai.OpenAIError as exc:
            raise ModelsReplyError(describe_api_problem(exc, config, self.env),
                                   short_api_reason(exc)) from None
        except Exception as exc:  # the SDK may raise transport errors of its own
            text = redact(f"{type(exc).__name__}: {exc}",
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
        """Try each model with a one-token chat; at most `concurrency` requests are in flight
        across every provider being validated.

        Returns id -> `valid`, `invalid` (404/400 naming the model) or `unknown`; invalid ids
        are recorded.
        """
        config = self._provider(provider)
        ids = self.models_to_validate(config) if ids is None else list(ids)
        if not ids or config.resolve_api_key(self.env) is None:
            return dict.fromkeys(ids, "unknown")
        client = make_client(config, self.env, timeout=self.settings.timeout_seconds,
                             max_retries=0)

        def probe(model: str) -> str:
            with self._probe_slots:  # shared by every provider validating at the same time
                return _probe(client, model)

        try:
            with ThreadPoolExecutor(self.settings.concurrency,
                                    thread_name_prefix=f"validate-{config.id}") as pool:
                verdicts = dict(zip(ids, pool.map(probe, ids), strict=True))
        finally:
            client.close()
        rejected = [m for m, verdict in verdicts.items() if verdict == "invalid"]
        if rejected:
            self._update(config.id,
                         lambda found: found.with_rejected(rejected) if found is not None else None)
        return verdicts

    def discover_all(self, names: Iterable[str] | None = None, *, force_refresh: bool = False,
                     validate: bool = False,
                     on_result: Callable[[DiscoveryResult], None] | None = None,
                     ) -> list[DiscoveryResult]:
        """Discover the named providers (default: all) at once; results in the order asked."""
        chosen = [self._provider(n).id for n in names] if names else list(self._base)
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
                                                     detail=str(exc), short_reason="failed",
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
                error=f"{name}: timed out after {self.settings.timeout_seconds:g} s",
                detail=f"timed out after {self.settings.timeout_seconds:g} s")
            results[name] = timed_out
            if on_result is not None:
                on_result(timed_out)
        return [results[name] for name in chosen]


def _probe(client: OpenAI, model: str) -> str:
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
