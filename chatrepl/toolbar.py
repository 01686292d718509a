"""The REPL's bottom toolbar: model, discovery, context, tokens and cost, fitted to the width.

Model, tokens and cost always show; the context size (`ctx 12.3k/128k`) gives way after the
discovery summary. The discovery summary gives way first: per-provider counts
with a short reason for each failure, then without reasons, then totals (`312 models · ✗ 2
failed (/providers)`), then only the failures, then nothing. It reads typed fields
(`ProviderStatus.state`, `.short_reason`), never the error text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prompt_toolkit.utils import get_cwidth

if TYPE_CHECKING:
    from chatrepl.replstate import ReplState

SEPARATOR = "  │  "
NARROW_SEPARATOR = " │ "
MIN_MODEL_CELLS = 12  # a model cut shorter than this no longer says which model it is


@dataclass(frozen=True)
class ProviderLine:
    """One provider in the summary: its model count, or the short reason it failed."""

    name: str
    models: int
    failed: bool
    reason: str = ""


def provider_lines(state: ReplState) -> list[ProviderLine]:
    """Every provider with an outcome: discovered in this run, or with models from the cache
    or the config (still in the menu once the cache has gone stale)."""
    from chatrepl.discovery import DiscoveryState  # deferred: see chatrepl/__init__.py

    runtime = state.runtime
    statuses = runtime.refresher.status
    lines = []
    for name, provider in runtime.manager.items():
        status = statuses.get(name)
        if status is None or status.state in (DiscoveryState.PENDING, DiscoveryState.RUNNING):
            if provider.valid_models or runtime.discovery.is_fresh(name):
                lines.append(ProviderLine(name, len(provider.valid_models), False))
        elif status.state == DiscoveryState.OK:
            lines.append(ProviderLine(name, status.models, False))
        else:
            lines.append(ProviderLine(name, status.models, True, status.short_reason or "failed"))
    return lines


def discovery_variants(state: ReplState) -> list[str]:
    """The discovery summary from the longest form to the shortest."""
    refresher = state.runtime.refresher
    if refresher.is_refreshing():
        done, total = refresher.progress()
        return [f"discovering {done}/{total} …", f"{done}/{total} …"]
    lines = provider_lines(state)
    if not lines:
        return []
    failed = sum(line.failed for line in lines)
    models = sum(line.models for line in lines if not line.failed)
    failures = f"✗ {failed} failed" if failed else ""
    return [
        " · ".join(f"{x.name} ✗ {x.reason}" if x.failed else f"{x.name} {x.models}" for x in lines),
        " · ".join(f"{x.name} ✗" if x.failed else f"{x.name} {x.models}" for x in lines),
        f"{models} models" + (f" · {failures} (/providers)" if failed else ""),
        f"{failures} (/providers)" if failed else "",
        failures,
    ]


def discovery_status(state: ReplState) -> str:
    """`discovering 2/5 …` while it runs, then e.g. `openai 52 · groq ✗ 401`."""
    variants = discovery_variants(state)
    return variants[0] if variants else ""


def history_text(state: ReplState) -> str:
    """`branches` when the conversation has some, `not saved` when the history fails."""
    recorder = state.history
    if recorder is None:
        return ""
    return "not saved" if recorder.problem else ("branches" if recorder.has_branches else "")


def _fit(text: str, width: int) -> str:
    """`text` cut in the middle with `…` to at most `width` cells."""
    if get_cwidth(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def toolbar_text(state: ReplState, width: int | None = None) -> str:
    """Current model, discovery state, tokens used and cost, in at most `width` cells."""
    model = state.current_model or "no model (/model NAME)"
    before: list[str] = []
    server = state.local_server
    if server is not None and server.state != "ready":
        before.append("local: loading…" if server.state == "loading" else f"local: {server.state}")
    if state.compare is not None:  # messages go to several models: /compare
        before.append(f"compare ×{len(state.compare.contenders)}")
    before.append(state.attachments.toolbar_text())  # `📎 2: 1 text, 1 image ~1.8k tokens`
    status = history_text(state)  # `branches` / `not saved`: gives way before tokens and cost
    after = [state.tokens_text()]  # `~tokens N` when part of it is a local estimate
    cost = state.cost_text()
    if cost:
        after.append(cost)
    context = state.context_text()  # `ctx 12.3k/128k`: gives way after the discovery summary
    variants = [v for v in discovery_variants(state) if v]

    def join(pieces: list[str], separator: str) -> str:
        return " " + separator.join(p for p in pieces if p)

    if width is None:
        return join([model, *before, *variants[:1], context, status, *after], SEPARATOR)
    budget = width - 1  # the last column stays free so the line never wraps
    for shown, kept in dict.fromkeys([(context, status), ("", status), ("", "")]):
        for separator in (SEPARATOR, NARROW_SEPARATOR):
            for middle in [*variants, ""]:
                text = join([model, *before, middle, shown, kept, *after], separator)
                if get_cwidth(text) <= budget:
                    return text
    # The model is cut in the middle to keep `✗ N failed`, then to keep tokens and cost only;
    # staged attachments stay as a count (`📎 2`).
    failures = [v for v in variants[-1:] if v.startswith("✗")]
    staged = len(state.attachments)
    after = [f"📎 {staged}", *after] if staged else after
    for pieces in ([*failures, *after], after):
        room = budget - 1 - len(NARROW_SEPARATOR) - get_cwidth(NARROW_SEPARATOR.join(pieces))
        if room >= MIN_MODEL_CELLS or pieces is after:
            break
    return join([_fit(model, max(room, 8)), *pieces], NARROW_SEPARATOR)
