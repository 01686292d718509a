"""Where commands are added: one row per CLI subcommand, one registration per slash command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_cli import run as run_cli
from test_repl import repl_runner

import chatrepl
from chatrepl import cli
from chatrepl.repl import build_completer
from chatrepl.slash_commands import REGISTRY
from chatrepl.subcommands import SUBCOMMANDS, Call, Subcommand

# -- CLI subcommands ---------------------------------------------------------------------------


def _echo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("word", help="a word to echo")
    parser.add_argument("--times", type=int, default=1, help="how many times")


def _echo(call: Call) -> int:
    call.out.write(" ".join([call.args.word] * call.args.times) + "\n")
    return 7


def _count_providers(call: Call) -> int:
    call.out.write(f"{len(call.runtime.manager.providers)} providers\n")
    return 0


@pytest.fixture
def dummy_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real table plus two rows: one without the runtime, one with it."""
    rows = (*SUBCOMMANDS,
            Subcommand("echo", "Print a word.", _echo_arguments, _echo, needs_runtime=False),
            Subcommand("count", "Count providers.", lambda parser: None, _count_providers))
    monkeypatch.setattr(cli, "SUBCOMMANDS", rows)


def test_a_new_row_is_listed_found_and_dispatched(dummy_rows, chatrepl_home: Path) -> None:
    code, out, _ = run_cli(["--help"], chatrepl_home)
    assert code == 0
    epilog = " ".join(out.split()).partition("commands: ")[2]
    assert epilog.startswith(", ".join([*(row.name for row in SUBCOMMANDS), "echo", "count"]))
    assert epilog.startswith("models, discover, providers, info, init, ")

    assert run_cli(["echo", "hi", "--times", "2"], chatrepl_home) == (7, "hi hi\n", "")
    assert run_cli(["--config", "x.yaml", "echo", "hi"], chatrepl_home) == (7, "hi\n", "")
    code, out, _ = run_cli(["echo", "--help"], chatrepl_home)
    assert code == 0 and "usage: chatrepl echo" in out and "Print a word." in out
    assert "--times" in out and "--config" in out  # its own arguments, and the common ones

    config = chatrepl_home / "config.yaml"
    config.write_text("providers:\n  a:\n    base_api_url: http://127.0.0.1:1/v1\n"
                      "discovery: {on_startup: false}\n", encoding="utf-8")
    config.chmod(0o600)
    assert run_cli(["--config", str(config), "count"], chatrepl_home) == (0, "1 providers\n", "")


@pytest.mark.parametrize(("argv", "found"), [
    (["models", "gpt"], "models"),
    (["--config", "x.yaml", "models"], "models"),  # --config: the one option subcommands share
    (["--config=x.yaml", "models"], "models"),
    (["--conf", "x.yaml", "models"], "models"),    # argparse's abbreviation of --config
    (["--plain", "--no-discover", "models"], None),  # chat options first: a prompt
    (["-m", "openai/gpt-4o-mini", "discover"], None),
    (["-m", "models", "hello"], None),
    (["--sys", "models", "hello"], None),
    (["--system", "info", "hello"], None),
    (["hello", "models"], None),
    (["--", "models"], None),
])
def test_a_subcommand_is_only_the_first_argument_or_after_config(
        argv: list[str], found: str | None) -> None:
    command, rest = cli._split_command(argv, cli.build_parser(), SUBCOMMANDS)
    assert (command.name if command else None) == found
    assert rest == ([w for w in argv if w != found] if found else argv)


def test_the_config_option_is_read_from_the_parser() -> None:
    parser = cli.build_parser()
    parser.add_argument("--stream", action="store_true")
    command, _ = cli._split_command(["--stream", "models"], parser, SUBCOMMANDS)
    assert command is None
    command, rest = cli._split_command(["--config", "c.yaml", "models"], parser, SUBCOMMANDS)
    assert command is not None and command.name == "models" and rest == ["--config", "c.yaml"]


# -- slash commands ----------------------------------------------------------------------------


class _Shown:
    """A context for dispatch that records printed lines and has nothing else: a handler that
    ran instead of `--help` fails on it."""

    def __init__(self) -> None:
        self.printer = self
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.parametrize("command", list(REGISTRY), ids=lambda c: c.name)
def test_every_command_answers_help_naming_each_of_its_flags(command) -> None:
    for word in (command.name, *command.aliases):
        shown = _Shown()
        REGISTRY.dispatch(shown, f"{word} --help")
        text = "\n".join(shown.lines)
        assert "usage:" in text
        flags = set(command.flags()) | set(re.findall(r"--[a-z][a-z-]*", command.usage))
        for flag in flags:
            assert flag in text, (word, flag)


@pytest.fixture
def state(chatrepl_home: Path, fake_server):
    run = repl_runner(chatrepl_home,
                      "discovery: {on_startup: false}\nproviders:\n"
                      f"  fake:\n    base_api_url: {fake_server.url}\n"
                      "    valid_models: {fake-chat: fc}\n"
                      f"  other:\n    base_api_url: {fake_server.url}\n"
                      "    valid_models: [other-model]\n",
                      "fake", "fake-chat")
    state, _ = run("/save notes")
    return state


def _texts(completer, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]


def test_completion_reads_each_commands_completer_from_the_registry(state) -> None:
    completer = build_completer(state)
    for word in (w for c in REGISTRY if c.name in ("/model", "/info") for w in (c.name, *c.aliases)):
        assert _texts(completer, f"{word} fake-c") == ["fake/fake-chat"], word
    assert _texts(completer, "/discover oth") == ["other"]
    assert _texts(completer, "/discover --va") == ["--validate"]
    assert _texts(completer, "/discover other --validate --") == ["--yes"]
    assert _texts(completer, "/load no") == ["notes"]
    assert _texts(completer, "/save --force no") == ["notes"]
    assert "--provider" in _texts(completer, "/models --pro")
    assert _texts(completer, "/system --c") == ["--clear"]
    assert _texts(completer, "/help mod") == []


def test_every_alias_completes_as_its_command(state) -> None:
    completers = REGISTRY.argument_completers(state)
    assert {"/model", "/info", "/discover", "/load", "/save", "/models", "/system"} <= set(completers)
    for command in REGISTRY:
        for alias in command.aliases:
            assert completers.get(alias) is completers.get(command.name), alias
    assert completers["/model"] is completers["/info"]  # one index of model names


ALIASES = [alias for command in REGISTRY for alias in command.aliases]


@pytest.mark.parametrize("alias", ALIASES)
def test_aliases_are_written_only_in_the_registry(alias: str) -> None:
    package = Path(chatrepl.__file__).parent
    word = re.compile(r"(?<![\w/.-])" + re.escape(alias) + r"(?![\w/-])")
    found = [f"{path.name}:{number}" for path in sorted(package.glob("*.py"))
             if path.name != "slash_commands.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if word.search(line)]
    assert found == []
