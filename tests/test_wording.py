"""The words of messages: costs that never read as free, singular and plural."""

from __future__ import annotations

import pytest

from chatrepl.modelinfo import format_cost
from chatrepl.wording import plural


@pytest.mark.parametrize(("usd", "shown"), [(0, "$0"), (0.00001, "<$0.0001"), (9.9e-5, "<$0.0001"),
                                            (0.0001, "$0.0001"), (0.0012, "$0.0012"),
                                            (0.31, "$0.31"), (None, "")])
def test_tiny_costs_never_read_as_free(usd: float | None, shown: str) -> None:
    assert format_cost(usd) == shown


def test_plural() -> None:
    assert [plural(n, "model") for n in (0, 1, 2)] == ["0 models", "1 model", "2 models"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"
