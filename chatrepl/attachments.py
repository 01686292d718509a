"""Reading what goes with a message: one file, bytes, stdin, into `Attachment`s.

An `Attachment` holds everything needed to send it again without the file (its text, or its
bytes base64-encoded), and how it is stored on `Message.attachments` (`record()`): source,
kind, size, sha256, and what was sent. Nothing here prints; a problem is one AttachmentError
line naming the path and the cap or the way out. Reading is meant to run off the prompt's
thread (see attachtray).

Kinds: `text` (UTF-8 without NUL bytes), `image` (png, jpeg, webp, gif, by their first bytes)
and `pdf`. Paths, globs and folders are attachpaths' job.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chatrepl.attachwire import IMAGE_TOKENS
from chatrepl.errors import AttachmentError

KiB = 1024
MiB = 1024 * KiB
MAX_TEXT_BYTES = 2 * MiB       # one text file
MAX_IMAGE_BYTES = 20 * MiB     # one image (what OpenAI accepts)
MAX_PDF_BYTES = 32 * MiB       # one PDF
MAX_TOTAL_BYTES = 32 * MiB     # everything staged for one message (~43 MB as base64)
MAX_STDIN_BYTES = MAX_TEXT_BYTES
SNIFF_BYTES = 8 * KiB

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}
KINDS_SAID = "text files, images (png, jpeg, webp, gif) and PDFs"
PDF_INSTALL = "pip install 'chatrepl[pdf]' (or pip install pypdf)"


def size_text(size: int) -> str:
    """1536 -> '1.5 KB', 3145728 -> '3 MB' (binary units, as the caps are)."""
    if size < KiB:
        return f"{size} bytes"
    if size < MiB:
        return f"{size / KiB:.1f}".rstrip("0").rstrip(".") + " KB"
    return f"{size / MiB:.1f}".rstrip("0").rstrip(".") + " MB"


@dataclass(frozen=True)
class Attachment:
    """One thing staged to go with a message.

    `source` is what the user named (a path, `!command`, `stdin`), `name` how the header calls
    it. Text kinds hold `text`; images and PDFs hold `data` (base64) and `mime`. A PDF also
    holds its extracted `text` when pypdf is there, else `text_error` says why not.
    """

    source: str
    kind: str  # "text" | "image" | "pdf"
    name: str
    size: int
    sha256: str
    text: str | None = None
    data: str | None = None
    mime: str = "text/plain"
    text_error: str | None = None
    path: str = ""  # the real path of the file it was read from (empty for a command, stdin)

    def estimated_tokens(self) -> int:
        """A local guess: 4 characters a token for text (and a PDF's text); a flat figure for
        an image (IMAGE_TOKENS); a PDF without text, a token for every 6 bytes."""
        if self.kind == "image":
            return IMAGE_TOKENS
        if self.text is not None:
            return -(-len(self.text) // 4) + 20  # the header
        return self.size // 6  # a PDF without extracted text

    def record(self, sent_as: str) -> dict[str, Any]:
        """What `Message.attachments` keeps: enough to send the same content again."""
        data: dict[str, Any] = {"source": self.source, "kind": self.kind, "name": self.name,
                                "size": self.size, "sha256": self.sha256, "mime": self.mime,
                                "sent_as": sent_as}
        if sent_as == "text":
            data["text"] = self.text or ""
        else:
            data["data"] = self.data or ""
        return data


def sniff_kind(head: bytes) -> tuple[str, str]:
    """(kind, mime) from a file's first bytes: an image type, a PDF, or text (maybe binary)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    return "text", "text/plain"


def decode_text(raw: bytes) -> str | None:
    """`raw` as text, or None when it is binary (a NUL byte, or not UTF-8)."""
    if b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff")


def _cap_for(kind: str) -> int:
    return {"image": MAX_IMAGE_BYTES, "pdf": MAX_PDF_BYTES}.get(kind, MAX_TEXT_BYTES)


def read_file(path: Path, source: str | None = None, *, text_only: bool = False) -> Attachment:
    """One file as an Attachment; AttachmentError (one line) when it cannot be one."""
    shown = source or str(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(SNIFF_BYTES)
            kind, mime = sniff_kind(head)
            if text_only and kind != "text":
                raise AttachmentError(f"{shown}: not a text file")
            cap = _cap_for(kind)
            if size > cap:
                raise AttachmentError(f"{shown}: over the {size_text(cap)} cap for one {kind} "
                                      f"attachment ({size:,} bytes)")
            raw = head + handle.read(cap + 1 - len(head))
    except FileNotFoundError:
        raise AttachmentError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise AttachmentError(f"{shown}: is a directory") from None
    except PermissionError:
        raise AttachmentError(f"{shown}: permission denied (cannot read it)") from None
    except OSError as exc:
        raise AttachmentError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > cap:  # it grew while being read
        raise AttachmentError(f"{shown}: over the {size_text(cap)} cap for one {kind} attachment")
    return replace(from_bytes(raw, shown, kind, mime, name=shown), path=os.path.realpath(path))


B64_CHUNK = 3 * 64 * KiB  # a multiple of 3: the pieces join into one valid encoding


def b64(raw: bytes) -> str:
    """`raw` base64-encoded in pieces, so the thread doing it lets the prompt's thread run
    between them (one call on 5 MB would hold the interpreter lock throughout)."""
    return "".join(base64.b64encode(raw[i:i + B64_CHUNK]).decode("ascii")
                   for i in range(0, len(raw), B64_CHUNK))


def from_bytes(raw: bytes, source: str, kind: str, mime: str, *, name: str) -> Attachment:
    """An Attachment from bytes already read (a file, a command's output, stdin)."""
    digest = hashlib.sha256(raw).hexdigest()
    if kind == "image":
        return Attachment(source, "image", name, len(raw), digest,
                          data=b64(raw), mime=mime)
    if kind == "pdf":
        text, error = pdf_text(raw)
        return Attachment(source, "pdf", name, len(raw), digest, text=text,
                          data=b64(raw), mime=mime,
                          text_error=error)
    text = decode_text(raw)
    if text is None:
        raise AttachmentError(f"{source}: binary (not UTF-8 text); attach {KINDS_SAID}")
    return Attachment(source, "text", name, len(raw), digest, text=text)


def pdf_text(raw: bytes) -> tuple[str | None, str | None]:
    """(the text of a PDF, None), or (None, why not): pypdf missing, or a PDF it cannot read."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return None, f"reading PDFs needs pypdf: {PDF_INSTALL}"
    import io

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many kinds on a damaged file; one line is said
        return None, f"pypdf cannot read it ({type(exc).__name__})"
    text = "\n\n".join(p.strip() for p in pages).strip()
    return (text, None) if text else (None, "it has no text layer (a scanned PDF?)")


@dataclass(frozen=True)
class Loaded:
    """What one `/attach` read: the attachments, and lines to say (files skipped, caps)."""

    items: tuple[Attachment, ...] = ()
    notes: tuple[str, ...] = ()


def from_stdin(text: str, *, source: str = "stdin") -> Attachment:
    """Piped input as a text attachment; AttachmentError over MAX_STDIN_BYTES."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_STDIN_BYTES:
        raise AttachmentError(f"{source}: over the {size_text(MAX_STDIN_BYTES)} cap for piped "
                              "input")
    return Attachment(source, "text", source, len(raw), hashlib.sha256(raw).hexdigest(),
                      text=text)


def read_piped(stream: Any) -> Attachment | None:
    """Text piped to stdin (a pipe or a file, not a terminal) as the `stdin` attachment; None
    when there is none (empty, or a stream that cannot be read)."""
    fileno = getattr(stream, "fileno", None)
    try:
        if fileno is not None:
            import stat

            mode = os.fstat(fileno()).st_mode
            if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
                return None
    except (OSError, ValueError):
        pass  # no descriptor (a test's StringIO): read it
    try:
        text = stream.read(MAX_STDIN_BYTES + 1)
    except (OSError, ValueError):
        return None
    if not isinstance(text, str) or not text.strip():
        return None
    if len(text) > MAX_STDIN_BYTES:
        raise AttachmentError(f"stdin: over the {size_text(MAX_STDIN_BYTES)} cap for piped input")
    return from_stdin(text)
