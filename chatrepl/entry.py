"""Chat entry: a one-shot reply to stdout, or the interactive REPL."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chatrepl.chat import ChatError, ChatSession, TurnResult, rehome
from chatrepl.errors import EXIT_FAILURE, EXIT_OK, StateError, UsageError
from chatrepl.recent import RecentModels, provider_of, remember_model
from chatrepl.render import Printer, wants_color, wants_truecolor
from chatrepl.reply import StreamEvent
from chatrepl.runtime import Runtime
from chatrepl.sanitize import clean
from chatrepl.sessions import SessionStore
from chatrepl.usagetext import estimate_usage, sent_messages, usage_line

if TYPE_CHECKING:
    from chatrepl.repl import Prepared


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


def _new_chat(runtime: Runtime, args: argparse.Namespace, store: SessionStore,
              say: Callable[[str], None]) -> ChatSession:
    if args.resume:
        data = store.load_autosave()
        if data is None:
            raise UsageError("no conversation to continue yet; start one without --continue")
        chat = ChatSession.from_dict(data, runtime.manager, runtime.env, runtime.config.chat)
        if args.model:
            chat.set_model(*_chosen(runtime, args.model))
        else:
            fallback = runtime.manager.starting_model(runtime.config.default_model)[:2]
            note = rehome(chat, fallback)
            if note is not None:
                say(note)
        if args.system:
            chat.system_prompt = args.system
        return chat
    provider, model = _initial_model(runtime, args.model, say)
    return ChatSession(runtime.manager, runtime.env, runtime.config.chat, provider=provider,
                       model=model, system_prompt=args.system or runtime.config.system_prompt)


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


def _remember_if_named(runtime: Runtime, name: str, provider: str, model: str) -> None:
    """A probed provider named in full at start-up is chosen (and kept for later runs)."""
    named = runtime.manager.named_provider(name)
    if named is not None and named.id == provider and named.probed:
        runtime.manager.choose([provider])
        remember_model(runtime.paths.recent_models_file, f"{provider}/{model}")


def _one_shot_prompt(args: argparse.Namespace, stdin: TextIO) -> str | None:
    """The prompt for one-shot mode, or None for the REPL."""
    words = list(args.prompt)
    piped = not (getattr(stdin, "isatty", None) and stdin.isatty())
    if words == ["-"] or (not words and piped):
        text = stdin.read()
        if not text.strip():
            raise UsageError("no prompt on stdin")
        return text
    return " ".join(words) if words else None


def run_one_shot(runtime: Runtime, args: argparse.Namespace, prompt: str, store: SessionStore,
                 stdout: TextIO, stderr: TextIO) -> int:
    """Stream one reply to stdout; errors to stderr with exit 1."""
    _load_recent(runtime)
    chat = _new_chat(runtime, args, store,
                     lambda line: stderr.write(clean(f"chatrepl: {line}") + "\n"))
    if not chat.model:
        raise UsageError("no model: pass -m PROVIDER/MODEL or set default_model in the config")

    printer = Printer(stdout, stderr, color=wants_color(stdout, runtime.env, args.plain),
                      truecolor=wants_truecolor(runtime.env),
                      err_color=wants_color(stderr, runtime.env, args.plain),
                      reasoning_to_err=True)  # stdout holds only the answer

    def on_event(event: StreamEvent) -> None:
        if event.kind == "content":
            printer.content(event.text)
        else:
            printer.reasoning(event.text)

    try:
        result = chat.send(prompt, on_event=on_event)
    except ChatError as exc:
        printer.finish_stream()  # ends a partial reply's line before the error
        printer.err_line(f"chatrepl: {exc}")
        return EXIT_FAILURE
    printer.finish_stream()
    if getattr(args, "usage", False):
        _print_usage(runtime, chat, result, printer)
    try:
        store.autosave(chat.to_dict())
    except (OSError, StateError) as exc:
        printer.err_line(f"chatrepl: warning: autosave failed: {exc}")
    return 130 if result.interrupted else EXIT_OK


def _no_providers_lines(runtime: Runtime) -> list[str]:
    from chatrepl.localmodel import offline_hint

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


def prepare_repl(runtime: Runtime, args: argparse.Namespace, stdout: TextIO, stderr: TextIO,
                 local_server: Any = None) -> Prepared:
    """The REPL state, the lines to greet with, and the work to start once the prompt is up."""
    from chatrepl.replstate import ReplState, resumed_lines

    store = SessionStore(runtime.paths.sessions_dir, runtime.paths.autosave_file)
    printer = Printer(stdout, stderr, color=wants_color(stdout, runtime.env, args.plain),
                      truecolor=wants_truecolor(runtime.env))
    notices: list[str] = []
    recent = _load_recent(runtime)
    chat = _new_chat(runtime, args, store, notices.append)
    state = ReplState(runtime, chat, store, printer, local_server=local_server, recent=recent)
    if chat.model:
        state.mark_used(state.current_model)
    discover = runtime.config.discovery.on_startup and not args.no_discover
    # With the local probe about to run, "no providers" waits for its answer.
    if not runtime.manager and not discover:
        notices += _no_providers_lines(runtime)
    if args.resume:
        notices += resumed_lines(chat, "resumed the last conversation")

    def probed(added: list[str]) -> None:
        if not runtime.manager:
            state.say(_no_providers_lines(runtime))

    def start_background() -> None:
        """Once the prompt is on screen: discovery, the catalog, local servers."""
        if discover and runtime.manager:
            local_id = local_server and "local"
            stale = [n for n in runtime.discovery.stale_providers() if n != local_id]
            if stale:
                runtime.refresher.refresh(stale, force=True)
        if local_server is not None:
            def local_ready(ready: bool) -> None:
                if ready:
                    runtime.refresher.refresh(["local"], force=True)
                else:
                    printer.error(local_server.failure_reason())
                state.redraw()

            local_server.wait_ready_in_background(on_done=local_ready)
        runtime.start_background_work(probe_local=discover, on_change=state.redraw,
                                      on_probed=probed)

    return state, notices, start_background


def start_local_server(runtime: Runtime, args: argparse.Namespace,
                       say: Callable[[str], None]) -> Any:
    """With --local (or nothing configured and the extra installed): start llama.cpp's server.

    Returns the started LocalServer, whose provider `local` is registered and selected, or None.
    `say` gets each line to show the user (why the local model is used, a model download).
    """
    if not (args.local or args.gguf) and runtime.manager:
        return None
    from chatrepl import localmodel, localserver

    cache_dir = runtime.paths.cache_dir
    if not (args.local or args.gguf):
        if not localmodel.is_available(cache_dir):
            return None
        say("no providers configured; chatting with the bundled local model (llama.cpp + SmolLM2)")
    if not localmodel.llama_cpp_available():
        raise UsageError(f"--local needs llama.cpp's server: {localmodel.install_hint()}")
    gguf = localmodel.ensure_gguf(Path(args.gguf) if args.gguf else None, cache_dir,
                                   on_fetch=say)
    server = localserver.LocalServer(gguf, runtime.paths.state_dir / localserver.LOG_NAME).start()
    runtime.discovery.add_providers({localserver.PROVIDER_ID: server.provider_config()})
    if not args.model:
        args.model = f"{localserver.PROVIDER_ID}/{server.model_id}"
    return server


def run_chat(runtime: Runtime, args: argparse.Namespace, stdin: TextIO, stdout: TextIO,
             stderr: TextIO) -> int:
    """One-shot when given a prompt or piped input; otherwise the REPL."""
    store = SessionStore(runtime.paths.sessions_dir, runtime.paths.autosave_file)
    prompt = _one_shot_prompt(args, stdin)
    server = start_local_server(runtime, args,
                                lambda line: stderr.write(clean(f"chatrepl: {line}") + "\n"))
    try:
        if prompt is not None:
            if server is not None:
                server.ensure_ready()
            return run_one_shot(runtime, args, prompt, store, stdout, stderr)
        from chatrepl.repl import run_repl

        prepared = prepare_repl(runtime, args, stdout, stderr, local_server=server)
        return run_repl(lambda: prepared, history_path=runtime.paths.history_file)
    finally:
        if server is not None:
            server.stop()
