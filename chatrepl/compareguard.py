"""The context and cost guards for a compared message: what `SendGuards.allow` checks for one
model, checked for every model of the comparison, with one question for all of them.

Past the session limit nothing is sent. A model whose window the message overflows, or whose
estimated cost is over the confirmation limit, is named; the message then goes to every model
only after a yes (the REPL's asker), and is refused without one. An unknown price never blocks
(it is said once per model, as for a single model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatrepl.chat import ChatSession
from chatrepl.contextguard import fit
from chatrepl.costguard import over_session_limit, session_limit_line

if TYPE_CHECKING:
    from chatrepl.compare import Contender
    from chatrepl.replstate import ReplState


def compare_allowed(state: ReplState, contenders: Sequence[Contender], text: str) -> bool:
    """Whether to send `text` to every contender: asks on the terminal; says why not."""
    guards, printer = state.guards, state.printer
    budget = guards.budget(state.runtime.config.budget)
    if over_session_limit(budget, state.session_cost):
        printer.error(session_limit_line(budget, state.session_cost, in_repl=True))
        return False
    concerns: list[str] = []
    for contender in contenders:
        chat = ChatSession(state.chat.manager, state.chat.env, state.chat.settings,
                           provider=contender.provider, model=contender.model,
                           system_prompt=state.chat.system_prompt)
        chat.messages = state.chat.messages
        chat.parameters = state.chat.parameters  # max_tokens sizes the reply's reserve
        info = state.runtime.model_info(contender.provider, contender.model)
        needed = fit(guards.meter, chat, info, text)
        if needed.overflows:
            concerns.append(needed.describe(contender.label))
        if budget.active:
            question = guards.cost_check(chat, info, text, budget, printer.warning)
            if question is not None:
                concerns.append(question)
    if not concerns:
        return True
    for concern in concerns:
        printer.warning(concern)
    if state.asker is None:
        printer.error("not sent to the compared models")
        return False
    if state.asker.confirm("send it to every model?"):
        return True
    printer.info("not sent (↑ brings the message back)")
    return False
