"""The cost guard at the loopback server: a message over `budget.confirm_over_usd` is sent only
after a yes, the session stops at `budget.session_usd` until raised, an unknown price never
blocks (said once), one-shot refuses without `--yes`, and bad budget values name file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from guardhelpers import ENTRIES, chat_bodies, guard_config, one_shot
from test_repl import repl_runner


def budget_repl(home: Path, server, budget: str, model: str = "big"):
    """A REPL on fake/MODEL with `budget` (YAML flow map) and discovery done."""
    server.behavior.models_entries = ENTRIES
    run = repl_runner(home, guard_config(server.url, f"budget: {budget}\n"), "fake", model,
                      since_last_run=True)
    run("/discover fake")
    return run


def test_a_message_over_the_confirmation_limit_needs_a_yes(chatrepl_home: Path,
                                                           fake_server) -> None:
    run = budget_repl(chatrepl_home, fake_server, "{confirm_over_usd: 0.5}")
    # ~6 tokens in + 1000 expected out, at $1000 per 1M tokens: about $1.01
    state, printed = run("hello there", "n")
    assert "may cost about $1.01" in printed and "over $0.50 (budget.confirm_over_usd)" in printed
    assert "not sent" in printed and chat_bodies(fake_server) == []
    assert state.chat.messages == []
    state, printed = run("hello there", "y")
    assert len(chat_bodies(fake_server)) == 1 and len(state.chat.messages) == 2


def test_a_message_under_the_limit_is_not_asked_about(chatrepl_home: Path, fake_server) -> None:
    run = budget_repl(chatrepl_home, fake_server, "{confirm_over_usd: 5}")
    _state, printed = run("hello there")
    assert "may cost" not in printed and len(chat_bodies(fake_server)) == 1


def test_the_session_limit_refuses_until_raised(chatrepl_home: Path, fake_server) -> None:
    run = budget_repl(chatrepl_home, fake_server, "{session_usd: 0.001}")
    state, _printed = run("first")  # nothing spent yet: sent; its reply costs more than $0.001
    assert state.session_cost > 0.001 and len(chat_bodies(fake_server)) == 1
    state, printed = run("second")
    assert "not sent: this session has spent" in printed
    assert "budget.session_usd" in printed and "/budget session" in printed
    assert len(chat_bodies(fake_server)) == 1
    _state, printed = run("/budget session 10", "third")
    assert "session limit: $10" in printed and "for this session only" in printed
    assert len(chat_bodies(fake_server)) == 2
    assert "session_usd: 0.001" in (chatrepl_home / "config.yaml").read_text()  # untouched


def test_an_unknown_price_never_blocks_and_is_said_once(chatrepl_home: Path,
                                                       fake_server) -> None:
    run = budget_repl(chatrepl_home, fake_server, "{confirm_over_usd: 0, session_usd: 0}",
                      model="free-form")
    _state, printed = run("one", "two")
    assert printed.count("the price of fake/free-form is not known") == 1
    assert len(chat_bodies(fake_server)) == 2


def test_budget_shows_and_checks_its_arguments(chatrepl_home: Path, fake_server) -> None:
    run = budget_repl(chatrepl_home, fake_server, "{confirm_over_usd: 0.1}")
    _state, printed = run("/budget", "/budget session lots", "/budget confirm off")
    assert "ask before a message over: $0.10" in printed and "session limit: off" in printed
    assert "'lots' is not an amount in USD" in printed
    assert "ask before a message over: off" in printed


def test_one_shot_refuses_a_costly_message_without_yes(chatrepl_home: Path,
                                                       fake_server) -> None:
    fake_server.behavior.models_entries = ENTRIES
    (chatrepl_home / "config.yaml").write_text(
        guard_config(fake_server.url, "budget: {confirm_over_usd: 0.5}\n"), encoding="utf-8")
    assert one_shot(chatrepl_home, "discover")[0] == 0
    code, out, err = one_shot(chatrepl_home, "-m", "fake/big", "hello")
    assert code == 2 and out == "" and "may cost about" in err and "--yes" in err
    assert chat_bodies(fake_server) == []
    code, out, _err = one_shot(chatrepl_home, "-m", "fake/big", "-y", "hello")
    assert code == 0 and out.strip() == fake_server.behavior.chat_reply


@pytest.mark.parametrize("budget, problem", [
    ("{confirm_over_usd: -1}", "budget.confirm_over_usd: input should be greater than"),
    ("{session_usd: lots}", "budget.session_usd: input should be a valid number"),
    ("{sesion_usd: 2}", "did you mean 'session_usd'"),
])
def test_bad_budget_values_name_the_file_and_line(chatrepl_home: Path, budget: str,
                                                  problem: str) -> None:
    (chatrepl_home / "config.yaml").write_text(f"default_model: x\nbudget: {budget}\n",
                                               encoding="utf-8")
    code, _out, err = one_shot(chatrepl_home, "hello")
    assert code == 2 and "config.yaml:2:" in err and problem in err.lower()
