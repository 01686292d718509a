"""`--validate` sends one paid request per model: it says how many and asks first."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_repl import repl_runner

from chatrepl.cli import main


class Terminal(io.StringIO):
    """Typed answers on a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def hosted(monkeypatch: pytest.MonkeyPatch, write_config, fake_server) -> Iterator:
    """The loopback server stands for a hosted provider (tests never leave 127.0.0.1)."""
    monkeypatch.setattr("chatrepl.config.is_local_url", lambda url: False)
    fake_server.behavior.models = ["m1", "m2", "m3"]
    write_config(f"providers:\n  cloud:\n    base_url: {fake_server.url}\n    api_key: k-123456789\n")
    yield fake_server


def discover(home: Path, argv: list[str], stdin: io.StringIO) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["discover", "--validate", *argv], env={"CHATREPL_HOME": str(home)}, stdin=stdin,
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_without_a_terminal_validate_needs_yes(hosted, chatrepl_home: Path) -> None:
    code, out, err = discover(chatrepl_home, [], io.StringIO(""))
    assert code == 2 and "--yes" in err and out == ""
    assert hosted.requests == []
    code, _out, err = discover(chatrepl_home, ["--yes"], io.StringIO(""))
    assert code == 0 and "3 chat requests" in err
    assert hosted.count("/chat/completions") == 3


def test_on_a_terminal_it_says_how_many_and_asks(hosted, chatrepl_home: Path) -> None:
    code, out, err = discover(chatrepl_home, ["--json"], Terminal("n\n"))
    assert code == 0 and "3 chat requests" in err and "go ahead? [y/N]" in err
    assert "validation skipped" in err and hosted.count("/chat/completions") == 0
    assert json.loads(out)[0]["models"] == ["m1", "m2", "m3"]
    code, _out, err = discover(chatrepl_home, [], Terminal("y\n"))
    assert code == 0 and hosted.count("/chat/completions") == 3


def test_local_providers_are_validated_without_asking(write_config, chatrepl_home: Path,
                                                      fake_server) -> None:
    write_config(f"providers:\n  near:\n    base_url: {fake_server.url}\n")
    code, _out, err = discover(chatrepl_home, [], io.StringIO(""))
    assert code == 0 and "1 chat requests" in err and "0 to hosted providers" in err
    assert fake_server.count("/chat/completions") == 1  # fake-chat; the embedding model is not tried


def test_repl_discover_validate_asks_for_yes(hosted, chatrepl_home: Path, fake_server) -> None:
    fake_server.behavior.models = ["m1", "m2"]
    run = repl_runner(chatrepl_home, (chatrepl_home / "config.yaml").read_text(encoding="utf-8"),
                      "cloud", "m1", since_last_run=True)
    _state, printed = run("/discover --validate")
    assert "--yes" in printed and "cloud" in printed
    assert fake_server.count("/chat/completions") == 0
    run("/discover cloud --validate --yes")
    assert fake_server.count("/chat/completions") == 2


def test_repl_validate_goes_ahead_when_nothing_goes_to_a_hosted_provider(
        chatrepl_home: Path, fake_server) -> None:
    config = (f"providers:\n  near:\n    base_url: {fake_server.url}\n"
              "  nokey:\n    base_url: https://nokey.example/v1\n")  # hosted, no key: not asked
    run = repl_runner(chatrepl_home, config, "near", "fake-chat", since_last_run=True)
    state, printed = run("/discover --validate")
    assert "--yes" not in printed and "discovering all providers" in printed
    state.runtime.refresher.wait(timeout=30)
    assert fake_server.count("/chat/completions") == 1


def test_cli_validate_without_a_terminal_needs_no_yes_for_a_keyless_hosted_provider(
        write_config, chatrepl_home: Path, fake_server) -> None:
    write_config(f"providers:\n  near:\n    base_url: {fake_server.url}\n"
                 "  nokey:\n    base_url: https://nokey.example/v1\n")
    code, _out, err = discover(chatrepl_home, [], io.StringIO(""))
    assert code == 1  # nokey was skipped (no key); not a usage error (2)
    assert "--yes" not in err and "0 to hosted providers" in err
    assert fake_server.count("/chat/completions") == 1
