"""ProviderManager: providers by name, the immutable model snapshot, and name resolution."""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatrepl.config import ProviderConfig
from chatrepl.errors import (
    AmbiguousModelError,
    InvalidModelError,
    UnknownModelError,
    UnknownProviderError,
)
from chatrepl.modelrank import ModelRanker

# Suggestions for an unknown name: how many records each ranking query may add to the pool,
# how many of the name's words are tried, and how close (difflib ratio) a suggestion must be.
SUGGEST_POOL = 30
SUGGEST_WORDS = 3
SUGGEST_CUTOFF = 0.5
_WORD_SPLIT = re.compile(r"[\s/\-._:]+")


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
    # `provider/long (short)` strings, made on the first `display()` call, not per snapshot:
    # discovery builds many snapshots that nobody asks to display.
    _display: list[tuple[str, ...]] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def build(cls, providers: Mapping[str, ProviderConfig], generation: int) -> ModelSnapshot:
        records = tuple(
            ModelRecord(pid, long, short)
            for pid, provider in providers.items()
            for long, short in provider.usable_models().items()
        )
        return cls(generation, records)

    def display(self) -> tuple[str, ...]:
        """Every record as `provider/long (short)`; built once (two threads racing build equal
        tuples, so either may win)."""
        if not self._display:
            self._display.append(tuple(r.display for r in self.records))
        return self._display[0]


def _as_provider(name: str, value: ProviderConfig | Mapping[str, Any]) -> ProviderConfig:
    if isinstance(value, ProviderConfig):
        return value if value.id == name else value.model_copy(update={"id": name})
    return ProviderConfig.model_validate({**value, "id": name})


