"""Code blocks: the blocks /copy code K takes are the blocks the renderer numbers [K]."""

from __future__ import annotations

import re

import pytest

from chatrepl.codeblocks import CodeBlock, code_blocks
from chatrepl.markdown_stream import MarkdownStream

SGR = re.compile(r"\x1b\[[0-9;]*m")

REPLY = (
    "Two ways:\n\n"
    "```python\nprint('a')\n\nprint('b')\n```\n\n"
    "then a shell line:\n\n"
    "~~~sh\necho ```not a fence end```\n~~~\n\n"
    "1. in a list:\n\n"
    "   ```\n   indented\n     more\n   ```\n"
    "````md\n```\ninner fence\n```\n````\n"
)


def labels(text: str, chunks: int = 7) -> list[str]:
    """The [K] labels the renderer puts on screen, streaming `text` in pieces of `chunks`."""
    out: list[str] = []
    md = MarkdownStream(out.append, width=lambda: 80)
    for start in range(0, len(text), chunks):
        md.feed(text[start:start + chunks])
    md.finish()
    assert md.last_error is None
    return re.findall(r"  \[(\d+)\]$", SGR.sub("", "".join(out)), re.MULTILINE)


def test_blocks_are_found_in_order_with_language_and_text() -> None:
    assert code_blocks(REPLY) == [
        CodeBlock("python", "print('a')\n\nprint('b')"),
        CodeBlock("sh", "echo ```not a fence end```"),
        CodeBlock("", "indented\n  more"),  # the fence's indentation is taken off
        CodeBlock("md", "```\ninner fence\n```"),  # a shorter fence inside stays text
    ]


def test_the_renderer_numbers_the_same_blocks() -> None:
    assert labels(REPLY) == ["1", "2", "3", "4"]
    assert len(code_blocks(REPLY)) == 4


def test_a_block_never_closed_runs_to_the_end() -> None:
    assert code_blocks("text\n```js\nlet a = 1;\n") == [CodeBlock("js", "let a = 1;")]
    assert labels("text\n```js\nlet a = 1;\n") == ["1"]


@pytest.mark.parametrize("text", ["no code here", "inline `code` only", "``two ticks``\n"])
def test_no_fence_no_block(text: str) -> None:
    assert code_blocks(text) == [] and labels(text) == []


def test_numbers_start_again_with_each_reply() -> None:
    out: list[str] = []
    md = MarkdownStream(out.append, width=lambda: 80)
    for _ in range(2):
        md.feed("```\nx\n```\n```\ny\n```\n")
        md.finish()
    found = re.findall(r"\[(\d+)\]", SGR.sub("", "".join(out)))
    assert found == ["1", "2", "1", "2"]


def test_a_pause_for_reasoning_does_not_restart_the_count() -> None:
    out: list[str] = []
    md = MarkdownStream(out.append, width=lambda: 80)
    md.feed("```\nx\n```\npartial line")
    md.finish(end_of_reply=False)  # reasoning came in between
    md.feed("```\ny\n```\n")
    md.finish()
    assert re.findall(r"\[(\d+)\]", SGR.sub("", "".join(out))) == ["1", "2"]


def test_crlf_lines_are_read_as_lines() -> None:
    assert code_blocks("```\r\na\r\nb\r\n```\r\n") == [CodeBlock("", "a\nb")]
