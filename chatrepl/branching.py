"""Branches: `/edit` sends a changed question in place of an earlier one, and `/branches` and
`/branch K` list and switch the alternatives stored at a point of the conversation.

The old messages are never deleted: the history keeps them as siblings of the new ones (see
historyrecorder). Nothing here prints; the slash commands do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatrepl.errors import UsageError

if TYPE_CHECKING:
    from chatrepl.historydb import HistoryDB, StoredMessage
    from chatrepl.historyrecorder import HistoryRecorder
    from chatrepl.messages import Message
    from chatrepl.replstate import ReplState


class Edit:
    """An `/edit` under way for one turn: `undo()` puts the conversation back as it was when
    the turn fails, and the edited text back in the input line."""

    def __init__(self, state: ReplState | None = None, kept: list[Message] | None = None,
                 index: int = 0, text: str = "") -> None:
        self._state, self._kept, self._index, self._text = state, kept, index, text

    def undo(self) -> None:
        state = self._state
        if state is None or self._kept is None:
            return
        state.chat.messages = self._kept
        state.chat.unsent = None
        state.pending_edit, state.next_input = self._index, self._text
        self._state = None


def start_edit(state: ReplState, text: str | None) -> Edit:
    """When `/edit` chose a message: the conversation cut before it, so `text` is sent in its
    place (the earlier messages stay in the history as a branch)."""
    index, state.pending_edit = state.pending_edit, None
    if index is None or text is None:
        return Edit()
    kept = state.chat.messages
    state.chat.messages = kept[:index]
    return Edit(state, kept, index, text)


def user_message_index(messages: list[Message], nth_last: int) -> int:
    """The index of the `nth_last` user message (1: the last); UsageError when there is none."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise UsageError("nothing to edit yet: no message has been sent")
    if not 1 <= nth_last <= len(users):
        raise UsageError(f"/edit N: N is 1 to {len(users)} (1 is your last message)")
    return users[-nth_last]


@dataclass(frozen=True, slots=True)
class Alternatives:
    """The messages stored at one point of the current path: `position` is the message's number
    on the path (from 1), `current` the index of the one on the path."""

    position: int
    siblings: list[StoredMessage]
    current: int


def alternatives(db: HistoryDB, conversation_id: int, path_ids: list[int]) -> Alternatives | None:
    """The alternatives at the last point of the current path that has any; None without."""
    for depth in range(len(path_ids) - 1, -1, -1):
        parent = path_ids[depth - 1] if depth else None
        siblings = db.children(conversation_id, parent)
        if len(siblings) > 1:
            ids = [s.id for s in siblings]
            return Alternatives(depth + 1, siblings, ids.index(path_ids[depth]))
    return None


def switch_branch(recorder: HistoryRecorder, db: HistoryDB, number: int) -> list[Message]:
    """Make alternative `number` (from 1) of the last branching point the current path (down to
    its newest reply); the messages of the new path. Runs on the recorder's thread."""
    conversation_id = recorder.conversation_id
    if conversation_id is None:
        raise UsageError("no branches: this conversation has not been saved yet")
    found = alternatives(db, conversation_id, recorder.path_ids)
    if found is None:
        raise UsageError("this conversation has no branches (/retry and /edit make them)")
    if not 1 <= number <= len(found.siblings):
        raise UsageError(f"/branch K: K is 1 to {len(found.siblings)} (see /branches)")
    leaf = db.latest_leaf(found.siblings[number - 1].id)
    db.set_current(conversation_id, leaf)
    conversation = db.conversation(conversation_id)
    if conversation is None:
        raise UsageError(f"conversation #{conversation_id} is gone from the history")
    recorder.adopt(conversation)
    return [m.message for m in conversation.path]
