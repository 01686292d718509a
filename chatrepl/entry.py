"""Chat entry: a one-shot reply to stdout, and the parts the REPL's loader is built from.

How the REPL starts is `cli.run_interactive`'s: it calls `start_local_server` and
`prepare_repl` on its loader thread.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chatrepl.attachcli import one_shot_attachments
from chatrepl.attachtray import outgoing
from chatrepl.attachwire import content_tokens, stored_bytes
from chatrepl.chat import ChatSession, TurnResult, rehome
from chatrepl.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ChatError,
    ChatReplError,
    StateError,
    UsageError,
)
from chatrepl.historyuse import history_enabled, resume_data
from chatrepl.recent import RecentModels, provider_of, remember_model
from chatrepl.render import Printer, wants_color, wants_truecolor
from chatrepl.reply import StreamEvent
from chatrepl.runtime import Runtime
from chatrepl.sanitize import clean
from chatrepl.sendguard import SendGuards, one_shot_refusal
from chatrepl.sessions import SessionStore
from chatrepl.usagetext import estimate_usage, sent_messages, usage_line

if TYPE_CHECKING:
    from chatrepl.attachments import Attachment
    from chatrepl.environment import Environment
    from chatrepl.historydb import Conversation
    from chatrepl.localserver import LocalServer
    from chatrepl.repl import Prepared
    from chatrepl.rolestart import StartingRole


def _initial_model(runtime: Runtime, requested: str | None,
                   say: Callable[[str], None]) -> tuple[str, str]:
    """(provider, model) from -m, the config's default_model, or the first known model.

    A bad -m is an error; a default_model that resolves to nothing is said once (`say`) and
    start-up goes on with the first known model.
    """
    if requested:
        return _chosen(runtime, requested)
    default = runtime.config.default_model
    provider, model, why = runtime.manager.starting_model(default)
    if why is not None:
        say(why)
    elif default and provider:
        _remember_if_named(runtime, default, provider, model)
    return provider, model


def requested_model(args: argparse.Namespace, local_server: LocalServer | None) -> str | None:
    """The model asked for: -m, else the local server's model when one was started."""
    if args.model or local_server is None:
        return args.model
    from chatrepl.localserver import PROVIDER_ID  # deferred: see chatrepl/__init__.py

    return f"{PROVIDER_ID}/{local_server.model_id}"


def _new_chat(runtime: Runtime, args: argparse.Namespace, store: SessionStore,
              say: Callable[[str], None], model: str | None,
              ) -> tuple[ChatSession, Conversation | None]:
    """The conversation (see `_resumed_or_new`) with the request parameters in force, and the
    `--role` (`args.starting_role`): its prompt unless -s gives one, its parameters, its model
    unless -m names one; with the stored conversation it continues, if it came from the
    history."""
    start: StartingRole | None = getattr(args, "starting_role", None)
    if start is not None and start.role.model and not model:
        model = start.role.model
    chat, stored = _resumed_or_new(runtime, args, store, say, model)
    chat.parameters = runtime.parameters
    if start is not None:
        if not args.system:
            chat.system_prompt = start.prompt
        runtime.parameters.use_role(start.role.name, start.role.parameters.values())
    return chat, stored


def _resumed_or_new(runtime: Runtime, args: argparse.Namespace, store: SessionStore,
                    say: Callable[[str], None], model: str | None,
                    ) -> tuple[ChatSession, Conversation | None]:
    """The conversation: resumed (--continue, --resume ID: the history first) or new, on
    `model` when one was asked for."""
    if args.resume or getattr(args, "resume_id", None):
        data, stored = resume_data(runtime.paths, args, history_enabled(runtime, args), store, say)
        chat = ChatSession.from_dict(data, runtime.manager, runtime.env, runtime.config.chat)
        if model:
            chat.set_model(*_chosen(runtime, model))
        else:
            fallback = runtime.manager.starting_model(runtime.config.default_model)[:2]
            note = rehome(chat, fallback)
            if note is not None:
                say(note)
        if args.system:
            chat.system_prompt = args.system
        return chat, stored
    provider, long = _initial_model(runtime, model, say)
    return ChatSession(runtime.manager, runtime.env, runtime.config.chat, provider=provider,
                       model=long, system_prompt=args.system or runtime.config.system_prompt), None


