"""The providers table, one for `chatrepl providers` and `/providers`: aligned columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.config import ProviderConfig
    from chatrepl.runtime import Runtime


def key_text(provider: ProviderConfig, env: Mapping[str, str]) -> str:
    """`key set`, `key not needed`, or `key missing (OPENAI_API_KEY)` naming the variable."""
    status = provider.key_status(env)
    if status == "missing":
        variables = " or ".join(provider.key_variables())
        return f"key missing ({variables})" if variables else "key missing"
    return f"key {status}"


def discovered_text(timestamp: float | None) -> str:
    """`discovered 2026-01-02 10:00`, or `not discovered yet`."""
    if not timestamp:
        return "not discovered yet"
    return "discovered " + datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def provider_rows(runtime: Runtime) -> list[dict[str, Any]]:
    """One dict per provider (what `providers --json` prints); never a key."""
    return [{
        "provider": pid,
        "name": provider.display_name,
        "base_url": provider.shown_url,
        "key": provider.key_status(runtime.env),
        "models": len(provider.valid_models),
        "last_discovery": runtime.discovery.last_discovered(pid),
    } for pid, provider in runtime.manager.items()]


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines, each column padded to its widest cell (the last one is not)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
            .rstrip() for row in rows]


def provider_table(runtime: Runtime) -> list[str]:
    """The providers as aligned lines: id, URL, key, model count, discovery (and last error)."""
    statuses = runtime.refresher.status
    cells = []
    for pid, provider in runtime.manager.items():
        models = len(provider.valid_models)
        status = statuses.get(pid)
        last = discovered_text(runtime.discovery.last_discovered(pid))
        if status is not None and status.state == "error":  # the last discovery failed
            reason = status.detail or status.short_reason
            last = ("failed: " + reason if reason else "failed") + (
                "" if last.startswith("not") else f"  (last {last})")
        elif status is not None and status.detail:
            last += f"  ✗ {status.detail}"
        if status is not None and status.dropped:
            last += f"  ({plural(status.dropped, 'id')} dropped: too long, unprintable or too many)"
        cells.append([pid, provider.shown_url, key_text(provider, runtime.env),
                      plural(models, "model"), last])
    return align(cells)
