"""Benchmark: start-up, from spawning `chatrepl` in a pseudo-terminal to a usable prompt.

Set-up: 5 providers on 5 loopback fake servers, discovery on at start-up, and a discovered-models
state file with 5,000 models (1,000 per provider) that is stale, so discovery runs in the
background while the prompt comes up, as it would for a user. The state file is written afresh
before every run (discovery rewrites it).

Figures, each repeated --rounds times, interleaved so a noisy moment hits all alike:
* REPL: time from spawn to the prompt '›' drawn, and to a character typed after it echoed back
  (the prompt accepts input): that is "usable". Also with --no-discover, and with chatrepl's
  background threads started 0.5 s late, to show what they cost the prompt.
* References (no goal): a bare `PromptSession().prompt()` to usable, alone and after importing
  pydantic's BaseModel and yaml: the floor for any prompt_toolkit program with these deps.
* Baseline: `python -c "import prompt_toolkit"` spawned the same way (pty), to exit.
  Goal: usable <= 1.6x baseline.
* `chatrepl --version` and `chatrepl models --json` run to exit with output to a pipe, against
  the same baseline run the same way (subprocess). No goal; reported.
Then `-X importtime` top-15 (cumulative) of `chatrepl --version`, of the REPL modules, and of a
real REPL run to its prompt, and a phase breakdown of the start-up path measured in one process.

    python bench/startup.py [--rounds N]

The pty sets PROMPT_TOOLKIT_NO_CPR=1: a pseudo-terminal never answers prompt_toolkit's
cursor-position request, which would add a ~1 s wait a real terminal does not have.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CHATREPL,
    PROMPT,
    ROOT,
    child_env,
    fake_servers,
    headline,
    importtime,
    median_importtimes,
    parse_importtime,
    print_importtime,
    print_table,
    quit_repl,
    spawn,
    summary,
    time_subprocess,
    time_to_exit,
    verdict,
    write_config,
    write_discovered,
    write_record,
)

PROVIDERS = 5
MODELS_PER_PROVIDER = 1000
GOAL = 1.6
PROBE = "@"  # typed at the prompt; nothing else chatrepl draws holds it
BASELINE = (sys.executable, "-c", "import prompt_toolkit")
FAMILIES = ("gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b-instruct", "qwen2.5-coder-32b",
            "gemini-1.5-flash", "mistral-large", "deepseek-r1-distill", "o3-mini")
HEAVY = ("prompt_toolkit", "asyncio", "pydantic", "importlib.metadata", "yaml",
         "openai", "httpx2", "httpx", "rich", "pygments", "chatrepl.config", "chatrepl.catalog",
         "chatrepl.discovery", "chatrepl.localserver")


def model_ids(provider: int, count: int) -> list[str]:
    return [f"{FAMILIES[n % len(FAMILIES)]}-p{provider}-{n:04d}" for n in range(count)]


class Setup:
    """The home directory, config and state file of the start-up runs."""

    def __init__(self, home: Path, urls: list[str]) -> None:
        self.home = home
        self.providers = {f"p{i}": url for i, url in enumerate(urls)}
        self.found = {pid: (url, model_ids(i, MODELS_PER_PROVIDER))
                      for i, (pid, url) in enumerate(self.providers.items())}
        write_config(home, self.providers, discovery=True)
        self.env = child_env(home)

    def reset_state(self) -> None:
        """A stale state file (a day old), so discovery runs at start-up."""
        write_discovered(self.home, self.found, time.time() - 86400)


# References: the least any prompt_toolkit prompt costs, and that plus pydantic models and YAML.
MINIMAL_PROMPT = textwrap.dedent("""
    from prompt_toolkit import PromptSession
    try:
        PromptSession().prompt("› ")
    except (EOFError, KeyboardInterrupt):
        pass
