"""Where things live: every error type a user can see is defined in chatrepl.errors; tests build
a REPL state one way (replhelpers) and stay under 450 lines a file."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import chatrepl
from chatrepl.errors import ChatReplError


def test_every_error_class_is_defined_in_errors() -> None:
    elsewhere = []
    for info in pkgutil.iter_modules(chatrepl.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"chatrepl.{info.name}")
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, ChatReplError)
                    and value.__module__ == module.__name__ and not name.startswith("_")
                    and module.__name__ != "chatrepl.errors"):
                elsewhere.append(f"{module.__name__}.{name}")
    assert elsewhere == []


TESTS = Path(__file__).parent
MAX_TEST_LINES = 450


def test_one_recipe_builds_a_repl_state() -> None:
    building = sorted(path.name for path in TESTS.rglob("*.py")
                      if re.search(r"\bReplState\(", path.read_text(encoding="utf-8"))
                      and path.name != "replhelpers.py")
    assert building == []


def test_test_files_stay_under_the_size_limit() -> None:
    long = {path.name: lines for path in TESTS.rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_TEST_LINES}
    assert long == {}
