"""The package ships py.typed, so its annotations must hold: mypy, as `make lint` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)  # a first run, with no cache yet, takes 20-60 s on a busy machine
def test_mypy_finds_no_errors_in_the_package() -> None:
    # The settings are pyproject.toml's [tool.mypy] (pydantic plugin, untyped defs refused);
    # the cache is the one `make lint` fills, so after a lint this takes about a second.
    done = subprocess.run([sys.executable, "-m", "mypy", "chatrepl"], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found"), done.stdout
