"""The cost guard: what the next message may cost, and the budget's verdict on it.

A message's cost is estimated as its prompt tokens at the model's input price plus the
expected reply (`max_tokens` when set, else EXPECTED_OUTPUT tokens, no more than the reply
reserve) at its output price, from the catalog. An unknown price never blocks. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatrepl.modelinfo import format_cost

if TYPE_CHECKING:
    from chatrepl.config import BudgetSettings
    from chatrepl.modelinfo import ModelInfo

EXPECTED_OUTPUT = 1000  # tokens of reply assumed when no max_tokens is set
SESSION_KEY = "budget.session_usd"
CONFIRM_KEY = "budget.confirm_over_usd"


def usd(amount: float) -> str:
    """`$0.10`, `$2`, `$0.0031`: a budget figure as written."""
    text = f"{amount:.4f}".rstrip("0").rstrip(".")
    if "." in text and len(text.split(".")[1]) == 1:
        text += "0"
    return f"${text}"


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits in force: from the config, unless `/budget` changed them for this session."""

    confirm_over_usd: float | None = None
    session_usd: float | None = None

    @classmethod
    def from_config(cls, settings: BudgetSettings) -> Budget:
        return cls(settings.confirm_over_usd, settings.session_usd)

    @property
    def active(self) -> bool:
        return self.confirm_over_usd is not None or self.session_usd is not None

    def lines(self) -> list[str]:
        """What `/budget` shows about the limits."""
        def shown(value: float | None) -> str:
            return "off" if value is None else usd(value)

        return [f"ask before a message over: {shown(self.confirm_over_usd)} ({CONFIRM_KEY})",
                f"session limit: {shown(self.session_usd)} ({SESSION_KEY})"]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What one message may cost: tokens in and out, and USD (None when a price is unknown)."""

    prompt_tokens: int
    output_tokens: int
    usd: float | None


def expected_output(reserve: int, max_tokens: int | None) -> int:
    """Tokens of reply the estimate assumes."""
    return max_tokens if max_tokens else min(EXPECTED_OUTPUT, reserve)


def estimate_cost(info: ModelInfo | None, prompt_tokens: int, output_tokens: int) -> CostEstimate:
    """The estimate for one message; `usd` is None when the catalog has no price for it."""
    cost = info.cost(prompt_tokens, output_tokens) if info is not None else None
    return CostEstimate(prompt_tokens, output_tokens, cost)


def over_session_limit(budget: Budget, session_cost: float) -> bool:
    """True once the session has spent its limit (nothing spent never is)."""
    cap = budget.session_usd
    return cap is not None and session_cost > 0 and session_cost >= cap


def session_limit_line(budget: Budget, session_cost: float, *, in_repl: bool) -> str:
    """Why nothing is sent, and how to raise the limit."""
    raise_it = f"raise {SESSION_KEY} in the config" + (
        f", or for this session: /budget session {usd(2 * (budget.session_usd or 0) or 1)[1:]}"
        if in_repl else "")
    return (f"not sent: this session has spent {format_cost(session_cost)}, its limit is"
            f" {usd(budget.session_usd or 0)} ({SESSION_KEY}); {raise_it}")


def needs_confirmation(budget: Budget, estimate: CostEstimate) -> bool:
    """True when the message's known cost is over `confirm_over_usd`."""
    limit = budget.confirm_over_usd
    return limit is not None and estimate.usd is not None and estimate.usd > limit


def cost_question(model: str, estimate: CostEstimate, budget: Budget) -> str:
    """`this message to M may cost about $0.31 (~60.2k tokens in, 1000 out), over $0.10`."""
    return (f"this message to {model} may cost about {format_cost(estimate.usd)}"
            f" (~{estimate.prompt_tokens:,} tokens in, up to {estimate.output_tokens:,} out),"
            f" over {usd(budget.confirm_over_usd or 0)} ({CONFIRM_KEY})")


def unknown_price_line(model: str) -> str:
    """Said once per model while a budget is set."""
    return f"the price of {model} is not known: the budget cannot count its cost"
