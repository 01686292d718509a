"""Branches: /retry and /edit keep the earlier reply as a sibling; /branches lists them,
/branch K switches; the toolbar says so; export writes the current path only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from historyhelpers import HistoryRepl
from test_cli import run as run_cli

from chatrepl.historydb import NewMessage
from chatrepl.messages import assistant
from chatrepl.toolbar import toolbar_text

CLEAR_LINE = "\x15"  # Ctrl-U: the input line /edit filled is emptied before typing


@pytest.fixture
def repl(chatrepl_home: Path, fake_server) -> HistoryRepl:
    return HistoryRepl(chatrepl_home, fake_server.url)


def current_path(repl: HistoryRepl, conversation: int = 1) -> list[str]:
    found = repl.db().conversation(conversation)
    assert found is not None
    return [m.message.content for m in found.path]


def test_retry_keeps_the_first_reply_as_a_sibling(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "first reply"
    repl.run("question")
    fake_server.behavior.chat_reply = "second reply"
    printed = repl.run("/retry", "/branches", resume=True)
    assert current_path(repl) == ["question", "second reply"]
    assert "  1. first reply" in printed and "* 2. second reply" in printed
    db = repl.db()
    assert db.row(1).messages == 3 and db.row(1).branched  # type: ignore[union-attr]
    assert repl.state is not None and "branches" in toolbar_text(repl.state)
    narrow = toolbar_text(repl.state, 28)  # `branches` gives way before the model and tokens
    assert "branches" not in narrow and "fake/fake-chat" in narrow and "tokens" in narrow


def test_branch_switches_to_the_other_reply_and_goes_on_from_there(repl: HistoryRepl,
                                                                    fake_server) -> None:
    fake_server.behavior.chat_reply = "first reply"
    repl.run("question")
    fake_server.behavior.chat_reply = "second reply"
    repl.run("/retry", resume=True)
    fake_server.behavior.chat_reply = "third"
    printed = repl.run("/branch 1", "follow-up", resume=True)
    assert "branch 1: model fake/fake-chat · 2 messages" in printed
    assert current_path(repl) == ["question", "first reply", "follow-up", "third"]
    sent = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert [m["content"] for m in sent[-1]["messages"]] == ["question", "first reply",
                                                            "follow-up"]
    printed = repl.run("/branch 2", resume=True)  # back to the retried reply
    assert current_path(repl) == ["question", "second reply"]


def test_edit_sends_a_changed_question_and_keeps_the_old_one(repl: HistoryRepl,
                                                             fake_server) -> None:
    fake_server.behavior.chat_reply = "reply"
    repl.run("first question", "second question")
    fake_server.behavior.chat_reply = "edited reply"
    printed = repl.run("/edit", CLEAR_LINE + "second, better", "/branches", resume=True)
    assert current_path(repl) == ["first question", "reply", "second, better", "edited reply"]
    assert "  1. second question" in printed and "* 2. second, better" in printed
    printed = repl.run("/branch 1", resume=True)
    assert current_path(repl) == ["first question", "reply", "second question", "reply"]


def test_edit_n_fills_the_input_line_with_that_message(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "reply"
    repl.run("one", "two")
    printed = repl.run("/edit 2", " more", resume=True)  # typed after the text put there
    assert "edit the message and press Enter" in printed
    assert current_path(repl) == ["one more", "reply"]
    assert repl.state is not None and repl.state.pending_edit is None
    assert repl.state.next_input == ""


@pytest.mark.parametrize(("line", "message"), [("/edit 5", "/edit N: N is 1 to 1"),
                                               ("/edit x", "usage: /edit [N]"),
                                               ("/branch 9", "/branch K: K is 1 to 2"),
                                               ("/branch", "usage: /branch K")])
def test_bad_edit_and_branch_numbers_say_the_range(repl: HistoryRepl, fake_server, line: str,
                                                   message: str) -> None:
    fake_server.behavior.chat_reply = "a"
    repl.run("q")
    fake_server.behavior.chat_reply = "b"
    printed = repl.run("/retry", line, resume=True)
    assert message in printed


def test_no_branches_is_said(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "a"
    printed = repl.run("q", "/branches")
    assert "no branches here" in printed
    assert repl.state is not None and "branches" not in toolbar_text(repl.state)


def test_sibling_replies_api_stores_alternatives_beside_the_last_reply(repl: HistoryRepl,
                                                                      fake_server) -> None:
    fake_server.behavior.chat_reply = "kept"
    state, _out, _notices = repl.start()
    repl.type(state, "compare these")
    assert state.history is not None
    state.history.add_sibling_replies([NewMessage(assistant("other model's"), "p2", "m2")])
    assert state.history.flush()
    question = repl.db().conversation(1).path[0].id  # type: ignore[union-attr]
    siblings = repl.db().children(1, question)
    assert [(s.message.content, s.model) for s in siblings] == [("kept", "fake-chat"),
                                                                ("other model's", "m2")]
    assert current_path(repl) == ["compare these", "kept"]


def test_export_writes_the_current_path(repl: HistoryRepl, fake_server,
                                        chatrepl_home: Path) -> None:
    fake_server.behavior.chat_reply = "old answer"
    repl.run("question")
    fake_server.behavior.chat_reply = "new answer"
    repl.run("/retry", resume=True)
    code, out, err = run_cli(["history", "export", "1", "--format", "json"], chatrepl_home)
    assert code == 0, err
    assert [m["content"] for m in json.loads(out)["messages"]] == ["question", "new answer"]
    code, out, _err = run_cli(["history", "export", "1"], chatrepl_home)
    assert "new answer" in out and "old answer" not in out and out.startswith("# question")


def test_turns_the_context_guard_left_out_are_not_a_branch_and_stay_left_out(tmp_path: Path) -> None:
    from dataclasses import replace

    from chatrepl.historydb import HistoryDB
    from chatrepl.historyrecorder import HistoryRecorder, Snapshot
    from chatrepl.messages import user

    path = tmp_path / "h.sqlite3"
    recorder = HistoryRecorder(path, lambda line: None)
    first = (user("old question"), assistant("old answer"))
    recorder.record(Snapshot("p", "m", None, first))
    left_out = tuple(replace(m, left_out=True) for m in first)
    recorder.record(Snapshot("p", "m", None, (*left_out, user("new"), assistant("reply"))))
    recorder.close()
    db = HistoryDB(path)
    row = db.row(1)
    assert row is not None and row.messages == 4 and not row.branched
    # Resumed, it leaves out what it left out (`--continue`, `/load ID`).
    conversation = db.conversation(1)
    assert conversation is not None
    assert [m.message.left_out for m in conversation.path] == [True, True, False, False]
    db.close()
    recorder = HistoryRecorder(path, lambda line: None)
    recorder.follow(conversation)  # `/context --restore` sends them again
    recorder.record(Snapshot("p", "m", None, (*first, user("new"), assistant("reply"))))
    recorder.close()
    db = HistoryDB(path)
    restored = db.conversation(1)
    assert restored is not None and not any(m.message.left_out for m in restored.path)
    db.close()


def test_undo_then_a_new_turn_keeps_the_undone_one_as_a_branch(repl: HistoryRepl,
                                                                fake_server) -> None:
    fake_server.behavior.chat_reply = "a"
    repl.run("one", "two", "/undo", CLEAR_LINE + "three")
    assert current_path(repl) == ["one", "a", "three", "a"]
    db = repl.db()
    row = db.row(1)
    assert row is not None and row.messages == 6 and row.branched


def test_branches_previews_fit_the_screen(repl: HistoryRepl, fake_server) -> None:
    fake_server.behavior.chat_reply = "long " * 40
    repl.run("question")
    fake_server.behavior.chat_reply = "longer " * 40
    printed = repl.run("/retry", "/branches", resume=True)
    listed = [line for line in printed.splitlines() if line[1:4] in (" 1.", " 2.")]
    assert len(listed) == 2 and all(len(line) < 80 for line in listed)  # 80-column printer