def _load_recent(runtime: Runtime) -> list[str]:
    """The models chosen in earlier runs; their probed providers serve bare names again."""
    recent = RecentModels(runtime.paths.recent_models_file).load()
    runtime.manager.choose(provider_of(name) for name in recent)
    return recent


def _chosen(runtime: Runtime, name: str) -> tuple[str, str]:
    """Resolve a model the user named; a provider named in full is remembered as chosen."""
    provider, long = runtime.manager.resolve(name)
    _remember_if_named(runtime, name, provider.id, long)
    return provider.id, long


def _resolves(runtime: Runtime, name: str) -> bool:
    """True when `name` resolves to a model with what is known now."""
    try:
        runtime.manager.resolve(name)
    except ChatReplError:
        return False
    return True


def _remember_if_named(runtime: Runtime, name: str, provider: str, model: str) -> None:
    """A probed provider named in full at start-up is chosen (and kept for later runs)."""
    named = runtime.manager.named_provider(name)
    if named is not None and named.id == provider and named.probed:
        runtime.manager.choose([provider])
        remember_model(runtime.paths.recent_models_file, f"{provider}/{model}")


def _one_shot_prompt(args: argparse.Namespace, environment: Environment) -> str:
    """The prompt of a one-shot run: the words of argv, or stdin ('-' or piped)."""
    words = list(args.prompt)
    if words == ["-"] or not words:
        text = environment.stdin.read()
        if not text.strip():
            raise UsageError("no prompt on stdin")
        return text.rstrip("\r\n")  # `echo q | chatrepl` asks "q", not "q\n"
    return " ".join(words)


def _say_to(stderr: TextIO) -> Callable[[str], None]:
    """A `say` callback that writes one cleaned `chatrepl: ` line to `stderr`."""
    def say(line: str) -> None:
        stderr.write(clean(f"chatrepl: {line}") + "\n")
    return say


