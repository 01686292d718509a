"""Before a message is sent: the session limit, the context window and the cost confirmation.

The REPL asks through an `Asker` (prompt_toolkit's, in `guardprompt`); one-shot mode has
none, so what would be asked is refused with a line naming the flag that goes on (`--yes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from chatrepl.contextguard import Attachments, Fit, fit, leave_out_oldest, outgoing, turn_starts
from chatrepl.contextsize import ContextMeter, format_tokens, requested_max_tokens, wire_tokens
from chatrepl.costguard import (
    Budget,
    cost_question,
    estimate_cost,
    expected_output,
    needs_confirmation,
    over_session_limit,
    session_limit_line,
    unknown_price_line,
)
from chatrepl.errors import ChatReplError
from chatrepl.messages import Message
from chatrepl.modelinfo import format_context

if TYPE_CHECKING:
    from chatrepl.chat import ChatSession
    from chatrepl.config import BudgetSettings
    from chatrepl.modelinfo import ModelInfo
    from chatrepl.replstate import ReplState

MAX_QUESTIONS = 8  # rounds of the overflow question before giving up on a message
YES_FLAG = "--yes"
# A prompt smaller than this overflows only a window under ~1,300 tokens (the reply reserve is
# at most a quarter of the window): one-shot does not load the catalog to check it.
CHECKED_FROM_TOKENS = 1000


class Asker(Protocol):
    """Questions asked on the terminal; None (or False) when the user cancels."""

    def choose(self, question: str, options: Sequence[tuple[str, str]]) -> str | None: ...

    def confirm(self, question: str) -> bool: ...

    def model_name(self, question: str) -> str | None: ...

    def line(self, question: str) -> str | None: ...


OVERFLOW_OPTIONS = {
    "drop": "leave out the oldest turns (they stay in the history)",
    "model": "switch to another model (Tab completes)",
    "send": "send anyway",
    "cancel": "do not send",
}


@dataclass
class SendGuards:
    """The session's guards: its context meter, its budget (the config's unless `/budget`
    changed it) and the models whose unknown price was already said."""

    meter: ContextMeter = field(default_factory=ContextMeter)
    budget_override: Budget | None = None
    unknown_said: set[str] = field(default_factory=set)

    def budget(self, settings: BudgetSettings) -> Budget:
        return self.budget_override or Budget.from_config(settings)

    # -- the toolbar -----------------------------------------------------------------------
    def context_text(self, chat: ChatSession, info: ModelInfo | None) -> str:
        """`ctx 12.3k/128k` (`~` when estimated); without a known window, only once there is
        a conversation (`ctx ~1.2k`); nothing without a model."""
        if not chat.model:
            return ""
        window = info.context_window if info is not None else None
        if not window and not chat.messages:
            return ""
        size = self.meter.size(chat)
        shown = f"ctx {'~' if size.estimated and size.tokens else ''}{format_tokens(size.tokens)}"
        return f"{shown}/{format_context(window)}" if window else shown

    # -- the REPL --------------------------------------------------------------------------
    def allow(self, state: ReplState, text: str | None, attachments: Attachments = ()) -> bool:
        """Whether to send `text` with `attachments` (None: a retry): asks on the terminal;
        says why not."""
        budget = self.budget(state.runtime.config.budget)
        if over_session_limit(budget, state.session_cost):
            state.printer.error(session_limit_line(budget, state.session_cost, in_repl=True))
            return False
        if not self._fits_or_answered(state, text, attachments):
            return False
        return self._cost_accepted(state, text, budget, attachments)

    def _fits_or_answered(self, state: ReplState, text: str | None,
                          attachments: Attachments) -> bool:
        asker = state.asker
        for _round in range(MAX_QUESTIONS):
            chat = state.chat
            info = state.runtime.model_info(chat.provider, chat.model)
            needed = fit(self.meter, chat, info, text, attachments)
            if not needed.overflows:
                return True
            if asker is None:
                state.printer.error(f"not sent: {needed.describe(state.current_model)}")
                return False
            options = [(key, label) for key, label in OVERFLOW_OPTIONS.items()
                       if key != "drop" or len(turn_starts(outgoing(chat, text, attachments)[0])) > 0]
            state.printer.warning(needed.describe(state.current_model))
            answer = asker.choose("what now?", options)
            if answer == "send":
                return True
            if answer == "drop":
                self._drop(state, text, needed, attachments)
            elif answer == "model":
                self._switch(state, asker)
            else:
                state.printer.info("not sent (↑ brings the message back)")
                return False
        state.printer.error("not sent: the message still does not fit")
        return False

    def _drop(self, state: ReplState, text: str | None, needed: Fit,
              attachments: Attachments) -> None:
        assert needed.window is not None
        count = leave_out_oldest(self.meter, state.chat, text, needed.window, needed.reserve,
                                 attachments)
        state.printer.info(f"left out {count} older messages (kept in the history;"
                           " /context shows them, /context --restore sends them again)")
        state.autosave()

    @staticmethod
    def _switch(state: ReplState, asker: Asker) -> None:
        name = asker.model_name("model (Tab completes; empty keeps the current one): ")
        if not name or not name.strip():
            return
        try:
            scoped = state.select_model(name.strip())
        except ChatReplError as exc:
            state.printer.error(exc.in_repl())
            return
        state.printer.info(f"model: {scoped}")
        state.redraw()

    def _cost_accepted(self, state: ReplState, text: str | None, budget: Budget,
                       attachments: Attachments = ()) -> bool:
        if not budget.active:
            return True
        chat = state.chat
        question = self.cost_check(chat, state.runtime.model_info(chat.provider, chat.model),
                                   text, budget, state.printer.warning, attachments)
        if question is None:
            return True
        if state.asker is None:
            state.printer.error(f"not sent: {question}")
            return False
        state.printer.warning(question)
        if state.asker.confirm("send it?"):
            return True
        state.printer.info("not sent (↑ brings the message back)")
        return False

    def cost_check(self, chat: ChatSession, info: ModelInfo | None, text: str | None,
                   budget: Budget, say: Callable[[str], None],
                   attachments: Attachments = ()) -> str | None:
        """The question to ask when the message's estimated cost is over the confirmation
        limit, else None; an unknown price is said once per model (and never blocks)."""
        model = f"{chat.provider}/{chat.model}"
        needed = fit(self.meter, chat, info, text, attachments)
        output = expected_output(needed.reserve, requested_max_tokens(chat))
        estimate = estimate_cost(info, needed.prompt, output)
        if estimate.usd is None:
            if model not in self.unknown_said:
                self.unknown_said.add(model)
                say(unknown_price_line(model))
            return None
        return cost_question(model, estimate, budget) if needs_confirmation(budget, estimate) \
            else None


def one_shot_refusal(guards: SendGuards, chat: ChatSession,
                     model_info: Callable[[], ModelInfo | None], text: str,
                     settings: BudgetSettings, say: Callable[[str], None],
                     attachments: Attachments = ()) -> str | None:
    """One-shot mode, which cannot ask: the line refusing `text` (with `attachments`), naming
    the flag that sends it anyway; None when it may be sent.

    `model_info()` (which loads the catalog) is called only when a budget is set or the
    prompt is large enough to overflow a real model's window, so a short reply is asked for
    without waiting for the catalog.
    """
    budget = guards.budget(settings)
    asked = Message("user", text, attachments=tuple(attachments))
    if not budget.active and \
            wire_tokens(chat.wire_messages([*chat.messages, asked])) < CHECKED_FROM_TOKENS:
        return None
    info = model_info()
    needed = fit(guards.meter, chat, info, text, attachments)
    model = f"{chat.provider}/{chat.model}"
    if needed.overflows:
        return (f"not sent: {needed.describe(model)}; pass {YES_FLAG} to send anyway,"
                " or pick a model with a larger window with -m")
    if not budget.active:
        return None
    question = guards.cost_check(chat, info, text, budget, say, attachments)
    return None if question is None else f"not sent: {question}; pass {YES_FLAG} to send it"
