"""The built-in slash commands, registered in one CommandRegistry."""

from __future__ import annotations

from chatrepl.commands import CommandRegistry, split_arguments
from chatrepl.errors import UsageError
from chatrepl.replstate import ReplState

REGISTRY = CommandRegistry()
command = REGISTRY.command


@command("/help", "/?", help="list commands")
def _help(state: ReplState, argument: str) -> None:
    width = max(len(c.usage) for c in REGISTRY)
    for cmd in REGISTRY:
        aliases = f"  (also {', '.join(cmd.aliases)})" if cmd.aliases else ""
        state.printer.line(f"{cmd.usage:<{width}}  {cmd.help}{aliases}")
    state.printer.info("Enter sends; Alt-Enter (Esc Enter) adds a line; Ctrl-C stops a reply;"
                       " Ctrl-D exits.")


@command("/model", "/mod", help="show or switch the model (Tab completes)", usage="/model [NAME]")
def _model(state: ReplState, argument: str) -> None:
    if not argument:
        current = state.current_model or "none"
        state.printer.line(f"model: {current}")
        state.printer.info("switch with /model NAME (provider/model, a short name or an id)")
        return
    scoped = state.select_model(argument)
    state.printer.info(f"model: {scoped}")
    state.redraw()


@command("/models", "/list", help="list known models, optionally filtered", usage="/models [FILTER]")
def _models(state: ReplState, argument: str) -> None:
    terms = argument.lower().split()
    records = [r for r in state.runtime.manager.model_records()
               if all(t in r.scoped_lower or t in r.short_lower for t in terms)]
    if not records:
        state.printer.line("no models match" if terms else "no models known; try /discover")
        return
    for record in records:
        short = "" if record.short == record.long else f"  ({record.short})"
        state.printer.line(f"{record.scoped}{short}")
    state.printer.info(f"{len(records)} models")


@command("/providers", help="list providers, key status and model counts")
def _providers(state: ReplState, argument: str) -> None:
    runtime = state.runtime
    if not runtime.manager:
        state.printer.line(f"no providers configured; add one to {runtime.paths.config_file}")
        return
    statuses = runtime.refresher.status
    for pid, provider in runtime.manager.items():
        status = statuses.get(pid)
        note = f"  ✗ {status.error}" if status and status.error else ""
        state.printer.line(f"{pid}  {provider.base_api_url}  key {provider.key_status(runtime.env)}"
                           f"  {len(provider.valid_models)} models{note}")


@command("/discover", help="refresh model lists in the background",
         usage="/discover [PROVIDER ...] [--validate]")
def _discover(state: ReplState, argument: str) -> None:
    words = split_arguments(argument)
    validate = "--validate" in words
    names = [state.runtime.manager.provider_named(w).id for w in words if w != "--validate"]
    if not state.runtime.manager:
        raise UsageError(f"no providers configured; add one to {state.runtime.paths.config_file}")
    state.runtime.refresher.refresh(names or None, validate=validate)
    state.printer.info(f"discovering {', '.join(names) or 'all providers'} in the background…")
    state.redraw()


@command("/system", "/sp", help="show or set the system prompt", usage="/system [TEXT]")
def _system(state: ReplState, argument: str) -> None:
    if not argument:
        state.printer.line(f"system prompt: {state.chat.system_prompt or '(none)'}")
        return
    state.chat.system_prompt = argument
    state.printer.info("system prompt set")
    state.autosave()


@command("/clear", "/reset", help="start a new conversation")
def _clear(state: ReplState, argument: str) -> None:
    state.chat.clear()
    state.printer.info("new conversation")
    state.autosave()


@command("/save", help="save the conversation", usage="/save [NAME]")
def _save(state: ReplState, argument: str) -> None:
    name = argument or "last"
    path = state.store.save(name, state.chat.to_dict())
    state.printer.info(f"saved to {path}")


@command("/load", help="load a saved conversation", usage="/load NAME")
def _load(state: ReplState, argument: str) -> None:
    if not argument:
        names = state.store.names()
        raise UsageError("usage: /load NAME" + (f" (saved: {', '.join(names[:10])})" if names else ""))
    state.load_conversation(state.store.load(argument))
    state.printer.info(f"loaded {argument}: {len(state.chat.messages)} messages,"
                       f" model {state.current_model or 'none'}")
    state.redraw()


@command("/retry", help="resend the last message")
def _retry(state: ReplState, argument: str) -> None:
    if not any(m.get("role") == "user" for m in state.chat.messages):
        raise UsageError("nothing to retry yet")
    state.run_turn(None)


@command("/exit", "/quit", "/q", help="leave chatrepl (Ctrl-D too)")
def _exit(state: ReplState, argument: str) -> None:
    state.should_exit = True
