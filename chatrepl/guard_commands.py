"""`/context` (what takes the model's window) and `/budget` (the session's spending limits),
registered on the slash command registry (imported by slash_commands)."""

from __future__ import annotations

import math
from dataclasses import replace

from prompt_toolkit.completion import Completer

from chatrepl.commands import split_arguments
from chatrepl.completer import FlagCompleter
from chatrepl.contextguard import restore_left_out, room_lines
from chatrepl.errors import UsageError
from chatrepl.modelinfo import format_cost
from chatrepl.replstate import ReplState
from chatrepl.slash_commands import command
from chatrepl.wording import plural

RESTORE = "--restore"
BUDGET_USAGE = "/budget [session USD|off] [confirm USD|off]"


def restore_flag(state: ReplState) -> Completer:
    return FlagCompleter([RESTORE])


@command("/context", help="what takes the model's context window (--restore sends"
         " left-out turns again)", usage="/context [--restore]", completer=restore_flag)
def _context(state: ReplState, argument: str) -> None:
    if argument == RESTORE:
        count = restore_left_out(state.chat)
        state.printer.info(f"{plural(count, 'message')} sent again from the next turn on"
                           if count else "no message is left out")
        state.autosave()
        state.redraw()
        return
    if argument:
        raise UsageError("usage: /context [--restore]")
    chat = state.chat
    info = state.runtime.model_info(chat.provider, chat.model) if chat.model else None
    for line in room_lines(chat, info, state.guards.meter):
        state.printer.line(line)


def budget_words(state: ReplState) -> Completer:
    return FlagCompleter(["session", "confirm", "off"])


def _amount(word: str) -> float | None:
    """`off` -> None; a non-negative number of USD (`$2` too); UsageError otherwise."""
    if word.lower() == "off":
        return None
    try:
        value = float(word.removeprefix("$"))
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{word!r} is not an amount in USD; usage: {BUDGET_USAGE}")
    return value


@command("/budget", help="show or change this session's spending limits (the config's"
         " budget: stays as it is)", usage=BUDGET_USAGE, completer=budget_words)
def _budget(state: ReplState, argument: str) -> None:
    guards = state.guards
    budget = guards.budget(state.runtime.config.budget)
    words = split_arguments(argument)
    if len(words) % 2:
        raise UsageError(f"usage: {BUDGET_USAGE}")
    changed = budget
    for key, value in zip(words[::2], words[1::2], strict=True):
        if key == "session":
            changed = replace(changed, session_usd=_amount(value))
        elif key == "confirm":
            changed = replace(changed, confirm_over_usd=_amount(value))
        else:
            raise UsageError(f"unknown limit {key!r}; usage: {BUDGET_USAGE}")
    if words:
        guards.budget_override = changed
    spent = format_cost(state.session_cost) if state.cost_known else "$0"
    note = " (some prices unknown)" if state.cost_unknown else ""
    lines = [*changed.lines(), f"spent this session: {spent}{note}"]
    if words:
        lines.append("for this session only; set budget: in the config to keep it")
    for line in lines:
        state.printer.line(line)

