"""Slash commands for request parameters and roles: /set, /unset, /role.

They register on the one REGISTRY of slash_commands (which imports this module), so dispatch,
/help and Tab completion know them like the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatrepl.argparsing import Parser
from chatrepl.commands import split_arguments
from chatrepl.completer import WordListCompleter
from chatrepl.errors import RoleError, UsageError
from chatrepl.modelinfo import ModelInfo
from chatrepl.parameters import (
    NAMES,
    SPECS,
    accepted_names,
    parse_value,
    refusal,
    spec_of,
)
from chatrepl.replstate import ReplState
from chatrepl.roles import Role, load_role, parse_assignments, role_names
from chatrepl.slash_commands import REGISTRY

command = REGISTRY.command
SOURCES = {"config": "model default in the config", "saved": "saved default",
           "this session": "this session"}


def _info(state: ReplState) -> ModelInfo | None:
    if not state.chat.model:
        return None
    return state.runtime.model_info(state.chat.provider, state.chat.model)


class ParameterCompleter(Completer):
    """`/set NAME VALUE`: the names the current model takes (per the catalog), with what each
    does; then the choices of a parameter that has them. `in_force_only`: the names set now
    (for /unset)."""

    def __init__(self, state: ReplState, *, in_force_only: bool = False) -> None:
        self.state = state
        self.in_force_only = in_force_only

    def _names(self) -> list[str]:
        state = self.state
        if self.in_force_only:
            return list(state.runtime.parameters.in_force(state.chat.provider, state.chat.model))
        return accepted_names(_info(state))

    def get_completions(self, document: Document, complete_event: CompleteEvent,
                        ) -> Iterable[Completion]:
        text = document.text_before_cursor
        word = "" if not text or text[-1].isspace() else text.split()[-1]
        if word.startswith("-"):
            return
        before = [w for w in text.split() if not w.startswith("--")]
        if word:
            before = before[:-1]
        if not before:
            for name in self._names():
                if name.startswith(word.lower()):
                    yield Completion(name, start_position=-len(word),
                                     display_meta=SPECS[name].help)
        elif len(before) == 1 and not self.in_force_only and before[0] in SPECS:
            for choice in SPECS[before[0]].choices:
                if choice.startswith(word.lower()):
                    yield Completion(choice, start_position=-len(word))


def settable_names(state: ReplState) -> Completer:
    return ParameterCompleter(state)


def set_names(state: ReplState) -> Completer:
    return ParameterCompleter(state, in_force_only=True)


def _set_parser() -> Parser:
    parser = Parser(prog="/set", add_help=False,
                    description="Set a request parameter for this session; alone, show those"
                    " in force and where each comes from.")
    parser.add_argument("name", nargs="?", metavar="NAME", help=", ".join(NAMES))
    parser.add_argument("value", nargs="?", metavar="VALUE")
    parser.add_argument("--save", action="store_true",
                        help="also keep it as this model's default (in the state folder)")
    return parser


def show_parameters(state: ReplState) -> None:
    """The parameters in force for the current model, where each comes from, what is not sent."""
    provider, model = state.chat.provider, state.chat.model
    scoped = state.current_model or "(no model)"
    found = state.runtime.parameters.in_force(provider, model)
    if not found:
        state.printer.line(f"no parameters set for {scoped}: the provider's defaults apply")
        state.printer.info("set one with /set NAME VALUE (Tab completes the names this model"
                           " takes)")
        return
    info = _info(state)
    state.printer.line(f"parameters for {scoped}:")
    width = max(len(name) for name in found)
    for name, item in found.items():
        source = SOURCES.get(item.source, item.source)
        why = refusal(name, info)
        unsent = f"; not sent: the model {why}" if why else ""
        state.printer.line(f"  {name.ljust(width)}  {item.value}  ({source}{unsent})")


@command("/set", help="show or set request parameters",
         usage="/set [--save] [NAME VALUE]", parser=_set_parser, completer=settable_names)
def _set(state: ReplState, argument: str) -> None:
    args = _set_parser().parse_args(split_arguments(argument))
    if args.name is None:
        show_parameters(state)
        return
    spec = spec_of(args.name)
    if args.value is None:
        raise UsageError(f"usage: /set [--save] NAME VALUE ({spec.name} is {spec.describe()})")
    name = spec.name
    value = parse_value(name, args.value)
    info = _info(state)
    scoped = state.current_model
    if name == "max_tokens" and info is not None and info.max_output and value > info.max_output:
        raise UsageError(f"max_tokens {value} is over {scoped}'s output limit"
                         f" ({info.max_output}); give at most {info.max_output}")
    if args.save and not scoped:
        raise UsageError("no model selected: --save keeps a default for the current model")
    parameters = state.runtime.parameters
    if args.save:  # first: a save that fails changes nothing
        parameters.save(state.chat.provider, state.chat.model, name, value)
    parameters.set(name, value)
    state.printer.info(f"{name} = {value}" + (f" (saved for {scoped})" if args.save else ""))
    if scoped:  # said now, so the next turn does not say it again
        for line in parameters.notes_for(state.chat.provider, state.chat.model):
            state.printer.warning(line)


def _unset_parser() -> Parser:
    parser = Parser(prog="/unset", add_help=False,
                    description="Send no NAME for the rest of the session, whoever set it.")
    parser.add_argument("name", metavar="NAME", help=", ".join(NAMES))
    parser.add_argument("--save", action="store_true",
                        help="also forget this model's saved default")
    return parser


@command("/unset", help="stop sending a request parameter",
         usage="/unset [--save] NAME", parser=_unset_parser, completer=set_names)
def _unset(state: ReplState, argument: str) -> None:
    args = _unset_parser().parse_args(split_arguments(argument))
    name = spec_of(args.name).name
    parameters = state.runtime.parameters
    was = parameters.in_force(state.chat.provider, state.chat.model).get(name)
    if args.save and state.chat.model:
        parameters.save(state.chat.provider, state.chat.model, name, None)
    parameters.unset(name)
    if was is None and not args.save:
        state.printer.info(f"{name} was not set")
        return
    state.printer.info(f"{name} unset for this session: not sent, the provider's default applies"
                       + (f" (saved default for {state.current_model} forgotten)"
                          if args.save else ""))


# -- roles ------------------------------------------------------------------------------------


def role_names_of(state: ReplState) -> Completer:
    return WordListCompleter(lambda: role_names(state.runtime.paths.roles_dir))


def ask_variables(role: Role, given: dict[str, str],
                  ask: Callable[[str], str | None] | None) -> dict[str, str] | None:
    """`given`, plus the role's other variables asked one by one with `ask(question)`; None
    when a question is cancelled; RoleError when one is missing and there is nobody to ask."""
    values = dict(given)
    unknown = sorted(set(values) - set(role.variables))
    if unknown:
        raise RoleError(f"role {role.name} has no variable {unknown[0]}"
                        + (f" (it has {', '.join(role.variables)})" if role.variables else ""))
    if ask is None:
        role.render(values)  # raises, naming what is missing
        return values
    for name in role.variables:
        if name in values:
            continue
        answer = ask(f"{role.name}: {name}? ")
        if answer is None:
            return None
        values[name] = answer
    return values


def take_role(state: ReplState, role: Role, values: dict[str, str]) -> list[str]:
    """Switch to `role`: its prompt (filled in), its parameters, its model when it names one.
    Returns the lines saying what changed."""
    prompt = role.render(values)
    switched = state.select_model(role.model) if role.model else None
    state.chat.system_prompt = prompt
    state.runtime.parameters.use_role(role.name, role.parameters.values())
    said = [f"role {role.name}: system prompt set"]
    if switched:
        said.append(f"model: {switched}")
    params = role.parameters.values()
    if params:
        said.append(", ".join(f"{k} {v}" for k, v in params.items()))
    return ["; ".join(said)]


@command("/role", help="show, take or drop a role",
         usage="/role [NAME [VAR=VALUE ...] | --clear]", completer=role_names_of)
def _role(state: ReplState, argument: str) -> None:
    parameters = state.runtime.parameters
    words = split_arguments(argument)
    folder = state.runtime.paths.roles_dir
    if not words:
        current = parameters.role_name
        state.printer.line(f"role: {current or '(none)'}")
        if current:
            state.printer.line(f"system prompt: {state.chat.system_prompt or '(none)'}")
            for name, value in parameters.role.items():
                state.printer.line(f"  {name} {value}")
        known = role_names(folder)
        state.printer.info(f"roles in {folder}: {', '.join(known)}" if known
                           else f"no roles yet: add NAME.md files to {folder}")
        return
    if words == ["--clear"]:
        parameters.use_role(None, {})
        state.chat.system_prompt = state.runtime.config.system_prompt
        state.printer.info("role cleared: the configured system prompt and parameters apply")
        state.autosave()
        return
    role = load_role(folder, words[0])
    ask = state.asker.line if state.asker is not None else None
    try:
        values = ask_variables(role, parse_assignments(words[1:]), ask)
    except RoleError as exc:
        raise UsageError(str(exc)) from None
    if values is None:
        state.printer.info(f"role {role.name} not taken")
        return
    for line in take_role(state, role, values):
        state.printer.info(line)
    state.autosave()
    state.redraw()
