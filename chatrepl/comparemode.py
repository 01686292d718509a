"""Compare mode in the REPL: `/compare A B [C...]`, the compared turn, `/keep K`, `/compare off`.

While compare mode is on (`ReplState.compare`), a message goes to every model of the mode at
once (`compare.run_comparison`) and is drawn by `comparerender.CompareView` on the main thread.
The conversation does not change until `/keep K`: it then goes on with reply K (and K's model),
and the other replies are kept in `CompareMode.kept_turns` as that turn's sibling branches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatrepl.compare import (
    Answer,
    Branch,
    Comparison,
    Contender,
    distinct_contenders,
    run_comparison,
)
from chatrepl.compareguard import compare_allowed
from chatrepl.comparerender import CompareView
from chatrepl.errors import UsageError
from chatrepl.messages import Message, user

if TYPE_CHECKING:
    from chatrepl.completer import ModelCommandCompleter
    from chatrepl.replstate import ReplState

OFF = "off"


@dataclass(frozen=True, slots=True)
class KeptTurn:
    """A compared turn the conversation went on with: the question, the reply kept and the
    other replies (sibling branches, for the history to store)."""

    question: Message
    kept: Branch
    others: tuple[Branch, ...]


@dataclass
class CompareMode:
    """The models a message goes to, the comparison waiting for `/keep`, and the turns kept."""

    contenders: list[Contender]
    pending: Comparison | None = None
    kept_turns: list[KeptTurn] = field(default_factory=list)

    @property
    def labels(self) -> str:
        return ", ".join(c.label for c in self.contenders)

    def send(self, state: ReplState, text: str) -> Comparison | None:
        """Send `text` to every model with the current conversation; draw the replies."""
        if self.pending is not None:
            raise UsageError(f"keep a reply first: /keep K (1-{len(self.pending.answers)}), or"
                             " /compare off to leave them")
        if state.attachments.items or state.attachments.loading():  # not sent to several models
            raise UsageError("attachments go with a message to one model: /compare off first,"
                             " or /detach them")
        if not compare_allowed(state, self.contenders, text):
            return None
        printer = state.printer
        for contender in self.contenders:  # parameters a model does not take: said once
            for line in state.runtime.parameters.notes_for(contender.provider, contender.model):
                printer.warning(line)
        printer.flush()
        view = CompareView(printer.out, self.contenders, color=printer.color,
                           columns=printer.columns)
        comparison = run_comparison(state.chat, self.contenders, text, on_event=view.add,
                                    tick=view.draw, info_for=state.runtime.model_info)
        view.finish(comparison)
        for answer in comparison.answers:
            _account(state, answer)
        if comparison.interrupted:
            printer.info("[interrupted]")
        if any(answer.keepable for answer in comparison.answers):
            self.pending = comparison
            printer.info(f"go on with one: /keep K (1-{len(comparison.answers)});"
                         " /compare off ends compare mode")
        state.redraw()
        return comparison

    def keep(self, state: ReplState, number: int) -> Answer:
        """Go on with reply `number` of the pending comparison, on its model."""
        if self.pending is None:
            raise UsageError("nothing to keep: send a message in compare mode first")
        try:
            answer = self.pending.kept(number)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if tuple(state.chat.messages) != self.pending.base:
            self.pending = None
            raise UsageError("the conversation changed since the comparison (/clear or /load);"
                             " send the message again")
        reply = answer.reply
        assert reply is not None  # kept() returns only replies there are
        kept = Branch(answer.contender, reply)
        others = tuple(self.pending.branches(number))
        self.kept_turns.append(KeptTurn(user(self.pending.question), kept, others))
        state.chat.set_model(answer.contender.provider, answer.contender.model)
        state.chat.messages = list(answer.messages)
        state.chat.unsent = None
        state.mark_used(answer.contender.label)
        self.pending = None
        return answer


def _account(state: ReplState, answer: Answer) -> None:
    """Add one reply's tokens and cost to the session's totals (as a single turn does); a
    failed reply counts nothing."""
    figures = answer.figures
    usage = figures.usage
    if usage is None or answer.error is not None:
        return
    if figures.estimated:
        state.estimated_tokens += usage.total_tokens
    else:
        state.chat.totals = state.chat.totals + usage
    if figures.cost is None:
        state.cost_unknown = True
    else:
        state.cost_known = True
        state.session_cost += figures.cost
        state.cost_estimated = state.cost_estimated or figures.estimated


def contenders_from(state: ReplState, names: Iterable[str]) -> list[Contender]:
    """The models named, resolved by the manager (its errors say why not); UsageError for
    fewer than MIN_MODELS or more than MAX_MODELS different ones."""
    def resolve(name: str) -> Contender:
        provider, long = state.runtime.manager.resolve(name)
        return Contender(provider.id, long)

    return distinct_contenders(resolve, list(names), "/compare MODEL MODEL [MODEL...]")


class EachModelCompleter(Completer):
    """Completes every word of `/compare` as a model name (with the /model completer), and
    `off` as the first word."""

    def __init__(self, models: ModelCommandCompleter) -> None:
        self._models = models

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = before.rsplit(" ", 1)[-1] if " " in before else before.lstrip()
        completions = []
        if not before.strip(" ").count(" ") and OFF.startswith(word.lower()) and word:
            completions.append(Completion(OFF, start_position=-len(word),
                                          display_meta="end compare mode"))
        completions += self._models.complete_argument(word)
        return completions


def record_kept_turn(state: ReplState, turn: KeptTurn, answer: Answer) -> None:
    """Store a kept comparison turn in the history: the question and the kept reply on the
    conversation's path, the other replies as its siblings."""
    if state.history is None:
        return
    from chatrepl.historydb import NewMessage
    from chatrepl.historyuse import snapshot

    figures = answer.figures
    usage = None if figures.estimated else figures.usage
    state.history.record(snapshot(state.chat, usage, figures.cost))
    if turn.others:
        state.history.add_sibling_replies([
            NewMessage(branch.message, branch.contender.provider, branch.contender.model)
            for branch in turn.others])
