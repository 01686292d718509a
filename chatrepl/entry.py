"""Chat entry: one-shot reply or the interactive REPL."""

from __future__ import annotations

import argparse
from typing import TextIO

from chatrepl.errors import UsageError
from chatrepl.runtime import Runtime


def run_chat(runtime: Runtime, args: argparse.Namespace, stdin: TextIO, stdout: TextIO,
             stderr: TextIO) -> int:
    """Placeholder until the chat session lands."""
    raise UsageError("interactive chat is not available yet")
