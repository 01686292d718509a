"""The context and cost guards before a compared message: the session limit refuses it, a
costly or overflowing model makes it wait for a yes, an unknown price never blocks."""

from __future__ import annotations

from pathlib import Path

from guardhelpers import ENTRIES, chat_bodies, guard_config
from test_repl import repl_runner


def compare_repl(home: Path, server, budget: str = ""):
    """A REPL on fake/big with `budget` (YAML flow map, if any) and discovery done."""
    server.behavior.models_entries = ENTRIES
    extra = f"budget: {budget}\n" if budget else ""
    run = repl_runner(home, guard_config(server.url, extra), "fake", "big", since_last_run=True)
    run("/discover fake")
    return run


def test_a_costly_model_makes_the_comparison_wait_for_a_yes(chatrepl_home: Path,
                                                            fake_server) -> None:
    run = compare_repl(chatrepl_home, fake_server, "{confirm_over_usd: 0.5}")
    _state, printed = run("/compare fake/big fake/free-form", "hello there", "n")
    assert "fake/big may cost about $1.01" in printed
    assert "the price of fake/free-form is not known" in printed  # said, never blocking
    assert "not sent" in printed and chat_bodies(fake_server) == []
    state, printed = run("hello there", "y")
    assert sorted(b["model"] for b in chat_bodies(fake_server)) == ["big", "free-form"]
    assert state.compare is not None and state.compare.pending is not None


def test_the_session_limit_refuses_a_comparison(chatrepl_home: Path, fake_server) -> None:
    run = compare_repl(chatrepl_home, fake_server, "{session_usd: 0.001}")
    state, _ = run("first")  # a single reply on fake/big: spends more than $0.001
    assert state.session_cost > 0.001
    state, printed = run("/compare fake/big fake/free-form", "second")
    assert "not sent: this session has spent" in printed
    assert len(chat_bodies(fake_server)) == 1 and state.compare.pending is None


def test_a_model_whose_window_the_message_overflows_is_named(chatrepl_home: Path,
                                                            fake_server) -> None:
    run = compare_repl(chatrepl_home, fake_server)
    long = "word " * 600  # ~600 tokens: over `small`'s 400-token window
    _state, printed = run("/compare fake/big fake/small", long, "n")
    assert "do not fit fake/small's 400 window" in printed
    assert "fake/big's" not in printed  # its 100k window holds it
    assert chat_bodies(fake_server) == []
    _state, printed = run(long, "y")
    assert sorted(b["model"] for b in chat_bodies(fake_server)) == ["big", "small"]
