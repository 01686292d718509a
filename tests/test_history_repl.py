"""The history in the REPL: every turn stored as it completes, /history, /load, /save NAME,
--continue and --resume from the database, --no-history and `history: false`."""

from __future__ import annotations

from pathlib import Path

import pytest
from historyhelpers import HistoryRepl

from chatrepl.historydb import HistoryDB


@pytest.fixture
def repl(chatrepl_home: Path, fake_server) -> HistoryRepl:
    return HistoryRepl(chatrepl_home, fake_server.url)


def stored_paths(db: HistoryDB) -> list[list[str]]:
    """The current path of each conversation, by id."""
    paths = []
    for row in sorted(db.recent(100), key=lambda r: r.id):
        found = db.conversation(row.id)
        assert found is not None
        paths.append([m.message.content for m in found.path])
    return paths


def test_each_turn_is_stored_when_it_completes(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "an answer"
    repl.run("first question", "second question")
    db = repl.db()
    assert stored_paths(db) == [["first question", "an answer", "second question", "an answer"]]
    row = db.recent()[0]
    assert (row.title, row.provider, row.model) == ("first question", "fake", "fake-chat")
    found = db.conversation(row.id)
    assert found is not None and found.path[1].model == "fake-chat"
    assert found.path[1].usage is not None  # the fake server reports usage


def test_clear_starts_a_new_conversation(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "ok"
    repl.run("one", "/clear", "two")
    assert stored_paths(repl.db()) == [["one", "ok"], ["two", "ok"]]


def test_history_lists_recent_and_searches_with_marked_snippets(repl: HistoryRepl,
                                                                 fake_server) -> None:
    fake_server.behavior.chat_reply = "fine"
    repl.run("tell me about walruses", "/clear", "and about owls")
    printed = repl.run("/history", "/history WALRUSES", '/history "(NEAR*-', "/history zebra")
    recent = printed.index(" 1. #2 ")
    assert "and about owls" in printed[recent:] and " 2. #1 " in printed
    assert "you: tell me about «walruses»" in printed
    assert "nothing in the history matches 'zebra'" in printed
    assert "error" not in printed.lower()


def test_history_open_and_load_id_resume_a_conversation(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "noted"
    repl.run("remember the lighthouse", "/clear", "something else")
    printed = repl.run("/history lighthouse", "/history open 1")
    assert "loaded #1: model fake/fake-chat · 2 messages" in printed
    assert repl.state is not None
    assert [m.content for m in repl.state.chat.messages] == ["remember the lighthouse", "noted"]
    repl.run("/load 2", "and more")
    assert stored_paths(repl.db()) == [["remember the lighthouse", "noted"],
                                       ["something else", "noted", "and more", "noted"]]


def test_save_names_the_conversation_and_load_name_resumes_it(repl: HistoryRepl,
                                                             fake_server) -> None:
    fake_server.behavior.chat_reply = "ok"
    repl.run("plan the trip", "/save trip", "/clear", "unrelated")
    db = repl.db()
    assert db.named("trip") == 1
    repl.run("/load trip", "next step")
    assert stored_paths(repl.db())[0] == ["plan the trip", "ok", "next step", "ok"]


def test_load_path_still_reads_a_json_file(repl: HistoryRepl, fake_server, tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "session-v1-later-fields.json"
    printed = repl.run(f"/load {fixture}")
    assert "loaded" in printed and "error" not in printed.lower()
    assert repl.state is not None
    assert [m.content for m in repl.state.chat.messages] == ["first", "answer"]


def test_continue_and_resume_read_the_history(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "ok"
    repl.run("alpha", "/clear", "beta")
    _state, _out, notices = repl.start(resume=True)
    assert "resumed the last conversation: model fake/fake-chat · 2 messages" in notices
    assert "  you: beta" in notices
    state, _out, notices = repl.start(resume_id="1")
    assert [m.content for m in state.chat.messages] == ["alpha", "ok"]
    repl.type(state, "gamma")
    assert stored_paths(repl.db())[0] == ["alpha", "ok", "gamma", "ok"]


def test_resume_of_an_unknown_id_is_one_line(repl: HistoryRepl) -> None:
    from chatrepl.errors import UsageError

    with pytest.raises(UsageError, match="no conversation '42' in the history"):
        repl.start(resume_id="42")


def test_no_history_writes_nothing(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "ok"
    printed = repl.run("secret talk", "/history", no_history=True)
    assert not repl.paths.history_db.exists()
    assert "the history is off in this run" in printed


def test_history_false_in_the_config_writes_nothing(chatrepl_home: Path, fake_server) -> None:
    repl = HistoryRepl(chatrepl_home, fake_server.url, "history: false\n")
    repl.run("secret talk")
    assert not repl.paths.history_db.exists()


def test_load_completes_conversations_by_match_then_recency(repl: HistoryRepl,
                                                           fake_server) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    fake_server.behavior.chat_reply = "ok"
    repl.run("penguin migration", "/clear", "rust lifetimes", "/clear", "penguin diets")
    state, _out, _notices = repl.start()
    assert state.history is not None and state.history.flush()
    from chatrepl.repl import build_completer

    def completions(text: str) -> list[str]:
        found = build_completer(state).get_completions(Document(text),
                                                       CompleteEvent(completion_requested=True))
        return [c.text for c in found]

    assert completions("/load ")[:3] == ["3", "2", "1"]  # newest first
    assert completions("/load peng")[:2] == ["3", "1"]
    assert completions("/load lifet")[:1] == ["2"]
    assert "2" not in completions("/load peng")