""")
MINIMAL_PROMPT_PYDANTIC = "from pydantic import BaseModel, Field\nimport yaml\n" + MINIMAL_PROMPT
# Diagnostic: chatrepl with its background threads (discovery, catalog, local probe) started
# 0.5 s late, i.e. after the prompt: what their competing for the GIL costs the prompt.
DEFERRED_THREADS = textwrap.dedent("""
    import sys, threading
    _start = threading.Thread.start
    def start(self):
        if self.name.startswith("chatrepl-"):
            timer = threading.Timer(0.5, _start, args=(self,))
            timer.daemon = True
            _start(timer)
        else:
            _start(self)
    threading.Thread.start = start
    from chatrepl.cli import main
    sys.argv = ["chatrepl"]
    raise SystemExit(main())
""")


def time_repl(setup: Setup, argv: list[str] | tuple[str, ...] = CHATREPL) -> tuple[float, float]:
    """(to prompt, to usable): seconds from spawn to '›', and to the echo of a key typed then."""
    setup.reset_state()
    start = time.perf_counter()
    child = spawn(argv, setup.env)
    try:
        child.expect_exact(PROMPT, timeout=30)
        prompt = time.perf_counter() - start
        child.send(PROBE)
        child.expect_exact(PROBE, timeout=30)
        usable = time.perf_counter() - start
    finally:
        quit_repl(child)
    return prompt, usable


PHASES = textwrap.dedent("""
    import os, sys, time, json
    marks = [("start", time.perf_counter())]
    def mark(name):
        marks.append((name, time.perf_counter()))
    import chatrepl.cli
    mark("import chatrepl.cli")
    from chatrepl.paths import resolve_paths
    from chatrepl.runtime import build_runtime
    mark("import chatrepl.runtime (config, discovery, catalog, ...)")
    runtime = build_runtime(resolve_paths(os.environ), os.environ)
    mark("build_runtime(): config + 5,000 discovered models + manager")
    import chatrepl.entry
    mark("import chatrepl.entry (chat, render, sessions)")
    import chatrepl.repl
    mark("import chatrepl.repl (prompt_toolkit, completer)")
    from chatrepl.entry import _new_chat
    from chatrepl.render import Printer
    from chatrepl.replstate import ReplState
    from chatrepl.sessions import SessionStore
    import argparse
    args = argparse.Namespace(resume=False, model=None, system=None, plain=False)
    store = SessionStore(runtime.paths.sessions_dir, runtime.paths.autosave_file)
    chat, _stored = _new_chat(runtime, args, store, print, None)
    state = ReplState(runtime, chat, store, Printer(color=False))
    mark("ChatSession + ReplState")
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    with create_pipe_input() as pipe:
        session = chatrepl.repl.make_prompt_session(state, input=pipe, output=DummyOutput())
    mark("make_prompt_session() (history, completer, key bindings)")
    import openai
    mark("import openai (discovery thread, off the prompt's path if kept there)")
    len(runtime.catalog)
    mark("catalog load (background thread)")
    import rich.console
    mark("import rich.console (first styled markdown line)")
    base = marks[0][1]
    out, previous = [], base
    for name, stamp in marks[1:]:
        out.append((name, (stamp - previous) * 1000))
        previous = stamp
    print(json.dumps(out))
