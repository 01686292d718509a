"""For the editor, /copy and /undo tests: small executable scripts standing in for an editor or a
clipboard tool, and the REPL over typed lines with an environment of the test's choosing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from replhelpers import build_repl_state, type_lines

from chatrepl.replstate import ReplState

Runner = Callable[..., tuple[ReplState, str]]


def script(folder: Path, name: str, body: str) -> Path:
    """An executable shell script `name` in `folder` running `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def tool_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """PATH with `bin_dir` first (the system's tools after it) and `extra` set; no display and
    no editor unless `extra` names them."""
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", **extra}


def fake_config(home: Path, url: str) -> None:
    (home / "config.yaml").write_text(
        "providers:\n  fake:\n"
        f"    base_api_url: {url}\n"
        "    valid_models: {fake-chat: fc}\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")


def env_runner(home: Path, url: str, env: Mapping[str, str]) -> Runner:
    """The REPL on fake/fake-chat with `env` (CHATREPL_HOME added) as its environment: a
    function typing lines (then Ctrl-U Ctrl-D) and returning (state, what this run printed)."""
    fake_config(home, url)
    state, out, _err = build_repl_state(home, "fake", "fake-chat",
                                        env={**env, "CHATREPL_HOME": str(home)})

    def run(*lines: str) -> tuple[ReplState, str]:
        start = len(out.getvalue())
        type_lines(state, *lines, end="\x15\x04")  # Ctrl-U first: Ctrl-D ends only an empty line
        return state, out.getvalue()[start:]

    return run
