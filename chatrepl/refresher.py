"""The background refresher: runs discovery on one named daemon thread, keeps per-provider status.

A refresh asked for while one runs sets the next request instead of starting a second thread
(as pgcli's completion refresher does). `status` is a read-only mapping replaced whole under
the refresher's lock, so results that finish at the same time never overwrite each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from chatrepl.discovery import DiscoveryResult, DiscoveryState, ModelDiscoveryService
from chatrepl.errors import ChatReplError


@dataclass(frozen=True)
class ProviderStatus:
    """What the refresher knows about one provider."""

    state: DiscoveryState = DiscoveryState.PENDING
    models: int = 0
    error: str | None = None
    finished_at: float | None = None
    short_reason: str = ""  # `401`, `unreachable`, … when state is ERROR or SKIPPED
    dropped: int = 0  # ids the listing sent that were refused
    detail: str | None = None  # `error` without the provider's name in front


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
    status: Mapping[str, ProviderStatus] = field(default_factory=lambda: MappingProxyType({}))
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
            self._set_status({n: ProviderStatus(DiscoveryState.RUNNING) for n in names})
            self._notify_progress()
            try:
                results = self.service.discover_all(
                    request.providers, force_refresh=request.force, validate=request.validate,
                    on_result=self._on_result)
            except ChatReplError as exc:
                results = [DiscoveryResult(provider=n, ok=False, error=str(exc),
                                           detail=str(exc), short_reason="failed")
                           for n in names]
                for result in results:
                    self._on_result(result)
            self.last_results = results
            with self._lock:
                restarting = self._pending is not None
            if not restarting:
                for callback in list(self.callbacks):
                    callback(results)

    def _on_result(self, result: DiscoveryResult) -> None:
        self._set_status({result.provider: ProviderStatus(
            result.state, len(result.models), result.error, result.finished_at,
            result.short_reason, result.dropped, result.detail)})
        self._notify_progress()

    def _set_status(self, changes: Mapping[str, ProviderStatus]) -> None:
        """Swap in a new `status` with `changes`; under the lock, so none is lost."""
        with self._lock:
            self.status = MappingProxyType({**self.status, **changes})

    def _notify_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress()