""")


def phase_breakdown(setup: Setup, runs: int = 3) -> list[tuple[str, float]]:
    """Per phase of the start-up path, the median ms over `runs` fresh processes."""
    import json
    import statistics
    import subprocess

    samples: list[list[tuple[str, float]]] = []
    for _ in range(runs):
        setup.reset_state()
        done = subprocess.run([sys.executable, "-c", PHASES], env=setup.env, capture_output=True,
                              text=True, cwd=str(ROOT), stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            print(f"phase breakdown failed (the start-up code changed?): {done.stderr.strip()[-300:]}")
            return []
        samples.append([(name, value) for name, value in json.loads(done.stdout.splitlines()[-1])])
    return [(name, statistics.median(run[i][1] for run in samples))
            for i, (name, _) in enumerate(samples[0])]


def repl_importtime(setup: Setup, log: Path) -> dict[str, Any]:
    """-X importtime of real REPL runs (spawn, prompt, one key, Ctrl-D), cut where the prompt
    showed: what was imported before the prompt, and in the whole run (all threads)."""
    import statistics

    before, whole, totals = [], [], []
    for _ in range(3):
        setup.reset_state()
        env = {**setup.env, "PYTHONPROFILEIMPORTTIME": "1"}
        child = spawn(["/bin/sh", "-c", f'exec "$0" -m chatrepl 2>"{log}"', sys.executable], env)
        try:
            child.expect_exact(PROMPT, timeout=30)
            # stderr is unbuffered: the lines so far are the imports finished before the prompt.
            at_prompt = parse_importtime(log.read_text(encoding="utf-8", errors="replace"))
            child.send(PROBE)
            child.expect_exact(PROBE, timeout=30)
        finally:
            quit_repl(child)
        before.append(at_prompt)
        whole.append(parse_importtime(log.read_text(encoding="utf-8", errors="replace")))
        totals.append(sum(cumulative for depth, _name, _own, cumulative in at_prompt if depth == 0))
    return {"before_prompt": median_importtimes(before), "whole_run": median_importtimes(whole),
            "before_prompt_total_ms": statistics.median(totals) / 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="runs per figure (default 10)")
    parser.add_argument("--no-profile", action="store_true", help="skip importtime and phases")
    args = parser.parse_args(argv)

    samples: dict[str, list[float]] = {k: [] for k in (
        "baseline_pty", "minimal", "minimal_pydantic", "repl_prompt", "repl_usable",
        "nodisc_usable", "deferred_usable", "baseline_sub", "version", "models_json")}
    profile: dict[str, Any] = {}
    with fake_servers(PROVIDERS) as servers, \
            tempfile.TemporaryDirectory(prefix="chatrepl-bench-startup-") as tmp:
        for i, server in enumerate(servers):
            server.behavior.models = model_ids(i, MODELS_PER_PROVIDER)
        setup = Setup(Path(tmp) / "home", [s.url for s in servers])
        # Warm-up: page cache, .pyc files, the catalog cache.
        time_to_exit(BASELINE, setup.env)
        time_repl(setup)
        for _ in range(args.rounds):
            samples["baseline_pty"].append(time_to_exit(BASELINE, setup.env))
            prompt, usable = time_repl(setup)
            samples["repl_prompt"].append(prompt)
            samples["repl_usable"].append(usable)
            samples["minimal"].append(time_repl(setup, (sys.executable, "-c", MINIMAL_PROMPT))[1])
            samples["minimal_pydantic"].append(
                time_repl(setup, (sys.executable, "-c", MINIMAL_PROMPT_PYDANTIC))[1])
            samples["nodisc_usable"].append(time_repl(setup, (*CHATREPL, "--no-discover"))[1])
            samples["deferred_usable"].append(
                time_repl(setup, (sys.executable, "-c", DEFERRED_THREADS))[1])
            samples["baseline_sub"].append(time_subprocess(BASELINE, setup.env))
            samples["version"].append(time_subprocess([*CHATREPL, "--version"], setup.env))
            setup.reset_state()
            samples["models_json"].append(time_subprocess([*CHATREPL, "models", "--json"],
                                                          setup.env))
        discovered = sum(server.count("/models") for server in servers)
        if not args.no_profile:
            profile["version"] = importtime(["-m", "chatrepl", "--version"], setup.env)
            profile["repl_modules"] = importtime(
                ["-c", "import chatrepl.cli, chatrepl.entry, chatrepl.repl"], setup.env)
            run = repl_importtime(setup, Path(tmp) / "importtime.log")
            profile["before_prompt"], profile["repl_run"] = run["before_prompt"], run["whole_run"]
            profile["before_prompt_total_ms"] = run["before_prompt_total_ms"]
            profile["phases"] = phase_breakdown(setup)

    stats = {name: summary(values) for name, values in samples.items()}
    pty_base, sub_base = stats["baseline_pty"]["median"], stats["baseline_sub"]["median"]
    rows: list[dict[str, Any]] = []

    def row(name: str, key: str, base: float, base_name: str, goal: float | None) -> None:
        ratio = stats[key]["median"] / base
        rows.append({"figure": name, "median_ms": round(stats[key]["median"] * 1000, 1),
                     "p90_ms": round(stats[key]["p90"] * 1000, 1), "baseline": base_name,
                     "baseline_ms": round(base * 1000, 1), "ratio": round(ratio, 2),
                     "goal": f"<= {goal}" if goal else "", "pass": None if goal is None else ratio <= goal})

    row("baseline: python -c 'import prompt_toolkit' (pty)", "baseline_pty", pty_base, "itself", None)
    row("reference: bare PromptSession().prompt(), usable", "minimal", pty_base, "pty", None)
    row("reference: the same + pydantic BaseModel + yaml", "minimal_pydantic", pty_base, "pty", None)
    row("REPL: prompt '›' drawn", "repl_prompt", pty_base, "pty", None)
    row("REPL: prompt usable (key echoed)", "repl_usable", pty_base, "pty", GOAL)
    row("REPL --no-discover: usable", "nodisc_usable", pty_base, "pty", None)
    row("REPL, chatrepl-* threads 0.5 s late: usable", "deferred_usable", pty_base, "pty", None)
    row("baseline: python -c 'import prompt_toolkit' (pipe)", "baseline_sub", sub_base, "itself", None)
    row("chatrepl --version", "version", sub_base, "pipe", None)
    row("chatrepl models --json (5,000 models)", "models_json", sub_base, "pipe", None)

    print(f"start-up: {PROVIDERS} providers, {PROVIDERS * MODELS_PER_PROVIDER:,} discovered models"
          f" (stale: discovery runs at start-up), {args.rounds} rounds; /models requests served:"
          f" {discovered}")
    print_table(("figure", "median", "p90", "baseline", "ratio", "goal", "result"),
                [(r["figure"], f"{r['median_ms']:.0f} ms", f"{r['p90_ms']:.0f} ms",
                  f"{r['baseline_ms']:.0f} ms ({r['baseline']})", f"{r['ratio']:.2f}x", r["goal"],
                  verdict(r["pass"])) for r in rows])

    if profile:
        print_importtime("-X importtime: chatrepl --version (top 15 by cumulative, median of 3)",
                         profile["version"])
        print_importtime("-X importtime: import chatrepl.cli, chatrepl.entry, chatrepl.repl",
                         profile["repl_modules"])
        print_importtime("-X importtime: a real REPL run, imports finished before the prompt showed"
                         f" (all top-level imports: {profile['before_prompt_total_ms']:.0f} ms)",
                         profile["before_prompt"])
        print_table(("package", "--version", "REPL modules", "REPL, before prompt",
                     "REPL, whole run"),
                    [(name, *(f"{profile[k][name][1]:.1f} ms" if name in profile[k] else "not imported"
                              for k in ("version", "repl_modules", "before_prompt", "repl_run")))
                     for name in HEAVY],
                    "heavy imports, cumulative ms where first imported")
        if profile.get("phases"):
            print_table(("phase", "ms"), [(name, f"{value:.1f}") for name, value in profile["phases"]],
                        "start-up path measured in one process (median of 3; the last three are"
                        " off the prompt's path, shown for their cost)")

    usable = next(r for r in rows if r["figure"].startswith("REPL: prompt usable"))
    print(f"goal: usable prompt <= {GOAL}x baseline: {usable['ratio']:.2f}x {verdict(usable['pass'])}")
    write_record("startup", {
        "rounds": args.rounds, "providers": PROVIDERS,
        "models": PROVIDERS * MODELS_PER_PROVIDER, "figures": rows,
        "samples_ms": {k: [round(v * 1000, 1) for v in vals] for k, vals in samples.items()},
        "importtime_top": {k: sorted(((n, round(c, 1)) for n, (_, c) in v.items()),
                                     key=lambda item: -item[1])[:25]
                           for k, v in profile.items() if isinstance(v, dict)},
        "imports_before_prompt_ms": round(profile.get("before_prompt_total_ms", 0.0), 1),
        "phases_ms": [(n, round(v, 1)) for n, v in profile.get("phases", [])],
        "headlines": [headline("start-up: usable prompt / import prompt_toolkit", usable["ratio"],
                               f"<= {GOAL}x", usable["pass"])],
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
