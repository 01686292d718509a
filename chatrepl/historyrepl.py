"""The history inside the REPL: loading a stored conversation, naming it, completing `/load`,
and the lines `/history` shows. The slash commands themselves are in history_commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_toolkit.completion import Completer

from chatrepl.errors import HistoryError, UsageError
from chatrepl.historycomplete import ConversationCompleter
from chatrepl.historyuse import find_conversation, require, session_data, snapshot
from chatrepl.sessions import is_explicit_path

if TYPE_CHECKING:
    from chatrepl.historydb import Conversation, HistoryDB
    from chatrepl.replstate import ReplState


def conversation_names(state: ReplState) -> Completer:
    """`/load`'s completer: stored conversations by match and recency, then saved files."""
    return ConversationCompleter(lambda: state.history.recent_rows if state.history else (),
                                 state.store.names)


def resume_stored(state: ReplState, conversation: Conversation) -> None:
    """Make `conversation` the current one: its model, system prompt and current path."""
    state.load_conversation(session_data(conversation))
    state.pending_edit, state.next_input = None, ""
    if state.history is not None:
        state.history.follow(conversation, touch=True)
    state.autosave()


def load_stored(state: ReplState, ref: str) -> Conversation | None:
    """`/load ID` or `/load NAME` from the history: the conversation loaded, or None when
    `ref` names none there (a path, or no history in this run)."""
    if is_explicit_path(ref) or state.history is None:
        return None
    try:
        found = state.history.call(lambda db: find_conversation(db, ref))
    except HistoryError as exc:
        state.printer.warning(str(exc))
        return None
    if found is not None:
        resume_stored(state, found)
    return found


def open_listed(state: ReplState, number: int) -> Conversation:
    """Conversation `number` of the last `/history` listing, loaded."""
    recorder = require(state.history)
    listed = recorder.listed
    if not listed:
        raise UsageError("list conversations first with /history [QUERY]")
    if not 1 <= number <= len(listed):
        raise UsageError(f"/history open N: N is 1 to {len(listed)}")
    wanted = listed[number - 1]

    def fetch(db: HistoryDB) -> Conversation | None:
        return db.conversation(wanted)

    found = recorder.call(fetch)
    if found is None:
        raise UsageError(f"conversation #{wanted} is no longer in the history")
    resume_stored(state, found)
    return found


def name_current(state: ReplState, name: str) -> None:
    """`/save NAME` names the conversation in the history too."""
    if state.history is not None and state.chat.messages:
        state.history.name(name, snapshot(state.chat))
