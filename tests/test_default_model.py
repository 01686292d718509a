"""default_model on a first run (nothing discovered yet): the REPL selects it once discovery
finds it, one-shot discovers before giving up, and a provider that does not exist is named."""

from __future__ import annotations

import io
from pathlib import Path

from fakeserver import FakeOpenAIServer
from test_names import repl_state, run, runtime_for, sent_models

from chatrepl.cli import build_parser
from chatrepl.entry import prepare_repl
from chatrepl.repl import handle_line
from chatrepl.replstate import ReplState


def first_run_config(url: str, default: str) -> str:
    """One provider that lists `pricey` once discovered; nothing is discovered yet."""
    return (f"default_model: {default}\ndiscovery: {{on_startup: false}}\n"
            f"providers:\n  good:\n    base_url: {url}\n")


def start(home: Path) -> tuple[ReplState, list[str], io.StringIO]:
    out = io.StringIO()
    args = build_parser().parse_args([])
    state, notices, _start = prepare_repl(runtime_for(home), args, out, out)
    return state, list(notices), out


def test_repl_selects_the_default_model_when_discovery_finds_it(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["cheap", "pricey"]
    write_config(first_run_config(fake_server.url, "pricey"))
    state, notices, out = start(chatrepl_home)
    said = [line for line in notices if "default_model" in line]
    assert len(said) == 1 and "`/models`" in said[0] and "chatrepl models" not in said[0]
    assert state.current_model == ""
    state.runtime.refresher.refresh()  # a discovery round (synchronous here) completes
    assert state.current_model == "good/pricey"
    assert "default_model pricey: found by discovery; model: good/pricey" in out.getvalue()
    handle_line(state, "hello")
    assert sent_models(fake_server) == ["pricey"]


def test_repl_keeps_the_model_the_user_chose_meanwhile(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["cheap", "pricey"]
    write_config(first_run_config(fake_server.url, "pricey"))
    state, _notices, out = start(chatrepl_home)
    handle_line(state, "/model good/cheap")
    state.runtime.refresher.refresh()
    assert state.current_model == "good/cheap" and "found by discovery" not in out.getvalue()


def test_one_shot_first_run_discovers_before_giving_up(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["cheap", "pricey"]
    write_config(first_run_config(fake_server.url, "pricey"))
    code, out, err = run(chatrepl_home, "hello")
    assert (code, err) == (0, "")
    assert out.startswith("Hello from the fake server.")
    assert sent_models(fake_server) == ["pricey"]
    code, out, err = run(chatrepl_home, "-m", "cheap", "again")  # a bare -m from the cache now
    assert code == 0 and sent_models(fake_server) == ["pricey", "cheap"]


def test_a_default_model_of_no_configured_provider_names_the_provider(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = []  # nothing to fall back on
    write_config(first_run_config(fake_server.url, "ghost/model-x"))
    _state, notices, _out = repl_state(chatrepl_home)
    said = [line for line in notices if "default_model" in line]
    assert len(said) == 1 and "no provider named 'ghost'" in said[0]
    assert "configured: good" in said[0] and "unknown model" not in said[0]
    code, _out, err = run(chatrepl_home, "hello")
    assert code == 2 and "no provider named 'ghost'" in err
    assert "set default_model" not in err  # it is set; -m is the way out
