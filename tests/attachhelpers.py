"""Shared pieces of the attachment tests: a catalog whose facts say which test model takes
images or PDFs, a REPL over the loopback server with that catalog, small image and PDF bytes,
and the bodies the server received."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalogdata import model, provider
from fakeserver import FakeOpenAIServer
from replhelpers import END_KEYS, build_repl_state, type_lines

from chatrepl.catalog import Catalog
from chatrepl.replstate import ReplState

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _with_inputs(entry: dict[str, Any], *inputs: str) -> dict[str, Any]:
    return {**entry, "modalities": {"input": list(inputs), "output": ["text"]}}


CATALOG = {"fakecat": provider(
    "fakecat",
    _with_inputs(model("text-only"), "text"),
    _with_inputs(model("seeing"), "text", "image"),
    _with_inputs(model("pdf-reader"), "text", "image", "pdf"),
    _with_inputs(model("tiny", context=1000), "text", "image"),
)}
MODELS = ["fake-chat", "text-only", "seeing", "pdf-reader", "tiny"]


def config_text(url: str) -> str:
    """Provider `fake` on the loopback server, its facts from the `fakecat` catalog entry
    (fake-chat is not in it: its facts are unknown)."""
    return ("providers:\n  fake:\n"
            f"    base_api_url: {url}\n"
            "    catalog_id: fakecat\n"
            f"    valid_models: [{', '.join(MODELS)}]\n")


Run = Callable[..., tuple[ReplState, str]]


def repl_with_catalog(home: Path, server: FakeOpenAIServer, model_name: str = "fake-chat") -> Run:
    """run(*lines, end=...) -> (state, printed text) of a REPL over typed lines, then `end`
    (type_lines' default: Ctrl-U Ctrl-D twice); the same state across calls. `run.everything()` is all
    printed so far, with what background reads reported after their run ended. The catalog is
    CATALOG."""
    (home / "config.yaml").write_text(config_text(server.url), encoding="utf-8")
    state, out, _err = build_repl_state(home, "fake", model_name)
    state.runtime._catalog = Catalog(data=CATALOG)

    def run(*lines: str, end: str = END_KEYS) -> tuple[ReplState, str]:
        start = len(out.getvalue())
        type_lines(state, *lines, end=end)
        return state, out.getvalue()[start:]

    run.everything = out.getvalue  # type: ignore[attr-defined]

    return run


def chat_bodies(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def last_user_content(server: FakeOpenAIServer) -> Any:
    bodies = chat_bodies(server)
    assert bodies, "no chat request was made"
    return bodies[-1]["messages"][-1]["content"]


def printed(buffer: io.StringIO) -> str:
    return buffer.getvalue()


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer says `text` (ASCII, no parentheses or backslashes)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
               b" /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
