"""Who changes the model list: discovery only. A model a provider answered "not found" for stays
invalid (saved, and across /discover while listed); validation is bounded across providers."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

from discoveryhelpers import make_service, state_file
from fakeserver import FakeOpenAIServer
from replhelpers import build_repl_state

import chatrepl
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.repl import handle_line
from chatrepl.replstate import ReplState

WAIT = 20.0


def repl(home: Path, write_config, url: str, listed: str = "") -> tuple[ReplState, io.StringIO]:
    """A REPL state on provider `fake` at `url`, discovering synchronously, chat on fake-chat."""
    write_config("discovery: {on_startup: false}\n"
                 f"providers:\n  fake:\n    base_url: {url}\n{listed}")
    state, out, _err = build_repl_state(home, "fake", "fake-chat")
    return state, out


def menu(state: ReplState) -> list[str]:
    return [r.scoped for r in state.runtime.manager.model_records()]


# -- "not found" is remembered ---------------------------------------------------------------

def test_a_model_the_provider_says_is_gone_stays_gone_after_discover_and_restart(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["fake-chat", "other-chat"]
    state, out = repl(chatrepl_home, write_config, fake_server.url)
    handle_line(state, "/discover")
    assert menu(state) == ["fake/fake-chat", "fake/other-chat"]

    fake_server.behavior.unknown_models = {"fake-chat"}  # still listed, but "not found"
    handle_line(state, "hello")
    assert "404" in out.getvalue() and "try: fake/other-chat" in out.getvalue()
    assert menu(state) == ["fake/other-chat"]

    handle_line(state, "/discover")  # the listing has it again: the mark holds
    assert fake_server.count("/models") == 2
    assert menu(state) == ["fake/other-chat"]
    saved = DiscoveredStore(state_file(chatrepl_home)).load()["fake"]
    assert "fake-chat" in saved.invalid_models and "fake-chat" not in saved.chat_models

    again, _ = repl(chatrepl_home, write_config, fake_server.url)  # the next run
    assert menu(again) == ["fake/other-chat"]
    assert again.runtime.manager["fake"].is_invalid("fake-chat")


def test_the_mark_goes_when_the_provider_stops_listing_the_model(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["fake-chat", "other-chat"]
    state, _out = repl(chatrepl_home, write_config, fake_server.url)
    handle_line(state, "/discover")
    state.runtime.discovery.mark_invalid("fake", "fake-chat")
    assert menu(state) == ["fake/other-chat"]

    fake_server.behavior.models = ["other-chat"]
    handle_line(state, "/discover")
    fake_server.behavior.models = ["fake-chat", "other-chat"]  # back, under the same id
    handle_line(state, "/discover")
    assert menu(state) == ["fake/fake-chat", "fake/other-chat"]


def test_not_found_wins_over_the_users_list_while_the_provider_lists_it(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["fake-chat", "other-chat"]
    state, _out = repl(chatrepl_home, write_config, fake_server.url,
                       listed="    valid_models: [fake-chat]\n")
    fake_server.behavior.unknown_models = {"fake-chat"}
    handle_line(state, "hello")
    handle_line(state, "/discover")
    assert "fake/fake-chat" not in menu(state)
    assert "fake-chat" in state.runtime.manager["fake"].invalid_models


def test_validation_keeps_the_listings_facts(chatrepl_home: Path,
                                              fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models_entries = [
        {"id": "kept", "object": "model", "context_length": 32768},
        {"id": "gone", "object": "model", "context_length": 8192}]
    fake_server.behavior.unknown_models = {"gone"}
    _manager, service = make_service({"fake": {"base_url": fake_server.url}}, chatrepl_home)
    assert service.discover_models("fake").models == ("kept", "gone")
    assert service.listed_facts("fake", "kept") is not None
    assert service.validate_models("fake") == {"gone": "invalid", "kept": "valid"}
    assert service.listed_facts("fake", "kept") is not None


# -- one writer ------------------------------------------------------------------------------

def test_only_discovery_swaps_the_managers_providers() -> None:
    """Adding a provider, discovered models and "not found" marks all go through the service:
    the manager's swap is called from discovery.py and nowhere else in the package."""
    package = Path(chatrepl.__file__).parent
    callers = sorted(path.name for path in package.glob("*.py")
                     if re.search(r"\.\s*_?replace_providers\(", path.read_text("utf-8")))
    assert callers == ["discovery.py"]


def test_local_servers_added_later_go_through_discovery(chatrepl_home: Path,
                                                        fake_server: FakeOpenAIServer) -> None:
    manager, service = make_service({}, chatrepl_home)
    added = service.add_providers({"llamacpp": chatrepl.ProviderConfig.model_validate(
        {"id": "llamacpp", "base_url": fake_server.url})})
    assert added == ["llamacpp"] and "llamacpp" in service.base_providers
    assert service.discover_models("llamacpp").ok
    assert manager.valid_scoped_models() == ["llamacpp/fake-chat (fake-chat)"]


# -- validation across providers -------------------------------------------------------------

def test_validation_concurrency_bounds_requests_across_providers(
        chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    """Three providers validating at once, on one server that holds each request until three
    are in flight (or a second passes): never more than `concurrency` (2) at a time."""
    fake_server.behavior.models = ["m1"]
    fake_server.behavior.chat_hold_until = 3
    fake_server.behavior.chat_delay = 1.0
    names = ["p0", "p1", "p2"]
    _manager, service = make_service({n: {"base_url": fake_server.url} for n in names},
                                     chatrepl_home, concurrency=2)
    assert all(r.ok for r in service.discover_all())
    start = threading.Barrier(len(names))
    verdicts: dict[str, dict[str, str]] = {}

    def validate(name: str) -> None:
        start.wait(timeout=WAIT)
        verdicts[name] = service.validate_models(name)

    threads = [threading.Thread(target=validate, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert verdicts == {n: {"m1": "valid"} for n in names}
    assert fake_server.count("/chat/completions") == 3
    assert fake_server.max_in_flight == 2
