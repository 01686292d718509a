"""The CLI subcommands (`chatrepl models`, `discover`, ...): one row each in SUBCOMMANDS.

To add a subcommand, add a `Subcommand` row: its name, one-line help, a function adding its
arguments to its parser and the function that runs it. The `--help` epilog, finding it in argv
and dispatch all read the table (cli.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TextIO

from chatrepl.errors import EXIT_FAILURE, EXIT_OK, UsageError
from chatrepl.fsutil import write_atomic
from chatrepl.modelinfo import info_json
from chatrepl.providertable import provider_rows, provider_table
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.paths import Paths
    from chatrepl.runtime import Runtime


@dataclass(frozen=True)
class Call:
    """What a subcommand runs with: its parsed arguments, where files are, the process
    environment, where to write, a yes/no question on the terminal (None without one) and,
    for a row that needs it, the runtime."""

    args: argparse.Namespace
    paths: Paths
    env: Mapping[str, str]
    out: TextIO
    err: TextIO
    ask: Callable[[str], bool] | None = None
    given_runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        """The runtime; only rows with `needs_runtime` are given one."""
        if self.given_runtime is None:
            raise RuntimeError("this subcommand was declared without needs_runtime")
        return self.given_runtime


@dataclass(frozen=True)
class Subcommand:
    """One CLI subcommand: `add_arguments(parser)` declares its arguments (--config is added
    for every row), `run(call)` runs it and returns the exit code; `needs_runtime` says whether
    the config, providers and discovery are built before it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Call], int]
    needs_runtime: bool = True


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _models_arguments(parser: argparse.ArgumentParser) -> None:
    from chatrepl.modelquery import add_filter_arguments

    parser.add_argument("terms", nargs="*", metavar="TEXT",
                        help="only models whose name contains every TEXT")
    add_filter_arguments(parser)
    _add_json(parser)


def cmd_models(call: Call) -> int:
    from chatrepl.modelquery import as_json, as_table, filters_from, select

    runtime, args, out = call.runtime, call.args, call.out
    filters = filters_from(args, args.terms)
    if args.provider:
        filters = replace(filters, provider=runtime.manager.provider_named(args.provider).id)
    rows = select(runtime.manager.model_records(), runtime.record_info, filters)
    if args.json:
        json.dump(as_json(rows), out, indent=1)
        out.write("\n")
        return EXIT_OK
    if not rows:
        out.write("no models match; run `chatrepl discover` to refresh the lists\n")
        return EXIT_OK
    out.write("\n".join(as_table(rows)) + "\n")
    return EXIT_OK


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="provider/model, a short name or an id")
    _add_json(parser)


def cmd_info(call: Call) -> int:
    from chatrepl.manager import ModelRecord
    from chatrepl.modelquery import info_card

    runtime, out = call.runtime, call.out
    provider, long = runtime.manager.resolve(call.args.model)
    info = runtime.model_info(provider.id, long)
    if call.args.json:
        json.dump(info_json(ModelRecord(provider.id, long, provider.valid_models.get(long, long)),
                            info), out, indent=1)
        out.write("\n")
    else:
        out.write("\n".join(info_card(f"{provider.id}/{long}", info)) + "\n")
    return EXIT_OK


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A subcommand with no arguments of its own."""


def cmd_init(call: Call) -> int:
    from chatrepl.localprobe import probe_local_servers, render_init_config
    from chatrepl.presets import preset_providers

    target = call.paths.config_file
    if target.exists():
        raise UsageError(f"{target} already exists; edit it, or move it away to start over")
    found, local = preset_providers(call.env), probe_local_servers()
    write_atomic(target, render_init_config(found, local))
    call.out.write(f"wrote {target}: {plural(len(found), 'provider')} with keys set,"
                   f" {plural(len(local), 'local server')}\n")
    return EXIT_OK


def _discover_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("providers", nargs="*", metavar="PROVIDER",
                        help="providers to ask (default: all)")
    parser.add_argument("--validate", action="store_true",
                        help="try each new model with a one-token chat request (one request"
                             " per model: asks first for hosted providers)")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="with --validate: do not ask (needed without a terminal)")
    _add_json(parser)


def _validation_plan(runtime: Runtime, names: Sequence[str]) -> tuple[dict[str, list[str]], int]:
    """Models to validate per provider, and how many of the requests go to hosted providers."""
    plan = {name: runtime.discovery.models_to_validate(name) for name in names}
    hosted = sum(len(ids) for name, ids in plan.items()
                 if not runtime.manager.providers[name].is_local)
    return {name: ids for name, ids in plan.items() if ids}, hosted


def cmd_discover(call: Call) -> int:
    runtime, args, out, err, ask = call.runtime, call.args, call.out, call.err, call.ask
    names = [runtime.manager.provider_named(n).id for n in args.providers]
    if not runtime.manager:
        raise UsageError("no providers configured; add one to the config file "
                         f"({runtime.paths.config_file})")
    chosen = names or list(runtime.manager.providers)
    if (args.validate and not args.yes and ask is None
            and any(not runtime.manager.providers[n].is_local
                    and runtime.manager.providers[n].resolve_api_key(runtime.env) is not None
                    for n in chosen)):
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


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    from chatrepl.historycli import add_arguments

    add_arguments(parser)


def cmd_history(call: Call) -> int:
    from chatrepl.historycli import cmd_history as run

    return run(call)


def cmd_providers(call: Call) -> int:
    runtime, out = call.runtime, call.out
    if call.args.json:
        json.dump(provider_rows(runtime), out, indent=1)
        out.write("\n")
        return EXIT_OK
    if not runtime.manager:
        out.write(f"no providers configured; add one to {runtime.paths.config_file}\n")
        return EXIT_OK
    out.write("\n".join(provider_table(runtime)) + "\n")
    return EXIT_OK


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    from chatrepl.comparecli import compare_arguments

    compare_arguments(parser)


def cmd_compare(call: Call) -> int:
    from chatrepl.comparecli import cmd_compare as run_compare

    return run_compare(call)


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("models", "List known models with their catalog facts.", _models_arguments,
               cmd_models),
    Subcommand("discover", "Ask providers for their models now; exit 1 if any failed.",
               _discover_arguments, cmd_discover),
    Subcommand("providers", "List configured providers.", _add_json, cmd_providers),
    Subcommand("info", "Show what the catalog knows about a model.", _info_arguments, cmd_info),
    Subcommand("init", "Write a commented config file listing the providers whose keys are set"
                       " and the local servers found; never overwrites.", _no_arguments, cmd_init,
               needs_runtime=False),
    Subcommand("compare", "Send one prompt to several models at once (-m A -m B ...) and print"
                          " each reply with its figures; exit 1 if all failed.",
               _compare_arguments, cmd_compare),
    Subcommand("history", "List, search, show, export, delete, purge or import the stored"
                          " conversations.", _history_arguments, cmd_history, needs_runtime=False),
)
