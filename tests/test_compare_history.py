"""/keep stores the compared turn in the history: the kept reply on the conversation's path,
the other replies as its siblings."""

from __future__ import annotations

from pathlib import Path

from comparehelpers import config_text, started_servers
from historyhelpers import HistoryRepl


def test_keep_stores_the_kept_reply_on_the_path_and_the_others_as_siblings(
        chatrepl_home: Path) -> None:
    with started_servers() as servers:
        repl = HistoryRepl(chatrepl_home, servers[0].url)
        (chatrepl_home / "config.yaml").write_text(config_text(servers), encoding="utf-8")
        repl.run("first question", "/compare alpha/alpha-model beta/beta-model gamma/gamma-model",
                 "which one?", "/keep 2", model="alpha/alpha-model")
    db = repl.db()
    conversation = db.conversation(1)
    assert conversation is not None
    assert [m.message.content for m in conversation.path] == [
        "first question", "alpha says hi", "which one?", "beta says hi"]
    question = conversation.path[2]
    replies = db.children(1, question.id)
    assert sorted(m.message.content for m in replies) == [
        "alpha says hi", "beta says hi", "gamma says hi"]
    row = db.row(1)
    assert row is not None and row.branched and row.messages == 6
