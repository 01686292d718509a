"""Slash commands of the history: /history, /edit, /branches, /branch (registered on the one
REGISTRY; slash_commands imports this module)."""

from __future__ import annotations

from prompt_toolkit.completion import Completer

from chatrepl.branching import alternatives, switch_branch, user_message_index
from chatrepl.completer import WordListCompleter
from chatrepl.errors import UsageError
from chatrepl.historydb import ConversationRow, HistoryDB, SearchHit
from chatrepl.historyrepl import open_listed
from chatrepl.historyuse import require
from chatrepl.historyview import hit_lines, listing
from chatrepl.replstate import ReplState, resumed_lines
from chatrepl.slash_commands import command

SHOWN = 20


def history_words(state: ReplState) -> Completer:
    return WordListCompleter(lambda: ["open"])


@command("/history", help="recent conversations, or search them all (/history open N"
         " resumes one)", usage="/history [QUERY | open N]", completer=history_words)
def _history(state: ReplState, argument: str) -> None:
    recorder = require(state.history)
    word, _, rest = argument.partition(" ")
    if word == "open" and rest.strip():
        if not rest.strip().isdigit():
            raise UsageError("usage: /history open N (N from the last /history listing)")
        found = open_listed(state, int(rest.strip()))
        for line in resumed_lines(state.chat, f"loaded #{found.row.id}"):
            state.printer.info(line)
        state.redraw()
        return
    if not argument:
        rows: list[ConversationRow] = recorder.call(lambda db: db.recent(SHOWN))
        recorder.listed = [row.id for row in rows]
        if not rows:
            state.printer.line("no conversations in the history yet")
            return
        for line in listing(rows):
            state.printer.line(line)
    else:
        def search(db: HistoryDB) -> list[SearchHit]:
            return db.search(argument, SHOWN)

        hits = recorder.call(search)
        recorder.listed = [hit.conversation.id for hit in hits]
        if not hits:
            state.printer.line(f"nothing in the history matches {argument!r}")
            return
        for number, hit in enumerate(hits, 1):
            for line in hit_lines(hit, number):
                state.printer.line(line)
    state.printer.info("/history open N or /load ID resumes one")


@command("/edit", help="edit your Nth-last message (default 1) and send it as a new branch",
         usage="/edit [N]")
def _edit(state: ReplState, argument: str) -> None:
    if argument and not argument.isdigit():
        raise UsageError("usage: /edit [N] (1 is your last message)")
    index = user_message_index(state.chat.messages, int(argument or 1))
    state.pending_edit = index
    state.next_input = state.chat.messages[index].content
    state.printer.info("edit the message and press Enter; the earlier answer is kept as a"
                       " branch (/branches)")


@command("/branches", help="list the alternatives at the last branching point")
def _branches(state: ReplState, argument: str) -> None:
    recorder = require(state.history)

    def find(db: HistoryDB) -> tuple[list[str], int] | None:
        if recorder.conversation_id is None:
            return None
        found = alternatives(db, recorder.conversation_id, recorder.path_ids)
        if found is None:
            return None
        texts = [s.message.content for s in found.siblings]
        return texts, found.current

    result = recorder.call(find)
    if result is None:
        state.printer.line("no branches here (/retry and /edit make them)")
        return
    texts, current = result
    room = max(20, min(100, state.printer.columns() - 7))  # `* 1. `, `…`, the last column
    for number, text in enumerate(texts, 1):
        mark = "*" if number - 1 == current else " "
        flat = " ".join(text.split())
        state.printer.line(f"{mark}{number:>2}. {flat[:room] + ('…' if len(flat) > room else '')}")
    state.printer.info("/branch K switches (* is the one shown)")


@command("/branch", help="switch to alternative K of /branches", usage="/branch K")
def _branch(state: ReplState, argument: str) -> None:
    recorder = require(state.history)
    if not argument.isdigit():
        raise UsageError("usage: /branch K (see /branches)")
    number = int(argument)
    messages = recorder.call(lambda db: switch_branch(recorder, db, number))
    state.chat.messages = messages
    state.chat.unsent = None
    state.pending_edit, state.next_input = None, ""
    state.autosave()
    for line in resumed_lines(state.chat, f"branch {number}"):
        state.printer.info(line)
    state.redraw()
