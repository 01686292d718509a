"""The toolbar: short typed failure reasons, a width budget, cached providers, a last redraw."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer
from prompt_toolkit.utils import get_cwidth
from replhelpers import build_repl_state

from chatrepl.discovery import DiscoveryState
from chatrepl.replstate import ReplState
from chatrepl.toolbar import discovery_status, toolbar_text

OK_PROVIDERS = ("alpha", "bravo", "charlie", "delta", "echo")


@pytest.fixture
def servers() -> Iterator[dict[str, FakeOpenAIServer]]:
    started = {"ok": FakeOpenAIServer().start(), "401": FakeOpenAIServer().start(),
               "html": FakeOpenAIServer().start()}
    started["ok"].behavior.models = ["fake-chat"]
    started["401"].behavior.models_status = 401
    started["html"].behavior.models_fault = "html_200"
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def eight_providers(servers: dict[str, FakeOpenAIServer]) -> str:
    """Five providers that answer, one 401, one HTML page, one nobody listens on, one keyless."""
    lines = ["providers:"]
    for name in OK_PROVIDERS:
        lines += [f"  {name}:", f"    base_api_url: {servers['ok'].url}"]
    lines.insert(3, "    valid_models: [fake-chat]")  # alpha: known before discovery too
    lines += ["  bad401:", f"    base_api_url: {servers['401'].url}",
              "    api_key: sk-toolbar-test-key-0123",
              "  portal:", f"    base_api_url: {servers['html'].url}",
              "  down:", "    base_api_url: http://127.0.0.1:1/v1",
              "  keyless:", "    base_api_url: https://keyless.example/v1",
              "discovery: {on_startup: false, timeout_seconds: 5}"]
    return "\n".join(lines) + "\n"


def repl_state(home: Path, servers: dict[str, FakeOpenAIServer]) -> ReplState:
    """The REPL's state without its loop: a loop ended at once leaves its loader thread to
    install the REPL's own progress callback later, over the one a test sets."""
    (home / "config.yaml").write_text(eight_providers(servers), encoding="utf-8")
    return build_repl_state(home, "alpha", "fake-chat").state


def test_failures_show_a_short_typed_reason(chatrepl_home: Path, servers) -> None:
    state = repl_state(chatrepl_home, servers)
    state.runtime.refresher.refresh()
    status = state.runtime.refresher.status
    assert {name: (s.state, s.short_reason) for name, s in status.items()
            if s.state != DiscoveryState.OK} == {
        "bad401": (DiscoveryState.ERROR, "401"), "portal": (DiscoveryState.ERROR, "HTML page"),
        "down": (DiscoveryState.ERROR, "unreachable"), "keyless": (DiscoveryState.SKIPPED, "no key")}
    text = discovery_status(state)
    assert "alpha 1 · bravo 1" in text
    assert "bad401 ✗ 401 · portal ✗ HTML page · down ✗ unreachable · keyless ✗ no key" in text
    assert "unauthorized" not in text and "https:" not in text


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_model_tokens_and_cost_always_fit(chatrepl_home: Path, servers, width: int) -> None:
    state = repl_state(chatrepl_home, servers)
    state.runtime.refresher.refresh()
    state.session_cost, state.cost_known = 0.0123, True
    text = toolbar_text(state, width)
    assert get_cwidth(text) < width
    assert "alpha/fake-chat" in text and "tokens 0" in text and "$0.01" in text
    if width >= 60:
        assert "✗ 4 failed" in text or "bad401 ✗" in text  # failures still show, shortened


def test_the_summary_shortens_step_by_step(chatrepl_home: Path, servers) -> None:
    state = repl_state(chatrepl_home, servers)
    state.runtime.refresher.refresh()
    wide, medium, narrow = (toolbar_text(state, w) for w in (200, 80, 60))
    assert "bad401 ✗ 401" in wide
    assert "5 models · ✗ 4 failed (/providers)" in medium
    assert "✗ 4 failed" in narrow and "5 models" not in narrow


def test_a_long_model_name_is_cut_in_the_middle_not_dropped(chatrepl_home: Path,
                                                           servers) -> None:
    state = repl_state(chatrepl_home, servers)
    state.chat.set_model("alpha", "a-very-long-model-name-from-a-gateway-with-many-parts")
    text = toolbar_text(state, 40)
    assert get_cwidth(text) < 40 and "…" in text and text.strip().startswith("alpha/")
    assert text.endswith("tokens 0")


def test_failures_survive_a_long_model_name_at_40_columns(chatrepl_home: Path,
                                                          servers) -> None:
    state = repl_state(chatrepl_home, servers)
    state.runtime.refresher.refresh()
    state.chat.set_model("alpha", "a-very-long-model-name-from-a-gateway-with-many-parts")
    text = toolbar_text(state, 40)
    assert get_cwidth(text) < 40 and text.strip().startswith("alpha/") and "…" in text
    assert "✗ 4 failed" in text and text.endswith("tokens 0")


def test_providers_fresh_from_the_cache_are_listed(chatrepl_home: Path, servers) -> None:
    repl_state(chatrepl_home, servers).runtime.refresher.refresh()  # writes the cache
    state = repl_state(chatrepl_home, servers)  # a new run: nothing discovered in it yet
    assert state.runtime.refresher.status == {}
    text = discovery_status(state)
    assert all(f"{name} 1" in text for name in OK_PROVIDERS)


def test_the_refresher_redraws_once_more_when_a_round_ends(chatrepl_home: Path,
                                                          servers) -> None:
    state = repl_state(chatrepl_home, servers)
    refresher = state.runtime.refresher
    seen: list[str] = []
    refresher.on_progress = lambda: seen.append(discovery_status(state))
    refresher.refresh(["alpha", "bad401"])  # synchronous: the round and its redraws are over
    assert seen[0].startswith("discovering 0/2")
    assert seen[-1] == "alpha 1 · bad401 ✗ 401"  # the last redraw shows the outcome


def test_the_toolbar_does_not_bring_pydantic_before_the_first_prompt() -> None:
    code = ("import sys, chatrepl.repl, chatrepl.toolbar; "
            "print('pydantic' in sys.modules, 'chatrepl.discovery' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_providers_whose_cached_models_went_stale_still_show(chatrepl_home: Path,
                                                            fake_server: FakeOpenAIServer) -> None:
    """The cache is past its TTL and no round has run yet: the models are still in the menu,
    so the provider is still in the summary."""
    from test_cli import run

    fake_server.behavior.models = ["m1", "m2"]
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n"
        "discovery: {on_startup: false, ttl_seconds: 0}\n", encoding="utf-8")
    assert run(["discover"], chatrepl_home)[0] == 0
    state = build_repl_state(chatrepl_home, "fake", "m1").state
    assert not state.runtime.discovery.is_fresh("fake")
    assert "fake 2" in discovery_status(state)
