"""ProviderManager: providers by name, the immutable model snapshot, and name resolution."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatrepl.config import ProviderConfig
from chatrepl.errors import AmbiguousModelError, UnknownModelError, UnknownProviderError


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One valid model of one provider, with its lower-cased keys precomputed for matching."""

    provider: str
    long: str
    short: str
    scoped: str = field(init=False)
    scoped_lower: str = field(init=False)
    short_lower: str = field(init=False)

    def __post_init__(self) -> None:
        scoped = f"{self.provider}/{self.long}"
        object.__setattr__(self, "scoped", scoped)
        object.__setattr__(self, "scoped_lower", scoped.lower())
        object.__setattr__(self, "short_lower", self.short.lower())

    @property
    def display(self) -> str:
        """The older display format: `provider/long (short)`."""
        return f"{self.scoped} ({self.short})"


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """Every valid model at one moment. Never mutated; replaced whole."""

    generation: int
    records: tuple[ModelRecord, ...]
    display: tuple[str, ...]

    @classmethod
    def build(cls, providers: Mapping[str, ProviderConfig], generation: int) -> ModelSnapshot:
        records = tuple(
            ModelRecord(pid, long, short)
            for pid, provider in providers.items()
            for long, short in provider.valid_models.items()
        )
        return cls(generation, records, tuple(r.display for r in records))


def _as_provider(name: str, value: ProviderConfig | Mapping[str, Any]) -> ProviderConfig:
    if isinstance(value, ProviderConfig):
        return value if value.id == name else value.model_copy(update={"id": name})
    return ProviderConfig.model_validate({**value, "id": name})


class ProviderManager(Mapping[str, ProviderConfig]):
    """A read-only mapping of providers plus the cached model snapshot.

    The one mutable thing is the reference to (providers, snapshot); `replace_providers`
    swaps it under a short lock, so readers on any thread see the old or the new state whole.
    """

    def __init__(self, providers: Mapping[str, ProviderConfig | Mapping[str, Any]]) -> None:
        self._lock = threading.Lock()
        built = {name: _as_provider(name, value) for name, value in providers.items()}
        self._state: tuple[Mapping[str, ProviderConfig], ModelSnapshot] = (
            built,
            ModelSnapshot.build(built, 0),
        )

    # Mapping protocol, read from the current state.
    def __getitem__(self, name: str) -> ProviderConfig:
        return self._state[0][name]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._state[0]))

    def __len__(self) -> int:
        return len(self._state[0])

    @property
    def providers(self) -> Mapping[str, ProviderConfig]:
        """The current providers (an object that is never mutated)."""
        return self._state[0]

    @property
    def snapshot(self) -> ModelSnapshot:
        """The current model snapshot."""
        return self._state[1]

    def valid_scoped_models(self) -> list[str]:
        """Every valid model as `provider/long (short)`, from the cached snapshot."""
        return list(self._state[1].display)

    def model_records(self) -> tuple[ModelRecord, ...]:
        """Every valid model as typed records, from the cached snapshot."""
        return self._state[1].records

    def replace_providers(self, updates: Mapping[str, ProviderConfig]) -> ModelSnapshot:
        """Swap in new configs for some providers (others kept) and rebuild the snapshot."""
        with self._lock:
            current, old_snapshot = self._state
            merged = dict(current)
            for name, value in updates.items():
                merged[name] = _as_provider(name, value)
        # The snapshot is built outside the lock; the swap checks nobody swapped meanwhile.
        snapshot = ModelSnapshot.build(merged, old_snapshot.generation + 1)
        with self._lock:
            if self._state[0] is not current:
                latest = dict(self._state[0])
                latest.update({n: merged[n] for n in updates})
                merged = latest
                snapshot = ModelSnapshot.build(merged, self._state[1].generation + 1)
            self._state = (merged, snapshot)
        return snapshot

    def provider_named(self, name: str) -> ProviderConfig:
        """A provider by name, case-insensitively; UnknownProviderError otherwise."""
        providers = self._state[0]
        if name in providers:
            return providers[name]
        for pid, provider in providers.items():
            if pid.lower() == name.lower():
                return provider
        raise UnknownProviderError(name, sorted(providers))

    def resolve(self, model_string: str) -> tuple[ProviderConfig, str]:
        """`provider/long`, `provider/short`, bare `long` or bare `short` -> (provider, long).

        Raises AmbiguousModelError when a bare name is offered by several providers and
        UnknownModelError (with up to three suggestions) when nothing matches.
        """
        text = model_string.strip()
        providers = self._state[0]
        if not text:
            raise UnknownModelError(model_string, ())
        head, sep, rest = text.partition("/")
        if sep:
            for pid, provider in providers.items():
                if pid.lower() == head.lower():
                    long = provider.exact_model(rest)
                    if long is not None:
                        return provider, long
        hits = [(p, long) for p in providers.values() if (long := p.exact_model(text)) is not None]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise AmbiguousModelError(text, [f"{p.id}/{long}" for p, long in hits])
        raise UnknownModelError(text, self.suggest(text))

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        """Up to `limit` scoped names close to `text`."""
        records = self._state[1].records
        folded = text.lower()
        by_key: dict[str, str] = {}
        for record in records:
            by_key.setdefault(record.scoped_lower, record.scoped)
            by_key.setdefault(record.long.lower(), record.scoped)
            by_key.setdefault(record.short_lower, record.scoped)
        import difflib  # only when a name is not found

        close = difflib.get_close_matches(folded, list(by_key), n=limit * 3, cutoff=0.5)
        if not close:
            close = [key for key in by_key if folded in key][: limit * 3]
        return list(dict.fromkeys(by_key[key] for key in close))[:limit]

