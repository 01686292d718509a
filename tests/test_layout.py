"""Where things live: every error type a user can see is defined in chatrepl.errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

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
