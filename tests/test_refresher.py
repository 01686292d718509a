"""The background refresher: one named daemon thread, queued reruns, per-provider status."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from discoveryhelpers import make_service, started_servers
from fakeserver import FakeOpenAIServer

from chatrepl.discovery import DiscoveryResult, DiscoveryState
from chatrepl.paths import resolve_paths
from chatrepl.providertable import provider_table
from chatrepl.refresher import DiscoveryRefresher
from chatrepl.runtime import build_runtime


@pytest.fixture
def servers() -> Iterator[list[FakeOpenAIServer]]:
    """Four started servers, stopped after the test."""
    with started_servers() as started:
        yield started


# -- the background refresher ----------------------------------------------------------------

def test_refresher_runs_on_named_daemon_thread(fake_server: FakeOpenAIServer,
                                               chatrepl_home: Path) -> None:
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    refresher = DiscoveryRefresher(service)
    threads: list[threading.Thread] = []
    delivered: list[list[DiscoveryResult]] = []

    def done(results: list[DiscoveryResult]) -> None:
        threads.append(threading.current_thread())
        delivered.append(results)

    refresher.add_callback(done)
    refresher.refresh()
    assert refresher.is_refreshing()
    assert refresher.wait(timeout=20)
    assert not refresher.is_refreshing()
    (thread,) = threads
    assert thread.name == "chatrepl-discovery" and thread.daemon
    assert thread is not threading.current_thread()
    (results,) = delivered
    assert [(r.provider, r.ok) for r in results] == [("fake", True)]
    assert refresher.last_results == results
    assert manager.valid_scoped_models() == ["fake/fake-chat (fake-chat)"]
    status = refresher.status["fake"]
    assert (status.state, status.models, status.error) == ("ok", 1, None)
    assert status.finished_at is not None
    assert refresher.progress() == (1, 1)


def test_refresh_while_running_queues_a_rerun(servers: list[FakeOpenAIServer],
                                              chatrepl_home: Path) -> None:
    first, second = servers[0], servers[1]
    _, service = make_service({"first": {"base_url": first.url},
                               "second": {"base_url": second.url}}, chatrepl_home)
    entered, release = threading.Event(), threading.Event()
    calls = {"progress": 0}

    def hold_first_round() -> None:
        calls["progress"] += 1
        if calls["progress"] == 1:  # the first round has started: keep it running
            entered.set()
            assert release.wait(timeout=20)

    delivered: list[list[DiscoveryResult]] = []
    refresher = DiscoveryRefresher(service, on_progress=hold_first_round)
    refresher.add_callback(delivered.append)
    refresher.refresh(["first"])
    try:
        assert entered.wait(timeout=20)
        refresher.refresh(["second"])
        refresher.refresh(["second"])
        workers = [t for t in threading.enumerate() if t.name == "chatrepl-discovery"]
        assert len(workers) == 1
        assert refresher.is_refreshing()
    finally:
        release.set()
    assert refresher.wait(timeout=20)
    assert first.count("/models") == 1
    assert second.count("/models") == 1  # the two queued requests ran once, after the first
    assert len(delivered) == 1  # callbacks only after the last round
    assert [r.provider for r in delivered[0]] == ["second"]
    assert refresher.status["first"].state == "ok"
    assert refresher.status["second"].state == "ok"
    assert not refresher.is_refreshing()

    # The refresher can be used again after it went idle.
    refresher.refresh(["first"])
    assert refresher.wait(timeout=20)
    assert first.count("/models") == 2


def test_refresher_status_per_provider(servers: list[FakeOpenAIServer],
                                       chatrepl_home: Path) -> None:
    servers[0].behavior.models_status = 401
    providers = {"bad": {"base_url": servers[0].url}, "good": {"base_url": servers[1].url},
                 "nokey": {"base_url": "https://nokey.example/v1"}}
    _, service = make_service(providers, chatrepl_home)
    updates: list[int] = []
    refresher = DiscoveryRefresher(service, on_progress=lambda: updates.append(1))
    refresher.refresh()
    assert refresher.wait(timeout=20)
    status = refresher.status
    assert status["good"].state == "ok" and status["good"].models == 1
    assert status["bad"].state == "error" and status["bad"].error and "401" in status["bad"].error
    assert status["nokey"].state == "skipped"
    assert status["nokey"].error and "NOKEY_API_KEY" in status["nokey"].error
    assert len(updates) >= 4  # one "running" plus one per provider


def test_refresher_unknown_provider_reports_error(chatrepl_home: Path) -> None:
    _, service = make_service({"a": {"base_url": "https://a.example/v1"}}, chatrepl_home)
    refresher = DiscoveryRefresher(service, synchronous=True)
    refresher.refresh(["nope"])
    assert not refresher.is_refreshing()
    assert refresher.status["nope"].state == "error"
    assert "nope" in (refresher.status["nope"].error or "")


def test_refresher_synchronous_mode(fake_server: FakeOpenAIServer, chatrepl_home: Path) -> None:
    fake_server.behavior.models = ["m1", "m2"]
    fake_server.behavior.unknown_models = {"m2"}
    manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    refresher = DiscoveryRefresher(service, synchronous=True)
    threads: list[threading.Thread] = []
    refresher.add_callback(lambda results: threads.append(threading.current_thread()))
    before = {t.name for t in threading.enumerate()}
    refresher.refresh(validate=True)
    # Done on return, on this thread, and with validation applied.
    assert not refresher.is_refreshing()
    assert threads == [threading.current_thread()]
    assert "chatrepl-discovery" not in before | {t.name for t in threading.enumerate()}
    assert manager.valid_scoped_models() == ["fake/m1 (m1)"]
    assert refresher.status["fake"].state == "ok"


def test_refresh_from_a_callback_runs_next(fake_server: FakeOpenAIServer,
                                           chatrepl_home: Path) -> None:
    _, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    refresher = DiscoveryRefresher(service, synchronous=True)
    rounds: list[int] = []

    def again(results: list[DiscoveryResult]) -> None:
        rounds.append(len(results))
        if len(rounds) == 1:
            refresher.refresh()

    refresher.add_callback(again)
    refresher.refresh()
    assert rounds == [1, 1]
    assert fake_server.count("/models") == 2
    assert not refresher.is_refreshing()


# -- results that finish at the same time ----------------------------------------------------

class _Together(tuple):
    """A model list whose size is read only once every provider's result has got that far,
    so all of them are recorded at the same moment (the worst interleaving, every time)."""

    barrier: threading.Barrier

    def __len__(self) -> int:
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=2.0)  # a refresher that reads it under a lock goes on alone
        return super().__len__()


class _AtOnceService:
    """A discovery service whose providers all finish at once, each on its own thread."""

    def __init__(self, names: list[str]) -> None:
        self.base_providers = dict.fromkeys(names)

    def discover_all(self, names: Any, *, force_refresh: bool, validate: bool,
                     on_result: Callable[[DiscoveryResult], None]) -> list[DiscoveryResult]:
        chosen = list(names or self.base_providers)
        barrier = threading.Barrier(len(chosen))
        results = []
        for name in chosen:
            models = _Together((f"{name}-model",))
            models.barrier = barrier
            results.append(DiscoveryResult(provider=name, ok=True, models=models))
        threads = [threading.Thread(target=on_result, args=(r,)) for r in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        return results


def test_results_finishing_together_are_all_kept() -> None:
    """Every provider's outcome survives: none is left "running" (it would vanish from the
    toolbar, and /providers would lose its error)."""
    names = [f"p{i}" for i in range(8)]
    refresher = DiscoveryRefresher(_AtOnceService(names), synchronous=True)  # type: ignore[arg-type]
    for _ in range(3):
        refresher.refresh()
        assert {n: s.state for n, s in refresher.status.items()} == dict.fromkeys(names, "ok")
        assert refresher.progress() == (8, 8)


# -- typed outcomes --------------------------------------------------------------------------

def test_status_is_typed_and_the_table_shows_its_fields(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    """State, short reason and the reason without the provider's name are fields: the toolbar
    and /providers show them as they are, nothing splits an error line apart."""
    fake_server.behavior.models_status = 401
    write_config(f"providers:\n  bad:\n    base_url: {fake_server.url}\n")
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    runtime.refresher.refresh()
    status = runtime.refresher.status["bad"]
    assert (status.state, status.short_reason) == (DiscoveryState.ERROR, "401")
    assert status.error == f"bad: {status.detail}"
    assert status.detail and status.detail.startswith("401 unauthorized")
    (line,) = provider_table(runtime)
    assert line.startswith("bad ") and line.endswith(f"  failed: {status.detail}")
    assert "not discovered yet" not in line
