"""The built-in slash commands, registered in one CommandRegistry.

To add a command, register it here with `@command(name, *aliases, help=..., usage=...,
parser=..., completer=...)`; dispatch, /help, `--help` and Tab completion read the registry.
"""

from __future__ import annotations

import textwrap

from prompt_toolkit.completion import Completer

from chatrepl.argparsing import Parser
from chatrepl.commands import CommandRegistry, split_arguments
from chatrepl.completer import FlagCompleter, ModelCommandCompleter, WordListCompleter
from chatrepl.errors import UsageError
from chatrepl.historyrepl import conversation_names, load_stored, name_current
from chatrepl.historyuse import snapshot
from chatrepl.modelquery import add_filter_arguments, as_table, filters_from, info_card, select
from chatrepl.providertable import provider_table
from chatrepl.replstate import ReplState, resumed_lines
from chatrepl.sessions import is_explicit_path
from chatrepl.wording import plural

REGISTRY = CommandRegistry(show=lambda state, text: state.printer.line(text))
command = REGISTRY.command


KEYS_HELP = ("Enter sends; Alt-Enter (Esc Enter) adds a line; Ctrl-X Ctrl-E edits the line in"
             " $EDITOR; Ctrl-C stops a reply; Ctrl-D exits.")
NARROW = 60  # below this many columns a description goes on its own line under its command
INDENT = 4


