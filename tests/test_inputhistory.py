"""The input history file stays small: big entries are not stored, old entries are dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_repl import repl_runner

from chatrepl.inputhistory import MAX_ENTRY_BYTES, BoundedFileHistory
from chatrepl.paths import resolve_paths


def _load(history: BoundedFileHistory) -> list[str]:
    return list(history.load_history_strings())


def test_a_huge_paste_typed_in_the_repl_is_not_written(chatrepl_home: Path, fake_server) -> None:
    run = repl_runner(chatrepl_home,
                      f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n"
                      "    valid_models: [fake-chat]\n", "fake", "fake-chat")
    fake_server.behavior.chat_reply = "ok"
    paste = "x" * (MAX_ENTRY_BYTES + 100)
    run("short line", paste, "another line")
    history_file = resolve_paths({"CHATREPL_HOME": str(chatrepl_home)}).history_file
    text = history_file.read_text(encoding="utf-8")
    assert "+short line" in text and "+another line" in text
    assert paste not in text and len(text) < 1000


def test_entries_over_the_limit_are_skipped_small_ones_kept(tmp_path: Path) -> None:
    history = BoundedFileHistory(tmp_path / "h", max_entry_bytes=50)
    history.store_string("small")
    history.store_string("line one\n" * 20)
    history.store_string("also small")
    assert _load(BoundedFileHistory(tmp_path / "h", max_entry_bytes=50)) == ["also small", "small"]


@pytest.mark.parametrize(("max_entries", "max_file_bytes", "kept"), [
    (3, 10_000, ["entry 9", "entry 8", "entry 7"]),
    (100, 30, ["entry 9", "entry 8", "entry 7"]),  # each entry is 9 bytes on disk
])
def test_the_file_keeps_only_the_newest_entries(tmp_path: Path, max_entries: int,
                                                max_file_bytes: int, kept: list[str]) -> None:
    path = tmp_path / "h"
    writer = BoundedFileHistory(path)
    for index in range(10):
        writer.store_string(f"entry {index}")
    history = BoundedFileHistory(path, max_entries=max_entries, max_file_bytes=max_file_bytes)
    assert _load(history) == kept
    assert path.stat().st_mode & 0o777 == 0o600
    assert "entry 6" not in path.read_text()  # the file itself was trimmed
    assert _load(BoundedFileHistory(path)) == kept  # and reads back the same


def test_an_oversized_entry_already_in_the_file_is_dropped_on_load(tmp_path: Path) -> None:
    path = tmp_path / "h"
    path.write_text("\n# old\n+keep me\n\n# old\n" + "+y\n" * 5000, encoding="utf-8")
    assert _load(BoundedFileHistory(path)) == ["keep me"]
    assert path.stat().st_size < 100
