"""The slash commands of compare mode, `/compare` and `/keep`, on the one command registry.

Imported by `slash_commands` so that they register; the mode itself is `comparemode`'s.
"""

from __future__ import annotations

from prompt_toolkit.completion import Completer

from chatrepl.commands import split_arguments
from chatrepl.comparemode import (
    OFF,
    CompareMode,
    EachModelCompleter,
    contenders_from,
    record_kept_turn,
)
from chatrepl.completer import ModelCommandCompleter
from chatrepl.errors import UsageError
from chatrepl.replstate import ReplState
from chatrepl.slash_commands import REGISTRY, model_names


def compare_models(state: ReplState) -> Completer:
    """Each word of /compare completed as a model name, as /model completes its argument."""
    models = model_names(state)
    assert isinstance(models, ModelCommandCompleter)
    return EachModelCompleter(models)


@REGISTRY.command("/compare", help="ask several models at once, side by side; off ends it",
                  usage="/compare MODEL MODEL [MODEL...] | off", completer=compare_models)
def _compare(state: ReplState, argument: str) -> None:
    words = split_arguments(argument)
    mode = state.compare
    if not words:
        if mode is None:
            state.printer.line("compare mode: off")
            state.printer.info("start it with /compare MODEL MODEL [MODEL...] (Tab completes)")
        else:
            state.printer.line(f"compare mode: {mode.labels}")
        return
    if [w.lower() for w in words] == [OFF]:
        if mode is not None and mode.pending is not None:
            state.printer.info("the compared replies were not kept; the conversation is as"
                               " before them")
        state.compare = None
        state.printer.info(f"compare mode off; model: {state.current_model or 'none'}")
        state.redraw()
        return
    contenders = contenders_from(state, words)
    state.compare = CompareMode(contenders)
    state.printer.info(f"compare mode: the next message goes to {state.compare.labels};"
                       " /keep K goes on with reply K; /compare off ends it")
    state.redraw()


@REGISTRY.command("/keep", help="go on with reply K of /compare",
                  usage="/keep K")
def _keep(state: ReplState, argument: str) -> None:
    mode = state.compare
    if mode is None:
        raise UsageError("/keep picks a reply of /compare; compare mode is off")
    try:
        number = int(argument)
    except ValueError:
        count = len(mode.pending.answers) if mode.pending else len(mode.contenders)
        raise UsageError(f"usage: /keep K (a reply number, 1-{count})") from None
    answer = mode.keep(state, number)
    record_kept_turn(state, mode.kept_turns[-1], answer)
    state.printer.info(f"kept reply {number} ({answer.contender.label}); the conversation goes"
                       " on with it")
    state.autosave()
    state.redraw()