def help_lines(entries: list[tuple[str, str]], width: int) -> list[str]:
    """(usage, description) pairs laid out in `width` columns, wrapped between words.

    Descriptions line up in a column after the usages (a usage too long for it has its
    description on the next line, in the column); narrower than NARROW, each description is on
    its own indented lines under its usage.
    """
    usable = max(20, width - 1)  # never the last column: some terminals wrap there

    def wrap(text: str, indent: int) -> list[str]:
        return textwrap.wrap(text, usable, initial_indent=" " * indent,
                             subsequent_indent=" " * indent, break_on_hyphens=False)

    lines: list[str] = []
    if width < NARROW:
        for usage, description in entries:
            lines += wrap(usage, 0) + wrap(description, INDENT)
        return lines
    column = min(max(len(usage) for usage, _ in entries), max(12, width // 3))
    for usage, description in entries:
        body = wrap(description, column + 2)
        if len(usage) > column:
            lines += wrap(usage, 0) + body
        else:
            lines += [usage.ljust(column) + body[0][len(usage.ljust(column)):], *body[1:]]
    return lines


def model_names(state: ReplState) -> Completer:
    """Ranked model names, recent ones first; the index is rebuilt off the UI thread as soon as
    discovery swaps in a new snapshot."""
    models = ModelCommandCompleter(state.runtime.manager, recent=state.recent_models,
                                   meta_for=state.model_meta)
    state.runtime.refresher.add_callback(lambda _results: models.warm())
    return models


def provider_names(state: ReplState) -> Completer:
    return WordListCompleter(lambda: list(state.runtime.manager))


def session_names(state: ReplState) -> Completer:
    return WordListCompleter(state.store.names)


@command("/help", "/?", help="list commands")
def _help(state: ReplState, argument: str) -> None:
    entries = [(cmd.usage, cmd.help + (f" (also {', '.join(cmd.aliases)})" if cmd.aliases else ""))
               for cmd in REGISTRY]
    width = state.printer.columns()
    for line in help_lines(entries, width):
        state.printer.line(line)
    for line in textwrap.wrap(KEYS_HELP, max(20, width - 1)):
        state.printer.info(line)


@command("/model", "/mod", help="show or switch the model (Tab completes)", usage="/model [NAME]",
         completer=model_names)
def _model(state: ReplState, argument: str) -> None:
    if not argument:
        current = state.current_model or "none"
        state.printer.line(f"model: {current}")
        state.printer.info("switch with /model NAME (provider/model, a short name or an id)")
        return
    scoped = state.select_model(argument)
    state.printer.info(f"model: {scoped}")
    warning = state.context_warning()
    if warning:
        state.printer.warning(warning)
    state.redraw()


def _models_parser() -> Parser:
    parser = Parser(prog="/models", add_help=False, description="List the models known now.")
    parser.add_argument("terms", nargs="*", metavar="TEXT", help="words the name must contain")
    add_filter_arguments(parser)
    return parser


MAX_LISTED = 200


@command("/models", "/list", help="list models; filters: TEXT --provider P --tools --vision --reasoning"
         " --min-context N --max-price X", usage="/models [FILTER]", parser=_models_parser)
def _models(state: ReplState, argument: str) -> None:
    args = _models_parser().parse_args(split_arguments(argument))
    if args.provider:
        args.provider = state.runtime.manager.provider_named(args.provider).id
    rows = select(state.runtime.manager.model_records(), state.runtime.record_info,
                  filters_from(args, args.terms))
    if not rows:
        state.printer.line("no models match" if argument else "no models known; try /discover")
        return
    lines = as_table(rows)
    for line in lines[:MAX_LISTED]:
        state.printer.line(line)
    more = f" (showing {MAX_LISTED}; narrow with a filter)" if len(lines) > MAX_LISTED else ""
    state.printer.info(f"{plural(len(rows), 'model')}{more}")


@command("/info", help="everything the catalog knows about a model", usage="/info [MODEL]",
         completer=model_names)
def _info(state: ReplState, argument: str) -> None:
    if argument:
        provider, long = state.runtime.manager.resolve(argument)
        provider_id = provider.id
    elif state.chat.model:
        provider_id, long = state.chat.provider, state.chat.model
    else:
        raise UsageError("usage: /info MODEL (no model selected)")
    for line in info_card(f"{provider_id}/{long}", state.runtime.model_info(provider_id, long)):
        state.printer.line(line)


@command("/providers", help="list providers, key status and model counts")
def _providers(state: ReplState, argument: str) -> None:
    runtime = state.runtime
    if not runtime.manager:
        state.printer.line(f"no providers configured; add one to {runtime.paths.config_file}")
        return
    for line in provider_table(runtime):
        state.printer.line(line)


def _discover_parser() -> Parser:
    parser = Parser(prog="/discover", add_help=False,
                    description="Refresh the model lists in the background.")
    parser.add_argument("providers", nargs="*", metavar="PROVIDER",
                        help="providers to ask (default: all)")
    parser.add_argument("--validate", action="store_true",
                        help="try each new model with a one-token request (one per model)")
    parser.add_argument("--yes", action="store_true",
                        help="with --validate: go ahead without asking for hosted providers")
    return parser


@command("/discover", help="refresh model lists in the background",
         usage="/discover [PROVIDER ...] [--validate [--yes]]", parser=_discover_parser,
         completer=provider_names)
def _discover(state: ReplState, argument: str) -> None:
    args = _discover_parser().parse_args(split_arguments(argument))
    names = [state.runtime.manager.provider_named(w).id for w in args.providers]
    if not state.runtime.manager:
        raise UsageError(f"no providers configured; add one to {state.runtime.paths.config_file}")
    manager = state.runtime.manager
    env = state.runtime.env
    hosted = [n for n in names or list(manager.providers)  # without a key, none is sent
              if not manager.providers[n].is_local
              and manager.providers[n].resolve_api_key(env) is not None]
    if args.validate and hosted and not args.yes:
        known = sum(len(state.runtime.discovery.models_to_validate(n)) for n in hosted)
        state.printer.warning(
            f"--validate sends one chat request per new model, paid on hosted providers"
            f" (about {known} to {', '.join(hosted)} now); type `/discover {argument.strip()} --yes`"
            " to go ahead")
        return
    state.runtime.refresher.refresh(names or None, validate=args.validate)
    state.printer.info(f"discovering {', '.join(names) or 'all providers'} in the background…")
    state.redraw()


CLEAR_SYSTEM = ("--clear", '""', "''")


def clear_flag(state: ReplState) -> Completer:
    return FlagCompleter(CLEAR_SYSTEM[:1])


@command("/system", "/sp", help="show, set or clear (--clear) the system prompt",
         usage="/system [TEXT | --clear]", completer=clear_flag)
def _system(state: ReplState, argument: str) -> None:
    if not argument:
        state.printer.line(f"system prompt: {state.chat.system_prompt or '(none)'}")
        return
    if argument in CLEAR_SYSTEM:
        state.chat.system_prompt = None
        state.printer.info("system prompt cleared")
    else:
        state.chat.system_prompt = argument
        state.printer.info("system prompt set")
    state.autosave()


@command("/clear", "/reset", help="start a new conversation")
def _clear(state: ReplState, argument: str) -> None:
    state.chat.clear()
    state.pending_edit, state.next_input = None, ""
    if state.history is not None:
        state.history.new_conversation()
    state.printer.info("new conversation")
    state.autosave()


def _save_parser() -> Parser:
    parser = Parser(prog="/save", add_help=False,
                    description="Save the conversation. A NAME goes to the sessions folder; a"
                    " path starts with /, ./, ../ or ~, or ends with .json.")
    parser.add_argument("name", nargs="?", default="last", metavar="NAME|PATH",
                        help="session name or file path (default: last, replaced each time)")
    parser.add_argument("--force", action="store_true", help="replace an existing save")
    return parser


@command("/save", help="save the conversation (--force replaces a save)",
         usage="/save [--force] [NAME|PATH]", parser=_save_parser, completer=session_names)
def _save(state: ReplState, argument: str) -> None:
    args = _save_parser().parse_args(split_arguments(argument))
    path = state.store.path_for(args.name)
    if path.exists() and not (args.force or args.name == "last"):
        raise UsageError(f"{path} already exists; /save --force {args.name} replaces it,"
                         " or pick another name")
    path = state.store.save(args.name, state.chat.to_dict())
    if not is_explicit_path(args.name) and args.name != "last":
        name_current(state, args.name)
    state.printer.info(f"saved to {path}")


@command("/load", help="resume a conversation: an id or name from the history (Tab completes),"
         " or a saved file", usage="/load ID|NAME|PATH", completer=conversation_names)
def _load(state: ReplState, argument: str) -> None:
    if not argument:
        names = state.store.names()
        raise UsageError("usage: /load ID|NAME (/history lists them)"
                         + (f" (saved: {', '.join(names[:10])})" if names else ""))
    if load_stored(state, argument) is None:
        state.load_conversation(state.store.load(argument))
        if state.history is not None:  # the file's conversation, stored as a new one
            state.history.new_conversation()
            state.history.record(snapshot(state.chat))
    state.autosave()  # `--continue` resumes what was loaded
    for line in resumed_lines(state.chat, f"loaded {argument}"):
        state.printer.info(line)
    state.redraw()


@command("/retry", help="resend the last message (the one that failed, if the last turn did)")
def _retry(state: ReplState, argument: str) -> None:
    if not state.chat.can_retry():
        raise UsageError("nothing to retry yet")
    state.run_turn(None)


@command("/exit", "/quit", "/q", help="leave chatrepl (Ctrl-D too)")
def _exit(state: ReplState, argument: str) -> None:
    state.should_exit = True


# Commands kept in their own modules, registering on the same REGISTRY: /attach and /detach;
# /editor, /copy and /undo; the guards' /context and /budget; /set, /unset and /role; /compare
# and /keep; /history, /edit, /branches and /branch.
from chatrepl import (  # noqa: E402, F401
    attachcommands,
    comparecommands,
    editcommands,
    guard_commands,
    history_commands,
    param_commands,
)