class ProviderManager(Mapping[str, ProviderConfig]):
    """A read-only mapping of providers plus the cached model snapshot.

    The one mutable thing is the reference to (providers, snapshot); `_replace_providers`
    swaps it under a short lock, so readers on any thread see the old or the new state whole.
    Its one caller is `ModelDiscoveryService`, the one writer of the model list.
    """

    def __init__(self, providers: Mapping[str, ProviderConfig | Mapping[str, Any]]) -> None:
        self._lock = threading.Lock()
        built = {name: _as_provider(name, value) for name, value in providers.items()}
        self._state: tuple[Mapping[str, ProviderConfig], ModelSnapshot] = (
            built,
            ModelSnapshot.build(built, 0),
        )
        # Lower-cased ids of probed providers the user chose by full name (replaced whole).
        self._chosen: frozenset[str] = frozenset()
        self._ranker = ModelRanker(self, SUGGEST_POOL)

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
        return list(self._state[1].display())

    def model_records(self) -> tuple[ModelRecord, ...]:
        """Every valid model as typed records, from the cached snapshot."""
        return self._state[1].records

    def _replace_providers(self, updates: Mapping[str, ProviderConfig]) -> ModelSnapshot:
        """Swap in new configs for some providers (others kept) and rebuild the snapshot.

        Internal: only `ModelDiscoveryService` calls it (to add a provider, merge discovered
        models, or mark a model invalid, go through the service).
        """
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
        provider = self._provider_or_none(name)
        if provider is None:
            raise UnknownProviderError(name, sorted(self._state[0]))
        return provider

    def _provider_or_none(self, name: str) -> ProviderConfig | None:
        providers = self._state[0]
        if name in providers:
            return providers[name]
        folded = name.lower()
        for pid, provider in providers.items():
            if pid.lower() == folded:
                return provider
        return None

    # -- probed providers the user has chosen ---------------------------------------------
    def choose(self, provider_ids: Iterable[str]) -> None:
        """Let bare names resolve to these providers' models even when they were probed."""
        with self._lock:
            self._chosen = self._chosen.union(p.lower() for p in provider_ids)

    def serves_bare_names(self, provider: ProviderConfig) -> bool:
        """A configured provider, or a probed one the user has chosen by its full name."""
        return not provider.probed or provider.id.lower() in self._chosen

    def named_provider(self, model_string: str) -> ProviderConfig | None:
        """The provider a `provider/model` string names by its first part, if any."""
        head, sep, _rest = model_string.strip().partition("/")
        return self._provider_or_none(head) if sep else None

    # -- resolving names ---------------------------------------------------------------------
    def resolve(self, model_string: str) -> tuple[ProviderConfig, str]:
        """`provider/model`, `provider/short`, bare `long` or bare `short` -> (provider, long).

        When the first part names a provider, the rest is that provider's model: a listed long
        or short name, or else the id as given (the provider judges it when it is sent). A
        provider is never swapped for another. Bare names are looked up among every provider's
        listed models, except probed providers the user has not chosen. Ids listed as invalid
        are never resolved (InvalidModelError). Raises AmbiguousModelError when a bare name is
        offered by several providers and UnknownModelError (up to three suggestions) when
        nothing matches.
        """
        text = model_string.strip()
        if not text:
            raise UnknownModelError(model_string, ())
        provider = self.named_provider(text)
        if provider is not None:
            rest = text.partition("/")[2].strip()
            long = provider.exact_model(rest) if rest else None
            if long is not None:
                return provider, long
            if not rest:
                raise UnknownModelError(text, self.suggest(text))
            if provider.is_invalid(rest):
                raise InvalidModelError(text, provider.id, self.suggest(text))
            return provider, rest
        hits = [(p, long) for p in self._state[0].values()
                if self.serves_bare_names(p) and (long := p.exact_model(text)) is not None]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise AmbiguousModelError(text, [f"{p.id}/{long}" for p, long in hits])
        raise UnknownModelError(text, self.suggest(text))

    def starting_model(self, default_model: str | None) -> tuple[str, str, str | None]:
        """(provider, model, why): `default_model` when it resolves, else the first model a bare
        name could reach (("", "") when none); `why` is the one line saying why
        `default_model` was not used, None when it was (or none was given)."""
        if default_model:
            try:
                provider, long = self.resolve(default_model)
            except (UnknownModelError, AmbiguousModelError) as exc:
                first = self.first_model()
                instead = f"using {first[0]}/{first[1]}" if first[0] else "no model selected"
                return (*first, f"default_model: {self._no_provider(default_model) or exc};"
                                f" {instead}")
            return provider.id, long, None
        return (*self.first_model(), None)

    def _no_provider(self, model_string: str) -> str | None:
        """`no provider named 'ghost' for 'ghost/m' (configured: …)` when `ghost/m` names no
        provider and no model is called anything like that either; else None."""
        head, sep, _rest = model_string.strip().partition("/")
        if not sep or self._provider_or_none(head) is not None or self.suggest(model_string):
            return None
        configured = ", ".join(self._state[0]) or "none"
        return f"no provider named {head!r} for {model_string.strip()!r} (configured: {configured})"

    def first_model(self) -> tuple[str, str]:
        """(provider, model) of the first known model a bare name could reach, or ("", "")."""
        for record in self._state[1].records:
            provider = self._state[0].get(record.provider)
            if provider is not None and self.serves_bare_names(provider):
                return record.provider, record.long
        return "", ""

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        """Up to `limit` scoped names close to `text`, best first.

        The completion ranking answers first (prefix, word, substring, subsequence). When it
        finds nothing (a typo), a bounded set of looser queries (shorter prefixes, the words
        of `text`) fills a small pool, which difflib orders by closeness to `text`.
        """
        folded = " ".join(text.lower().split())
        if not folded:
            return []
        ranked = self._ranker.ranked(folded)
        if ranked:
            return list(dict.fromkeys(record.scoped for record in ranked))[:limit]
        prefixes, words = _looser_queries(folded)
        best: list[ModelRecord] = []
        for query in prefixes:  # shortest first: each narrows the last one's matches
            found = self._ranker.ranked(query)
            if not found:
                break  # nothing longer can match either
            best = found
        pool = {record.scoped: record for record in best}
        for query in words:
            if len(pool) >= limit:
                break
            for record in self._ranker.ranked(query):
                pool.setdefault(record.scoped, record)
        scored = [(_closeness(folded, record), record) for record in pool.values()]
        scored.sort(key=lambda pair: (-pair[0], len(pair[1].scoped), pair[1].scoped))
        return [record.scoped for score, record in scored if score >= SUGGEST_CUTOFF][:limit]


def _looser_queries(text: str) -> tuple[list[str], list[str]]:
    """Shorter prefixes of `text` (shortest first), and its longest words: queries that get
    past a typo."""
    size = len(text)
    lengths = sorted({size - 1, size - 2, size - 3, size * 3 // 4, size // 2})
    prefixes = list(dict.fromkeys(text[:n].strip() for n in lengths if n >= 3))
    words = sorted((w for w in _WORD_SPLIT.split(text) if len(w) >= 2), key=len, reverse=True)
    return ([p for p in prefixes if p],
            [w for w in dict.fromkeys(words[:SUGGEST_WORDS]) if w not in prefixes])


def _closeness(text: str, record: ModelRecord) -> float:
    """How close `text` is to the record's names (difflib ratio, 0..1)."""
    names = (record.scoped_lower, record.long.lower()) if "/" in text \
        else (record.long.lower(), record.short_lower)
    return max(difflib.SequenceMatcher(None, text, name).ratio() for name in names)
