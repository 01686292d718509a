"""`chatrepl compare -m A -m B [-m C] PROMPT [--json]`: one prompt to several models at once.

Prints each reply with its figures (time to first token, tokens per second, tokens, cost when
known); on a terminal the replies stream side by side as in the REPL's /compare. `--json`
prints one record per model instead. Exit 0 when some model answered, 1 when all failed, 130
when interrupted, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from chatrepl.compare import MAX_MODELS, MIN_MODELS, Contender, distinct_contenders, run_comparison
from chatrepl.comparerender import CompareView, status_text
from chatrepl.errors import EXIT_FAILURE, EXIT_OK, UnknownModelError
from chatrepl.render import wants_color

if TYPE_CHECKING:
    from chatrepl.runtime import Runtime
    from chatrepl.subcommands import Call

EXIT_INTERRUPTED = 130


def compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="+", metavar="PROMPT", help="the message to send")
    parser.add_argument("-m", "--model", action="append", dest="models", default=[],
                        metavar="MODEL", required=True,
                        help=f"a model to ask ({MIN_MODELS} to {MAX_MODELS}: repeat -m)")
    parser.add_argument("-s", "--system", help="system prompt for every model")
    parser.add_argument("--plain", action="store_true", help="no colours")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON record per model: text, error, figures")


def _contenders(runtime: Runtime, names: list[str]) -> list[Contender]:
    stale = runtime.discovery.stale_providers()

    def resolve(name: str) -> Contender:
        nonlocal stale
        try:
            provider, long = runtime.manager.resolve(name)
        except UnknownModelError:
            if not stale:
                raise
            runtime.discovery.discover_all(stale)  # a first run: nothing discovered yet
            stale = []
            provider, long = runtime.manager.resolve(name)
        return Contender(provider.id, long)

    return distinct_contenders(resolve, names, "-m MODEL -m MODEL [-m MODEL...]")


def cmd_compare(call: Call) -> int:
    from chatrepl.chat import ChatSession

    runtime, args = call.runtime, call.args
    contenders = _contenders(runtime, args.models)
    base = ChatSession(runtime.manager, runtime.env, runtime.config.chat,
                       provider=contenders[0].provider, model=contenders[0].model,
                       system_prompt=args.system or runtime.config.system_prompt)
    base.parameters = runtime.parameters  # the config's and saved defaults, per model
    for contender in contenders:
        for line in runtime.parameters.notes_for(contender.provider, contender.model):
            call.err.write(f"chatrepl: {line}\n")
    prompt = " ".join(args.prompt)
    # The view cleans every piece of model text itself and adds its own cursor and colour codes.
    out = getattr(call.out, "wrapped", call.out)
    view = None if args.json else CompareView(
        out, contenders, color=wants_color(out, runtime.env, args.plain))
    comparison = run_comparison(base, contenders, prompt,
                                on_event=view.add if view is not None else None,
                                tick=view.draw if view is not None else None,
                                info_for=runtime.model_info)
    if view is not None:
        view.finish(comparison)
    else:
        json.dump(comparison.as_json(), call.out, indent=1, ensure_ascii=False)
        call.out.write("\n")
    for number, answer in enumerate(comparison.answers, 1):
        if answer.error is not None:
            call.err.write(f"chatrepl: [{number}] {status_text(answer)}\n")
    if comparison.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if comparison.all_failed else EXIT_OK
