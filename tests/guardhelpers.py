"""A loopback provider whose model list gives each model a window and prices, for the context
and cost guards: `small` (a 400-token window), `big` (100k) and `free-form` (no facts)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from chatrepl.cli import main
from chatrepl.messages import assistant, user

PER_TOKEN = "0.001"  # $1000 per 1M tokens: every message is worth a question

ENTRIES: list[dict[str, Any]] = [
    {"id": "small", "object": "model", "context_length": 400,
     "pricing": {"prompt": PER_TOKEN, "completion": PER_TOKEN}},
    {"id": "big", "object": "model", "context_length": 100_000,
     "pricing": {"prompt": PER_TOKEN, "completion": PER_TOKEN}},
    {"id": "free-form", "object": "model"},
]


def guard_config(url: str, extra: str = "") -> str:
    """A config with one provider `fake` on the loopback server, and `extra` YAML."""
    return f"providers:\n  fake:\n    base_api_url: {url}\n{extra}"


def long_turns(count: int, words: int = 40) -> list:
    """`count` exchanges of `words` four-letter words each way (~1 token a word)."""
    messages = []
    for number in range(count):
        messages += [user(f"q{number} " + "abcd " * words),
                     assistant(f"a{number} " + "wxyz " * words)]
    return messages


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    """The bodies of the chat requests the server received, in order."""
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def one_shot(home: Path, *argv: str) -> tuple[int, str, str]:
    """Run `chatrepl ARGV` (the config is already written); (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env={"CHATREPL_HOME": str(home)}, stdin=io.StringIO(""),
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()
