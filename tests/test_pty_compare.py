"""/compare in a real pseudo-terminal: the replies stream side by side and the frame is redrawn
in place (each header once on the screen), then /keep goes on with one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from comparehelpers import config_text, started_servers
from ptyscreen import Terminal

ROWS, COLUMNS = 30, 100


@pytest.fixture
def servers() -> Iterator[list]:
    with started_servers(2) as started:
        yield started


def _prompt_after(text: str) -> Callable[[list[str]], bool]:
    """True once a prompt is drawn below the line showing `text`: keys typed before it would
    reach a terminal in cooked mode (Ctrl-D would be taken as end of input by the tty)."""
    def check(lines: list[str]) -> bool:
        shown = [i for i, line in enumerate(lines) if text in line]
        return bool(shown) and any(line.startswith("›") for line in lines[shown[-1] + 1:])

    return check


def test_compare_draws_columns_in_place_and_keep_goes_on(chatrepl_home: Path, servers) -> None:
    (chatrepl_home / "config.yaml").write_text(
        config_text(servers) + "discovery: {on_startup: false}\n", encoding="utf-8")
    servers[1].behavior.chat_reply = " ".join(f"word{i}" for i in range(40))
    servers[1].behavior.chunk_delay = 0.03  # about 1.2 s of frames redrawn while it streams
    terminal = Terminal(chatrepl_home, columns=COLUMNS, rows=ROWS)
    try:
        terminal.wait_text("›")
        terminal.child.send("/compare al be\r")
        terminal.wait_text("compare mode: the next message goes to")
        terminal.child.send("hello\r")
        lines = terminal.wait_text("go on with one: /keep K (1-2)")
        headers = [line for line in lines if "[1] alpha/alpha-model" in line]
        assert len(headers) == 1, terminal.text()  # redrawn in place, not once per frame
        assert "│ [2] beta/beta-model" in headers[0]  # side by side
        row = lines.index(headers[0]) + 2
        assert lines[row].startswith("alpha says hi") and "│ word0 word1" in lines[row]
        assert any("word39" in line for line in lines)  # the whole reply in the end
        assert sum("tok/s" in line for line in lines) == 1  # both figures on one row
        terminal.child.send("/keep 2\r")
        terminal.wait_for(_prompt_after("kept reply 2 (beta/beta-model)"), "the next prompt")
    finally:
        status = terminal.close()
    assert status == 0
