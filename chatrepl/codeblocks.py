"""Fenced code blocks of a Markdown reply: the fence rules the renderer numbers them by, and
the blocks themselves (for `/copy code K`).

One set of rules serves both, so block K on the screen is block K here: a fence opens on a
line of three or more backticks or tildes (an info string may follow a backtick fence if it
has no backtick); it closes on a line of the same character, at least as long, and nothing
else. A fence never closed runs to the end of the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})\s*([^\s`]*)[^`]*$")
FENCE_CLOSE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")


def closes(line: str, fence: tuple[str, int]) -> bool:
    """Whether `line` closes a block opened by `fence` (its character and length)."""
    m = FENCE_CLOSE.match(line)
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1]


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One fenced block: its language (the info string's first word, maybe empty) and its
    text (the lines between the fences, without the last newline)."""

    language: str
    text: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    """The fenced code blocks of `markdown`, in order.

    Lines are indented as the fence was indented less (up to the fence's own indentation), as
    CommonMark reads a fence inside a list item.
    """
    blocks: list[CodeBlock] = []
    fence: tuple[str, int] | None = None
    indent = 0
    language = ""
    body: list[str] = []
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if fence is None:
            m = FENCE_OPEN.match(line)
            if m:
                marker = m.group(1)
                fence = (marker[0], len(marker))
                indent = len(line) - len(line.lstrip(" "))
                language, body = m.group(2), []
            continue
        if closes(line, fence):
            blocks.append(CodeBlock(language, "\n".join(body)))
            fence = None
            continue
        body.append(_dedent(line, indent))
    if fence is not None:
        blocks.append(CodeBlock(language, "\n".join(body).rstrip("\n")))
    return blocks


def _dedent(line: str, indent: int) -> str:
    """`line` without up to `indent` leading spaces."""
    stripped = len(line) - len(line.lstrip(" "))
    return line[min(stripped, indent):]