def run_one_shot(runtime: Runtime, args: argparse.Namespace, prompt: str, store: SessionStore,
                 stdout: TextIO, stderr: TextIO, model: str | None = None,
                 attachments: Sequence[Attachment] = ()) -> int:
    """Stream one reply to stdout; errors to stderr with exit 1. `model`: as -m (default).
    `attachments` go with the prompt (AttachmentError before any request when the model
    cannot take them)."""
    _load_recent(runtime)
    requested = model if model is not None else args.model
    resuming = args.resume or getattr(args, "resume_id", None)
    wanted = requested or (None if resuming else runtime.config.default_model)
    if wanted and not _resolves(runtime, wanted):  # a first run: nothing discovered yet
        stale = runtime.discovery.stale_providers()
        if stale:
            runtime.discovery.discover_all(stale)
    chat, stored = _new_chat(runtime, args, store, _say_to(stderr), requested)
    if not chat.model:
        raise UsageError("no model: pass -m PROVIDER/MODEL" + (
            "" if runtime.config.default_model else " or set default_model in the config"))

    printer = Printer(stdout, stderr, color=wants_color(stdout, runtime.env, args.plain),
                      truecolor=wants_truecolor(runtime.env),
                      err_color=wants_color(stderr, runtime.env, args.plain),
                      reasoning_to_err=True)  # stdout holds only the answer

    def on_event(event: StreamEvent) -> None:
        if event.kind == "content":
            printer.content(event.text)
        else:
            printer.reasoning(event.text)

    # Attachments the model cannot take: AttachmentError (exit 2) before any guard or request.
    records = outgoing(attachments, runtime.model_info(chat.provider, chat.model),
                       f"{chat.provider}/{chat.model}",
                       sum(content_tokens(m["content"]) for m in chat.wire_messages())
                       + len(prompt) // 4, stored_bytes(chat.messages)) if attachments else ()
    refusal = None if getattr(args, "yes", False) else one_shot_refusal(
        SendGuards(), chat, lambda: runtime.model_info(chat.provider, chat.model), prompt,
        runtime.config.budget, lambda line: printer.err_line(f"chatrepl: {line}"), records)
    if refusal is not None:
        printer.err_line(f"chatrepl: {refusal}")
        return EXIT_USAGE
    for line in runtime.parameters.notes_for(chat.provider, chat.model):
        printer.err_line(f"chatrepl: {line}")
    try:
        result = chat.send(prompt, on_event=on_event, attachments=records)
    except ChatError as exc:
        printer.finish_stream()  # ends a partial reply's line before the error
        printer.err_line(f"chatrepl: {exc}")
        return EXIT_FAILURE
    printer.finish_stream()
    cost = _turn_cost(runtime, result)
    if getattr(args, "usage", False):
        _print_usage(runtime, chat, result, printer)
    if history_enabled(runtime, args):  # first: the old autosave is imported before it goes
        from chatrepl.historyuse import record_one_shot

        record_one_shot(runtime.paths, chat, stored, result.usage, cost,
                        lambda line: printer.err_line(f"chatrepl: warning: {line}"))
    try:
        store.autosave(chat.to_dict())
    except (OSError, StateError) as exc:
        printer.err_line(f"chatrepl: warning: autosave failed: {exc}")
    return 130 if result.interrupted else EXIT_OK


def _turn_cost(runtime: Runtime, result: TurnResult) -> float | None:
    """The price of a turn whose usage the server reported, when the model's price is known."""
    info = runtime.model_info(result.provider, result.model) if result.usage else None
    usage = result.usage
    return info.cost(usage.prompt_tokens, usage.completion_tokens) if info and usage else None


def _no_providers_lines(runtime: Runtime) -> list[str]:
    from chatrepl.localmodel import offline_hint  # deferred: see chatrepl/__init__.py

    return [f"No providers configured. Add one to {runtime.paths.config_file}",
            "(see config.example.yaml or run `chatrepl init`), set a key such as"
            f" OPENAI_API_KEY, or {offline_hint()}."]


def _print_usage(runtime: Runtime, chat: ChatSession, result: TurnResult,
                 printer: Printer) -> None:
    """`--usage`: tokens in and out (and the cost when the price is known) on stderr; a local
    estimate, marked `~`, when the server reported none."""
    usage = result.usage
    if usage is None:
        usage = estimate_usage(sent_messages(chat), result.reasoning + result.text)
    info = runtime.model_info(result.provider, result.model)
    cost = info.cost(usage.prompt_tokens, usage.completion_tokens) if info else None
    printer.err_line(usage_line(usage, cost, estimated=result.usage is None), dim=True)


def repl_printer(args: argparse.Namespace, environment: Environment) -> Printer:
    """The REPL's printer on the environment's streams."""
    return Printer(environment.stdout, environment.stderr,
                   color=wants_color(environment.stdout, environment.env, args.plain),
                   truecolor=wants_truecolor(environment.env))


def prepare_repl(runtime: Runtime, args: argparse.Namespace, stdout: TextIO, stderr: TextIO,
                 local_server: LocalServer | None = None, *,
                 printer: Printer | None = None) -> Prepared:
    """The REPL state, the lines to greet with, and the work to start once the prompt is up.

    Runs on the REPL's loader thread; `printer` (default: one on stdout and stderr) is the
    state's."""
    from chatrepl.repl import Prepared  # deferred: see chatrepl/__init__.py
    from chatrepl.replstate import ReplState, resumed_lines

    store = SessionStore(runtime.paths.sessions_dir, runtime.paths.autosave_file)
    if printer is None:
        printer = Printer(stdout, stderr, color=wants_color(stdout, runtime.env, args.plain),
                          truecolor=wants_truecolor(runtime.env))
    notices: list[str] = []
    recent = _load_recent(runtime)
    requested = requested_model(args, local_server)
    chat, stored = _new_chat(runtime, args, store,
                             lambda line: notices.append(ChatReplError(line).in_repl()), requested)
    state = ReplState(runtime, chat, store, printer, local_server=local_server, recent=recent)
    if history_enabled(runtime, args):
        from chatrepl.historyuse import make_recorder

        state.history = make_recorder(runtime.paths, lambda line: state.say([line], error=True))
        if stored is not None:
            state.history.follow(stored)
    default = runtime.config.default_model
    resuming = args.resume or getattr(args, "resume_id", None)
    if default and not requested and not resuming and not _resolves(runtime, default):
        state.pending_default = default  # discovery may yet find it
        runtime.refresher.add_callback(state.retry_default_model)
    if chat.model:
        state.mark_used(state.current_model)
    discover = runtime.config.discovery.on_startup and not args.no_discover
    # With the local probe about to run, "no providers" waits for its answer.
    if not runtime.manager and not discover:
        notices += _no_providers_lines(runtime)
    if getattr(args, "after_one_shot", False):  # -i: its exchange is on screen just above
        notices += resumed_lines(chat, "this conversation goes on here")[:1]
    elif resuming:
        what = f"resumed conversation {args.resume_id}" if getattr(args, "resume_id", None) \
            else "resumed the last conversation"
        notices += resumed_lines(chat, what)

    def probed(added: list[str]) -> None:
        if not runtime.manager:
            state.say(_no_providers_lines(runtime))

    def start_background() -> None:
        """Once the prompt is on screen: discovery, the catalog, local servers, the history."""
        if state.history is not None:
            state.history.start()
        if discover and runtime.manager:
            local_id = local_server and "local"
            stale = [n for n in runtime.discovery.stale_providers() if n != local_id]
            if stale:
                runtime.refresher.refresh(stale, force=True)
        if local_server is not None:
            def local_ready(ready: bool) -> None:  # on the server's waiting thread
                if ready:
                    runtime.refresher.refresh(["local"], force=True)
                elif local_server.state != "stopped":  # not stopped by the REPL on its way out
                    state.say([local_server.failure_reason()], error=True)
                state.redraw()

            local_server.wait_ready_in_background(on_done=local_ready)
        runtime.start_background_work(probe_local=discover, on_change=state.redraw,
                                      on_probed=probed)
        if getattr(args, "attach", None):  # `chatrepl -a PATH`: staged for the first message
            state.attachments.start_paths(args.attach, Path.cwd(),
                                          lambda lines, error: state.say(lines, error=error),
                                          state.redraw)

    return Prepared(state, notices, start_background)


def start_local_server(runtime: Runtime, args: argparse.Namespace, say: Callable[[str], None],
                       start: Callable[[LocalServer], LocalServer] | None = None,
                       ) -> LocalServer | None:
    """With --local (or nothing configured and the extra installed): start llama.cpp's server.

    Returns the started LocalServer, whose provider `local` is registered, or None (the chat
    picks it by `requested_model`). `say` gets each line to show the user (why the local model
    is used, a model download). `start` starts the server on the main thread (default: here,
    which must then be the main thread; see `LocalServer.start`).
    """
    if not (args.local or args.gguf) and runtime.manager:
        return None
    from chatrepl import localmodel, localserver  # deferred: see chatrepl/__init__.py

    cache_dir = runtime.paths.cache_dir
    if not (args.local or args.gguf):
        if not localmodel.is_available(cache_dir):
            return None
        say("no providers configured; chatting with the bundled local model (llama.cpp + SmolLM2)")
    if not localmodel.llama_cpp_available():
        raise UsageError(f"--local needs llama.cpp's server: {localmodel.install_hint()}")
    gguf = localmodel.ensure_gguf(Path(args.gguf) if args.gguf else None, cache_dir,
                                   on_fetch=say)
    server = localserver.LocalServer(gguf, runtime.paths.state_dir / localserver.LOG_NAME)
    server = server.start() if start is None else start(server)
    runtime.discovery.add_providers({localserver.PROVIDER_ID: server.provider_config()})
    return server


def run_chat(runtime: Runtime, args: argparse.Namespace, environment: Environment) -> int:
    """A one-shot reply: to the prompt words, or to stdin ('-' or piped)."""
    store = SessionStore(runtime.paths.sessions_dir, runtime.paths.autosave_file)
    prompt = _one_shot_prompt(args, environment)
    from_words = bool(args.prompt) and list(args.prompt) != ["-"]
    attachments = one_shot_attachments(args, from_words, environment.stdin,
                                       bool(environment.stdin_isatty), prompt)
    stderr = environment.stderr
    server = start_local_server(runtime, args, _say_to(stderr))
    try:
        if server is not None:
            server.ensure_ready()
        return run_one_shot(runtime, args, prompt, store, environment.stdout, stderr,
                            requested_model(args, server), attachments)
    finally:
        if server is not None:
            server.stop()
