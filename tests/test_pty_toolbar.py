"""The toolbar and the prompt line as a real terminal shows them, at 120 and 40 columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from ptyscreen import Terminal
from test_toolbar import eight_providers, servers  # noqa: F401  (the servers fixture)


def _toolbar_done(lines: list[str]) -> bool:
    """The toolbar is up and no longer says discovery is running."""
    bottom = next((line for line in reversed(lines) if line.strip()), "")
    return "tokens 0" in bottom and "…" not in bottom and "loading" not in bottom


@pytest.mark.parametrize("columns", [120, 40])
def test_toolbar_after_startup_discovery_fits_and_is_not_frozen(
        chatrepl_home: Path, servers, columns: int) -> None:  # noqa: F811
    config = eight_providers(servers).replace("on_startup: false", "on_startup: true")
    (chatrepl_home / "config.yaml").write_text(config, encoding="utf-8")
    term = Terminal(chatrepl_home, "-m", "alpha/fake-chat", columns=columns)
    try:
        # No key is pressed: the last redraw of the discovery round shows its outcome.
        lines = term.wait_for(_toolbar_done, "the toolbar after discovery")
        bottom = term.bottom_line()
        assert bottom.startswith(" alpha/fake-chat") and bottom.endswith("tokens 0")
        assert len(bottom) < columns
        if columns == 120:
            assert "✗ 4 failed" in bottom  # eight providers do not fit: the summary is shortened
        else:
            assert bottom.split() == ["alpha/fake-chat", "│", "tokens", "0"]
        assert sum("tokens 0" in line for line in lines) == 1  # one toolbar line, not wrapped
    finally:
        assert term.close() == 0


def test_typing_right_after_ctrl_c_closes_the_menu_keeps_the_prompt_line(
        chatrepl_home: Path, fake_server) -> None:
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n  fake:\n"
        f"    base_api_url: {fake_server.url}\n"
        "    valid_models: {fake-chat: fc, gemma-small: gem}\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    term = Terminal(chatrepl_home, columns=120)
    try:
        term.wait_for(lambda lines: any("tokens 0" in line for line in lines), "the toolbar")
        term.child.send("/m")
        term.wait_for(lambda lines: any("/models" in line for line in lines)
                      and any(line.startswith("› /m") for line in lines), "the completion menu")
        term.child.sendcontrol("c")
        term.child.send("/model gem")
        lines = term.wait_for(lambda lines: any("/model gem" in line for line in lines)
                              and not any("/models" in line for line in lines),
                              "the typed text, the menu closed")
        typed = [line for line in lines if "/model gem" in line]
        assert typed == ["› /model gem"], term.text()
        term.child.sendcontrol("u")  # clear the line
        term.wait_for(lambda lines: not any("/model gem" in line for line in lines),
                      "an empty prompt line")
        term.child.send("\r")
        term.child.send("/model gem\r")
        term.wait_text("model: fake/gemma-small")
    finally:
        assert term.close() == 0
