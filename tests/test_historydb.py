"""The history store on real SQLite files: schema, privacy, turns, branches, search, deletion."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from chatrepl.historydb import MATCH_END, MATCH_START, HistoryDB, NewMessage, fts_query, title_of
from chatrepl.messages import Message, assistant, user


@pytest.fixture
def db(tmp_path: Path):
    store = HistoryDB(tmp_path / "state" / "history.sqlite3")
    yield store
    store.close()


def turn(question: str, answer: str) -> list[NewMessage]:
    return [NewMessage(user(question)), NewMessage(assistant(answer), "prov", "mod",
                                                   {"prompt_tokens": 3, "completion_tokens": 5},
                                                   0.25)]


def test_the_file_is_private_and_in_wal_mode(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    db.add_messages(conversation, None, turn("q", "a"))
    for name in os.listdir(db.path.parent):
        assert stat.S_IMODE((db.path.parent / name).stat().st_mode) == 0o600, name
    with sqlite3.connect(db.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.check() == "ok"


def test_a_turn_is_stored_with_its_model_usage_cost_and_title(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod", "be brief")
    reply = Message("assistant", "four", parameters={"temperature": 0.2},
                    attachments=({"kind": "file", "name": "a.txt"},))
    db.add_messages(conversation, None, [
        NewMessage(user("\n  What is   2+2?\nsecond line")),
        NewMessage(reply, "prov", "mod", {"prompt_tokens": 7, "completion_tokens": 1}, 0.5)])
    stored = db.conversation(conversation)
    assert stored is not None
    assert stored.row.title == "What is 2+2?"
    assert stored.system_prompt == "be brief"
    assert [m.message for m in stored.path] == [user("\n  What is   2+2?\nsecond line"), reply]
    answer = stored.path[1]
    assert (answer.provider, answer.model, answer.cost) == ("prov", "mod", 0.5)
    assert answer.usage == {"prompt_tokens": 7, "completion_tokens": 1}
    assert stored.path[1].parent_id == stored.path[0].id and stored.path[0].parent_id is None


def test_an_interrupted_reply_is_marked(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    db.add_messages(conversation, None, [NewMessage(user("q")),
                                         NewMessage(assistant("half", interrupted=True))])
    stored = db.conversation(conversation)
    assert stored is not None and stored.path[-1].message.interrupted


def test_a_second_reply_becomes_a_sibling_and_the_first_stays(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    question, first = db.add_messages(conversation, None, turn("q", "first answer"))
    assert db.row(conversation).branched is False  # type: ignore[union-attr]
    (second,) = db.add_messages(conversation, question, [NewMessage(assistant("second"))])
    assert db.row(conversation).branched is True  # type: ignore[union-attr]
    assert [m.id for m in db.children(conversation, question)] == [first, second]
    current = db.conversation(conversation)
    assert current is not None and [m.message.content for m in current.path] == ["q", "second"]
    old = db.conversation(conversation, leaf_id=first)
    assert old is not None and [m.message.content for m in old.path] == ["q", "first answer"]


def test_sibling_replies_do_not_move_the_current_path(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    question, kept = db.add_messages(conversation, None, turn("q", "kept"))
    others = db.add_sibling_replies(conversation, question, [NewMessage(assistant("b"), "p2", "m2"),
                                                             NewMessage(assistant("c"), "p3", "m3")])
    assert len(others) == 2
    current = db.conversation(conversation)
    assert current is not None and current.path[-1].id == kept
    siblings = db.children(conversation, question)
    assert [(s.message.content, s.model) for s in siblings] == [("kept", "mod"), ("b", "m2"),
                                                                ("c", "m3")]


def test_latest_leaf_follows_the_newest_child(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    question, answer = db.add_messages(conversation, None, turn("q", "a"))
    _q2, a2 = db.add_messages(conversation, answer, turn("q2", "a2"))
    assert db.latest_leaf(question) == a2


def test_recent_lists_newest_first_with_counts(db: HistoryDB) -> None:
    first = db.new_conversation("prov", "mod", created=100.0)
    db.add_messages(first, None, turn("old", "x"), when=100.0)
    second = db.new_conversation("prov", "mod", created=200.0)
    db.add_messages(second, None, turn("new", "y") + turn("more", "z")[:1], when=200.0)
    rows = db.recent()
    assert [(r.id, r.title, r.messages) for r in rows] == [(second, "new", 3), (first, "old", 2)]
    assert db.latest() == second


def test_search_finds_words_anywhere_with_a_marked_snippet(db: HistoryDB) -> None:
    for question, answer in (("about penguins", "they live in Antarctica"),
                             ("about rust", "ownership and borrowing"),
                             ("penguin facts again", "emperor penguins are tall")):
        db.add_messages(db.new_conversation("prov", "mod"), None, turn(question, answer))
    hits = db.search("penguins")
    assert [h.conversation.title for h in hits] == ["penguin facts again", "about penguins"]
    assert f"{MATCH_START}penguins{MATCH_END}" in hits[0].snippet
    assert "«penguins»" in hits[0].marked()
    assert [h.conversation.title for h in db.search("borrow")] == ["about rust"]  # a prefix
    assert db.search("antarctica ownership") == []  # every word must match one message


def test_search_gives_one_hit_per_conversation_at_its_latest_match(db: HistoryDB) -> None:
    conversation = db.new_conversation("prov", "mod")
    db.add_messages(conversation, None, turn("kiwi one", "kiwi two"))
    hits = db.search("kiwi")
    assert len(hits) == 1 and hits[0].role == "assistant"


@pytest.mark.parametrize("query", ['"', '*', '(', 'NEAR', '-', 'NEAR(a b)', 'a OR', '"unclosed',
                                   'x* (y', '-minus', 'AND', '^start', 'col:value', "''", '\x00'])
def test_fts_syntax_characters_are_searched_as_text(db: HistoryDB, query: str) -> None:
    conversation = db.new_conversation("prov", "mod")
    db.add_messages(conversation, None, turn('text with "quotes" (parens) NEAR -minus x* y',
                                             "AND OR col:value ^start"))
    db.search(query)  # never raises
    assert all(word.startswith('"') for word in fts_query(query).split())


def test_syntax_words_match_as_words(db: HistoryDB) -> None:
    db.add_messages(db.new_conversation("prov", "mod"), None, turn("stand NEAR me", "ok"))
    db.add_messages(db.new_conversation("prov", "mod"), None, turn("far away", "ok"))
    assert [h.conversation.title for h in db.search("NEAR")] == ["stand NEAR me"]
    assert [h.conversation.title for h in db.search('"far')] == ["far away"]


def test_names_ids_delete_and_purge(db: HistoryDB) -> None:
    old = db.new_conversation("prov", "mod", created=10.0)
    db.add_messages(old, None, turn("old", "x"), when=10.0)
    new = db.new_conversation("prov", "mod")
    db.add_messages(new, None, turn("new", "y"))
    db.set_name(new, "work")
    assert db.named("work") == new
    db.set_name(old, "work")  # the name moves
    assert db.named("work") == old and db.row(new).name is None  # type: ignore[union-attr]
    assert db.purge(before=1000.0) == 1
    assert db.row(old) is None and db.search("old") == []
    assert db.delete(new) is True and db.delete(new) is False
    assert db.recent() == [] and db.search("new") == []
    with sqlite3.connect(db.path) as raw:
        assert raw.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_titles_are_one_trimmed_printable_line() -> None:
    assert title_of("\n\n  hello\x1b[31m   world \nmore") == "hello[31m world"
    assert len(title_of("word " * 100)) == 80


def test_a_database_opened_twice_keeps_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    first = HistoryDB(path)
    first.add_messages(first.new_conversation("p", "m"), None, turn("q", "a"))
    first.close()
    again = HistoryDB(path)
    assert [r.title for r in again.recent()] == ["q"]
    again.close()


def test_a_database_from_before_left_out_messages_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    HistoryDB(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE messages DROP COLUMN left_out")
    db = HistoryDB(path)
    conversation = db.new_conversation("p", "m")
    db.add_messages(conversation, None, [NewMessage(Message("user", "hi", left_out=True))])
    found = db.conversation(conversation)
    assert found is not None and [m.message.left_out for m in found.path] == [True]
    db.close()
