"""`chatrepl history ...`, one-shot runs writing the history, --continue/--resume/--no-history
from the shell, and the one-time import of the old JSON conversations (legacy fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from historyhelpers import config_for
from test_cli import run

from chatrepl.historydb import HistoryDB

FIXTURES = Path(__file__).parent / "fixtures"
FIRST_FORMAT = FIXTURES / "session-first-format.json"
LATER_FIELDS = FIXTURES / "session-v1-later-fields.json"


@pytest.fixture
def home(chatrepl_home: Path, fake_server) -> Path:
    (chatrepl_home / "config.yaml").write_text(config_for(fake_server.url), encoding="utf-8")
    fake_server.behavior.chat_reply = "the reply"
    return chatrepl_home


def chat(home: Path, *argv: str) -> str:
    code, out, err = run(["-m", "fake/fake-chat", "--no-discover", *argv], home)
    assert code == 0, err
    return out


def test_a_one_shot_turn_is_stored_and_continue_appends_to_it(home: Path) -> None:
    chat(home, "what is a quokka")
    chat(home, "--continue", "and where do they live")
    code, out, _err = run(["history", "list", "--json"], home)
    assert code == 0
    (row,) = json.loads(out)
    assert (row["title"], row["messages"], row["model"]) == ("what is a quokka", 4, "fake-chat")
    code, out, _err = run(["history", "show", str(row["id"])], home)
    assert "## you\n\nand where do they live" in out and "## fake-chat\n\nthe reply" in out


def test_resume_id_continues_that_conversation(home: Path) -> None:
    chat(home, "first topic")
    chat(home, "second topic")
    chat(home, "--resume", "1", "back to the first")
    db = HistoryDB(home / "state" / "history.sqlite3")
    first = db.conversation(1)
    assert first is not None
    assert [m.message.content for m in first.path][::2] == ["first topic", "back to the first"]
    db.close()
    code, _out, err = run(["--resume", "99", "-m", "fake/fake-chat", "hi"], home)
    assert code == 2 and "no conversation '99' in the history" in err


def test_no_history_keeps_a_one_shot_run_out(home: Path) -> None:
    chat(home, "--no-history", "off the record")
    assert not (home / "state" / "history.sqlite3").exists()
    code, _out, err = run(["--no-history", "--resume", "1", "hi"], home)
    assert code == 2 and "--resume needs the history" in err


def test_search_lists_hits_with_marked_snippets_and_json(home: Path) -> None:
    chat(home, "tell me about the aurora borealis")
    chat(home, "now something about volcanoes")
    code, out, _err = run(["history", "search", "aurora"], home)
    assert code == 0 and "you: tell me about the «aurora» borealis" in out
    assert "volcanoes" not in out
    code, out, _err = run(["history", "search", "--json", "volcano"], home)
    hits = json.loads(out)
    assert [h["title"] for h in hits] == ["now something about volcanoes"]
    assert "«volcanoes»" in hits[0]["snippet"]
    for query in ('"', "*", "(", "NEAR", "-", 'aurora" OR (x*'):
        code, out, err = run(["history", "search", "--", query], home)
        assert code == 0 and "Traceback" not in err, query


def test_export_formats_and_file(home: Path, tmp_path: Path) -> None:
    chat(home, "export me")
    target = tmp_path / "out.json"
    code, _out, err = run(["history", "export", "1", "--format", "json", "-o", str(target)], home)
    assert code == 0 and f"wrote {target}" in err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert [m["content"] for m in data["messages"]] == ["export me", "the reply"]
    code, out, _err = run(["history", "export", "1", "--format", "md"], home)
    assert out.startswith("# export me (#1)")


def test_delete_and_purge(home: Path) -> None:
    chat(home, "to delete")
    chat(home, "to purge")
    code, out, _err = run(["history", "delete", "1"], home)
    assert code == 0 and "deleted #1 (to delete)" in out
    code, _out, err = run(["history", "delete", "1"], home)
    assert code == 2 and "no conversation '1'" in err
    code, _out, err = run(["history", "purge", "--before", "2999-01-01"], home)
    assert code == 2 and "pass --yes" in err
    code, _out, err = run(["history", "purge", "--before", "last week"], home)
    assert code == 2 and "not a date" in err
    code, out, _err = run(["history", "purge", "--before", "2000-01-01", "--yes"], home)
    assert code == 0 and "nothing to purge" in out
    code, out, _err = run(["history", "purge", "--before", "2999-01-01", "--yes"], home)
    assert code == 0 and "deleted 1 conversation" in out
    assert json.loads(run(["history", "list", "--json"], home)[1]) == []


def test_import_reads_both_legacy_eras_once(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, out, err = run(["history", "import", str(FIRST_FORMAT), str(LATER_FIELDS), str(bad)],
                         home)
    assert code == 1
    assert "imported as #1" in out and "imported as #2" in out
    assert f"{bad}:1: damaged session file" in err
    code, out, _err = run(["history", "import", str(FIRST_FORMAT)], home)
    assert code == 0 and "already in the history" in out
    db = HistoryDB(home / "state" / "history.sqlite3")
    first = db.conversation(1)
    assert first is not None and first.system_prompt == "Be brief."
    assert [m.message.interrupted for m in first.path] == [False, False, False, True]
    assert db.row(1).title == "hi" and db.row(2).title == "first"  # type: ignore[union-attr]
    db.close()


def test_old_autosave_and_saved_sessions_are_imported_once_and_left_in_place(home: Path) -> None:
    state = home / "state"
    (state / "sessions").mkdir(parents=True, mode=0o700)
    shutil.copy(FIRST_FORMAT, state / "autosave.json")
    shutil.copy(LATER_FIELDS, state / "sessions" / "kept.json")
    shutil.copy(FIRST_FORMAT, state / "sessions" / "same-as-autosave.json")
    before = {p.name: p.read_bytes() for p in (state / "autosave.json",
                                               *sorted((state / "sessions").iterdir()))}
    out = run(["history", "list", "--json"], home)[1]
    rows = json.loads(out)
    assert sorted(r["title"] for r in rows) == ["first", "hi"]  # one copy of the same chat
    assert {r["name"] for r in rows} >= {"kept"}
    run(["history", "delete", str(rows[0]["id"])], home)
    assert len(json.loads(run(["history", "list", "--json"], home)[1])) == 1  # not re-imported
    after = {p.name: p.read_bytes() for p in (state / "autosave.json",
                                              *sorted((state / "sessions").iterdir()))}
    assert after == before


def test_continue_resumes_an_imported_autosave(home: Path, fake_server) -> None:
    state = home / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(LATER_FIELDS, state / "autosave.json")
    (home / "config.yaml").write_text(
        "providers:\n  local:\n"
        f"    base_api_url: {fake_server.url}\n    valid_models: [fake-chat]\n",
        encoding="utf-8")
    code, _out, err = run(["--continue", "--no-discover", "go on"], home)
    assert code == 0, err
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert [m["content"] for m in sent[-1]["messages"]] == ["first", "answer", "go on"]


def test_show_and_export_print_no_control_characters_but_a_file_keeps_the_text(
        home: Path, fake_server, tmp_path: Path) -> None:
    hostile = "Evil \x1b[2J\x1b[31mRED\x1b[0m \u202eevil\u202c bell\x07 end"
    fake_server.behavior.chat_reply = hostile
    chat(home, "say something")
    for argv in (["history", "show", "1"], ["history", "export", "1", "--format", "md"],
                 ["history", "search", "evil"], ["history", "list"]):
        code, out, _err = run(argv, home)
        assert code == 0 and out
        assert not any(ch in out for ch in "\x1b\x07\u202e\u202c"), argv
    assert "Evil [2J[31mRED[0m evil bell end" in run(["history", "show", "1"], home)[1]
    target = tmp_path / "kept.md"
    assert run(["history", "export", "1", "--format", "md", "-o", str(target)], home)[0] == 0
    assert hostile in target.read_text(encoding="utf-8")  # the file is what was said
