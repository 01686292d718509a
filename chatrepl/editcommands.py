"""Slash commands that take text out of the conversation and put it back in the input line:
/editor, /copy and /undo. They register on the one REGISTRY (slash_commands imports this)."""

from __future__ import annotations

from collections.abc import Sequence

from prompt_toolkit.completion import Completer

from chatrepl.clipboard import copy_text
from chatrepl.codeblocks import code_blocks
from chatrepl.commands import split_arguments
from chatrepl.completer import WordListCompleter
from chatrepl.editor import UNCHANGED_HINT, edit_text
from chatrepl.errors import UsageError
from chatrepl.messages import Message
from chatrepl.replstate import ReplState
from chatrepl.slash_commands import command
from chatrepl.wording import plural


def _count(word: str, usage: str) -> int:
    """A positive whole number typed by the user; UsageError naming the command's usage."""
    if not word.isdigit() or int(word) < 1:
        raise UsageError(f"{word!r} is not a positive number; usage: {usage}")
    return int(word)


# -- /editor ---------------------------------------------------------------------------------

@command("/editor", help="write the next message in $EDITOR (as Ctrl-X Ctrl-E)",
         usage="/editor [TEXT]")
def _editor(state: ReplState, argument: str) -> None:
    outcome = edit_text(argument, state.runtime.env)
    if outcome.text is not None:
        state.next_input = outcome.text
    if outcome.message == UNCHANGED_HINT:
        state.printer.warning(outcome.message)
    elif outcome.message:
        state.printer.error(outcome.message)


# -- /copy -----------------------------------------------------------------------------------

COPY_USAGE = "/copy [N | code [K]]"


def replies(messages: Sequence[Message]) -> list[Message]:
    """The assistant's replies, oldest first."""
    return [m for m in messages if m.role == "assistant"]


def text_to_copy(messages: Sequence[Message], words: Sequence[str]) -> tuple[str, str]:
    """(text, what it is) for `/copy` with `words`: the last reply, the Nth-last (`N`), or the
    Kth code block of the last reply (`code K`, K 1 by default); UsageError saying what there is."""
    answers = replies(messages)
    if not answers:
        raise UsageError("no reply to copy yet")
    if words and words[0] == "code":
        if len(words) > 2:
            raise UsageError(f"usage: {COPY_USAGE}")
        k = _count(words[1], COPY_USAGE) if len(words) == 2 else 1
        blocks = code_blocks(answers[-1].content)
        if not blocks:
            raise UsageError("the last reply has no code blocks")
        if k > len(blocks):
            raise UsageError(f"the last reply has {plural(len(blocks), 'code block')};"
                             f" /copy code K takes K from 1 to {len(blocks)}")
        return blocks[k - 1].text, f"code block {k}"
    if len(words) > 1:
        raise UsageError(f"usage: {COPY_USAGE}")
    n = _count(words[0], COPY_USAGE) if words else 1
    if n > len(answers):
        raise UsageError(f"there {'is' if len(answers) == 1 else 'are'}"
                         f" {plural(len(answers), 'reply', 'replies')};"
                         f" /copy N takes N from 1 to {len(answers)}")
    return answers[-n].content, "last reply" if n == 1 else f"reply {n} from the end"


def copy_words(state: ReplState) -> Completer:
    return WordListCompleter(lambda: ["code"])


@command("/copy", help="copy the last reply, the Nth-last, or its code block K", usage=COPY_USAGE,
         completer=copy_words)
def _copy(state: ReplState, argument: str) -> None:
    text, what = text_to_copy(state.chat.messages, split_arguments(argument))
    outcome = copy_text(text, state.runtime.env, state.write_terminal)
    line = outcome.describe(len(text), what)
    if outcome.copied:
        state.printer.info(line)
    else:
        state.printer.warning(line)


# -- /undo -----------------------------------------------------------------------------------

def undo_turns(messages: Sequence[Message], n: int) -> tuple[list[Message], str | None, int]:
    """(messages kept, the earliest removed user message, turns removed) after taking the last
    `n` turns away; a turn is a user message and what follows it up to the next one."""
    starts = [i for i, m in enumerate(messages) if m.role == "user"]
    if not starts or n < 1:
        return list(messages), None, 0
    removed = min(n, len(starts))
    cut = starts[-removed]
    return list(messages[:cut]), messages[cut].content, removed


@command("/undo", help="remove the last N turns; your message goes back in the input",
         usage="/undo [N]")
def _undo(state: ReplState, argument: str) -> None:
    words = split_arguments(argument)
    if len(words) > 1:
        raise UsageError("usage: /undo [N]")
    n = _count(words[0], "/undo [N]") if words else 1
    failed = state.chat.unsent  # the last turn failed: it is the first one taken back
    kept, message, removed = undo_turns(state.chat.messages, n - (failed is not None))
    removed += failed is not None
    if not removed:
        raise UsageError("nothing to undo")
    state.chat.messages = kept  # a new list: a reader holding the old one keeps it whole
    state.chat.unsent = None  # /retry has nothing left to resend
    state.next_input = message if message is not None else failed or ""
    state.autosave()
    state.printer.info(f"removed {plural(removed, 'turn')}" + (" (all there were)" if removed < n else "")
                       + "; your message is back in the input line")
    state.redraw()
