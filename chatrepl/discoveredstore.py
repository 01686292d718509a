"""The discovered-models file: JSON in the providers schema (no keys), written atomically.

Per provider: its chat models, the ids that are not for chat or that the provider answered
"not found" for (`invalid_models`; the latter also in `rejected_models`), facts and a time.

The file is read back with the same bounds as a /models reply (id length and count, facts in
range), and a file larger than MAX_STATE_BYTES is refused rather than read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from chatrepl.config import ProviderConfig
from chatrepl.fsutil import locked, write_atomic
from chatrepl.modelsreply import MAX_MODEL_IDS, ListedFacts, valid_id

MAX_STATE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DiscoveredModels:
    """What discovery last learned about one provider."""

    base_api_url: str
    chat_models: tuple[str, ...]
    invalid_models: tuple[str, ...] = ()
    discovered_at: float = 0.0
    name: str = ""
    # Facts the provider's own listing gave (context, prices), by model id.
    facts: Mapping[str, ListedFacts] = field(default_factory=dict)
    # Ids the provider answered "not found" for (validation, or a chat turn); also in
    # `invalid_models`. Unlike ids classified as not for chat, these win over the user's list.
    rejected_models: tuple[str, ...] = ()

    def with_rejected(self, ids: Iterable[str]) -> DiscoveredModels:
        """A copy where `ids` are rejected: invalid, no longer offered for chat."""
        gone = tuple(ids)
        return replace(self, chat_models=tuple(m for m in self.chat_models if m not in gone),
                       invalid_models=tuple(dict.fromkeys([*self.invalid_models, *gone])),
                       rejected_models=tuple(dict.fromkeys([*self.rejected_models, *gone])))


def effective_provider(base: ProviderConfig, found: DiscoveredModels | None) -> ProviderConfig:
    """The user's provider config with discovered models merged in.

    The user's short names and listed models win over the listing: discovered non-chat ids are
    invalid unless the user lists them as valid. An id the provider answered "not found" for
    (`rejected_models`) is invalid even when the user lists it.
    """
    if found is None or found.base_api_url.rstrip("/") != base.shown_url:
        return base
    rejected = set(found.rejected_models)
    listed = {k: v for k, v in base.valid_models.items() if k not in rejected}
    invalid = list(dict.fromkeys([*base.invalid_models,
                                  *(i for i in found.invalid_models
                                    if i not in listed or i in rejected)]))
    invalid_set = set(invalid)
    valid = dict(listed)
    for model_id in found.chat_models:
        if model_id not in invalid_set:
            valid.setdefault(model_id, model_id)
    return base.model_copy(update={"valid_models": valid, "invalid_models": invalid})


class DiscoveredStore:
    """Reads and writes the discovered-models file. A damaged file reads as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warning: str | None = None  # why the file was last refused, for one line

    def load(self) -> dict[str, DiscoveredModels]:
        self.warning = None
        try:
            size = self.path.stat().st_size
        except OSError:
            return {}
        if size > MAX_STATE_BYTES:
            self.warning = (f"{self.path}: larger than {MAX_STATE_BYTES // (1024 * 1024)} MB, "
                            "not read; models will be discovered again")
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            providers = raw["providers"]
            stamps = raw.get("discovered_at", {})
            return {str(pid): _entry(entry, stamps.get(pid)) for pid, entry in providers.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return {}

    def save(self, entries: Mapping[str, DiscoveredModels]) -> None:
        """Write `entries` merged into the file as it is now: per provider, the later discovery
        wins, so processes discovering at the same time keep each other's providers."""
        with locked(self.path):
            merged = self.load()
            for pid, found in entries.items():
                current = merged.get(pid)
                if current is None or found.discovered_at >= current.discovered_at:
                    merged[pid] = found
            write_atomic(self.path, _dump(merged))


def _ids(raw: object) -> tuple[str, ...]:
    """Model ids as discovery keeps them: printable, short, at most MAX_MODEL_IDS."""
    if not isinstance(raw, (dict, list)):
        return ()
    return tuple(m for m in raw if valid_id(m))[:MAX_MODEL_IDS]


def _entry(entry: Mapping[str, object], stamp: object) -> DiscoveredModels:
    chat = _ids(entry.get("valid_models", {}))
    facts_raw = entry.get("facts")
    facts: dict[str, ListedFacts] = {}
    if isinstance(facts_raw, dict):
        kept = set(chat)
        for model_id, raw in facts_raw.items():
            found = ListedFacts.from_json(raw) if model_id in kept else None
            if found is not None:
                facts[model_id] = found
    return DiscoveredModels(
        base_api_url=str(entry["base_api_url"]),
        chat_models=chat,
        invalid_models=_ids(entry.get("invalid_models", [])),
        rejected_models=_ids(entry.get("rejected_models", [])),
        discovered_at=float(stamp) if isinstance(stamp, (int, float)) else 0.0,
        name=str(entry.get("name", ""))[:200],
        facts=facts,
    )


def _dump(entries: Mapping[str, DiscoveredModels]) -> str:
    payload = {
        "providers": {
            pid: {
                "name": found.name or pid,
                "base_api_url": found.base_api_url,
                "valid_models": {m: m for m in found.chat_models},
                "invalid_models": list(found.invalid_models),
                **({"rejected_models": list(found.rejected_models)}
                   if found.rejected_models else {}),
                **({"facts": {m: f.as_json() for m, f in found.facts.items()}}
                   if found.facts else {}),
            }
            for pid, found in sorted(entries.items())
        },
        "discovered_at": {pid: found.discovered_at for pid, found in sorted(entries.items())},
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
