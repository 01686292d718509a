"""Ranking model names for a `/model` query over a model snapshot.

Pure: no I/O, no locks, no prompt_toolkit.

How `/model` stays fast on tens of thousands of names:

* Per snapshot, an index holds the records sorted in tie-break order (shorter scoped name, then
  alphabetical) and three lower-cased key strings per record, shaped so that each tier test is
  one C-level `in`:
  - `names` = "\\nscoped\\nlong\\nshort\\n": exact is `"\\nq\\n" in names`, prefix `"\\nq" in names`;
  - `words` = the names with a mark after each `/ - . _ :`, so "q starts a word" is
    `marked(q) in words`;
  - `text` = the names, for substring and subsequence tests.
  Terms never contain the separator `\\n` or the mark `\\x1f`: both are whitespace to
  `str.split()`, which cuts the query into terms.
* Each query keeps two row lists: rows holding every term as a substring (they feed every tier
  but the last) and rows holding every character of every term (a cheap superset of the
  subsequence matches; a regex confirms them only when the subsequence tier is reached). A
  query that extends one typed a moment ago (the next keystroke) filters that query's lists
  instead of the whole snapshot; backspace finds the shorter query in a small history.
* Ranking walks the tiers best first. Rows are already in tie-break order, so the best `need`
  rows of a tier are the first `need` rows that pass its test: a pass stops as soon as the menu
  is full, with no sort at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chatrepl.manager import ModelRecord, ModelSnapshot

MAX_RECENT = 100

# Match tiers, best first. A multi-term query ranks by its weakest term.
EXACT, PREFIX, WORD_PREFIX, SUBSTRING, SUBSEQUENCE = range(5)
TIERS = (EXACT, PREFIX, WORD_PREFIX, SUBSTRING, SUBSEQUENCE)

_KEY_SEPARATOR = "\n"
_WORD_SEPARATORS = "/-._:"
_WORD_MARK = "\x1f"
_HISTORY = 8


class SnapshotSource(Protocol):
    """What the ranker needs from the ProviderManager."""

    @property
    def snapshot(self) -> ModelSnapshot: ...


def _marked(text: str) -> str:
    """`text` with a word mark before its start and after each word separator."""
    for separator in _WORD_SEPARATORS:  # a few str.replace calls beat one str.translate
        if separator in text:
            text = text.replace(separator, separator + _WORD_MARK)
    return _WORD_MARK + text


def _subsequence_search(text: str) -> Callable[[str], object]:
    """A search for the characters of `text` in order within one name (never across `\\n`)."""
    parts = [re.escape(text[0])]
    for char in text[1:]:
        escaped = re.escape(char)
        parts.append(f"[^\\n{escaped}]*{escaped}")
    return re.compile("".join(parts)).search


@dataclass(frozen=True, slots=True)
class _Keys:
    """Lower-cased match keys by row: lists for the whole snapshot, dicts for one provider."""

    names: Sequence[str] | Mapping[int, str]
    words: Sequence[str] | Mapping[int, str]
    text: Sequence[str] | Mapping[int, str]


def _keys_for(names: Iterable[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str]]:
    """Keys from lower-cased (whole, long, short) names. `whole` is the scoped name, or the long
    name when matching within one provider; `long` is a suffix of `whole` that starts a word."""
    joined: list[str] = []
    words: list[str] = []
    text: list[str] = []
    sep = _KEY_SEPARATOR
    for whole, long, short in names:
        distinct = dict.fromkeys((whole, long, short))
        joined.append(sep + sep.join(distinct) + sep)
        if short == long:
            words.append(_marked(whole))
            text.append(whole)
        else:
            words.append(_marked(whole) + sep + _marked(short))
            text.append(whole if short in whole else whole + sep + short)
    return joined, words, text


class _Index:
    """Everything precomputed for one snapshot. Read-only once built, except memos of
    per-provider keys filled on first use (plain dict stores, safe under the GIL)."""

    def __init__(self, snapshot: ModelSnapshot) -> None:
        self.snapshot = snapshot
        records = sorted(snapshot.records, key=lambda r: (len(r.scoped), r.scoped_lower, r.scoped))
        self.records: tuple[ModelRecord, ...] = tuple(records)
        self.size = len(records)
        names, words, text = _keys_for((r.scoped_lower, r.long.lower(), r.short_lower) for r in records)
        self.keys = _Keys(names, words, text)
        # No term longer than every name can match (this bounds the work a pasted text makes).
        self.longest = max(map(len, text), default=0)
        self.row_of: dict[str, int] = {}
        self.provider_rows: dict[str, list[int]] = {}
        for row, record in enumerate(records):
            self.row_of.setdefault(record.scoped, row)
            self.provider_rows.setdefault(record.provider.lower(), []).append(row)
        for row, record in enumerate(records):
            self.row_of.setdefault(record.scoped_lower, row)
        self._model_keys: dict[str, _Keys] = {}
        self._scopes: dict[str, frozenset[int]] = {}

    def model_keys(self, provider: str) -> _Keys:
        """Keys over long and short names only, for the rows of one provider (lower-cased id)."""
        keys = self._model_keys.get(provider)
        if keys is None:
            rows = self.provider_rows[provider]
            records = [self.records[row] for row in rows]
            columns = _keys_for((r.long.lower(), r.long.lower(), r.short_lower) for r in records)
            keys = _Keys(*(dict(zip(rows, column, strict=True)) for column in columns))
            self._model_keys[provider] = keys
        return keys

    def provider_scope(self, provider: str) -> frozenset[int]:
        """The rows of one provider (lower-cased id)."""
        scope = self._scopes.get(provider)
        if scope is None:
            scope = self._scopes[provider] = frozenset(self.provider_rows[provider])
        return scope

    def recent_rows(self, names: Iterable[str]) -> list[int]:
        """Rows of the given scoped names, in their order; unknown names are skipped."""
        rows: list[int] = []
        for name in islice(names, MAX_RECENT):
            row = self.row_of.get(name)
            if row is None:
                row = self.row_of.get(name.lower())
            if row is not None and row not in rows:
                rows.append(row)
        return rows


class _Term:
    """One whitespace-separated part of the query (lower-cased), with its tests precomputed."""

    __slots__ = ("_search", "exact", "keys", "prefix", "raw", "scope", "text", "word")

    def __init__(self, raw: str, index: _Index) -> None:
        self.raw = raw
        head, slash, rest = raw.partition("/")
        self.scope: frozenset[int] | None = None
        if slash and head in index.provider_rows:
            # `provider/rest`: only that provider's models, `rest` matched against their names.
            self.scope = index.provider_scope(head)
            self.keys = index.model_keys(head)
            self.text = rest
        else:
            self.keys = index.keys
            self.text = raw
        self.exact = _KEY_SEPARATOR + self.text + _KEY_SEPARATOR
        self.prefix = _KEY_SEPARATOR + self.text
        self.word = _marked(self.text)
        self._search: Callable[[str], object] | None = None

    def select(self, tier: int, rows: Iterable[int]) -> Iterator[int]:
        """The rows (all in scope) whose best match for this term is `tier` or better."""
        if tier == EXACT:
            needle, keys = self.exact, self.keys.names
        elif tier == PREFIX:
            needle, keys = self.prefix, self.keys.names
        elif tier == WORD_PREFIX:
            needle, keys = self.word, self.keys.words
        elif tier == SUBSTRING or len(self.text) <= 1:
            needle, keys = self.text, self.keys.text
        else:
            if self._search is None:  # compiled only when a subsequence pass needs it
                self._search = _subsequence_search(self.text)
            search, keys = self._search, self.keys.text
            return (row for row in rows if search(keys[row]))
        return (row for row in rows if needle in keys[row])

    def in_scope(self, rows: Sequence[int]) -> Sequence[int]:
        scope = self.scope
        return rows if scope is None else [row for row in rows if row in scope]

    def containing(self, rows: Sequence[int]) -> list[int]:
        """The rows that hold this term as a substring."""
        needle, keys = self.text, self.keys.text
        return [row for row in self.in_scope(rows) if needle in keys[row]]

    def holding(self, rows: Sequence[int], chars: Iterable[str]) -> Sequence[int]:
        """The rows that hold each of `chars`."""
        keys = self.keys.text
        rows = self.in_scope(rows)
        for char in chars:
            rows = [row for row in rows if char in keys[row]]
        return rows


def _extends(new: tuple[str, ...], old: tuple[str, ...]) -> bool:
    """True when every match of `new` is also a match of `old` (what was typed before).

    Holds when `old`'s terms are `new`'s with the last one possibly shorter; a `provider/`
    term narrows further, and its head is fixed once the `/` is typed.
    """
    if not old:
        return True
    if len(new) < len(old) or new[: len(old) - 1] != old[:-1]:
        return False
    return new[len(old) - 1].startswith(old[-1])


@dataclass(frozen=True, slots=True)
class _Narrowed:
    """Rows for one query, in tie-break order.

    `substring`: rows holding every term as a substring (they serve every tier but the last).
    `superset`: rows holding every character of every term, a superset of the subsequence
    matches; exact once a subsequence pass has scanned it to the end.
    """

    terms: tuple[str, ...]
    substring: Sequence[int]
    superset: Sequence[int]

    @property
    def size(self) -> int:
        return len(self.substring) + len(self.superset)


@dataclass(frozen=True, slots=True)
class _State:
    """The index of one snapshot and what the last few queries over it narrowed to."""

    index: _Index
    history: tuple[_Narrowed, ...] = ()


def _narrow(index: _Index, history: Sequence[_Narrowed], raw_terms: tuple[str, ...],
            terms: Sequence[_Term]) -> _Narrowed:
    """Rows for `raw_terms`, filtered from the narrowest earlier query that this one extends."""
    bases = [entry for entry in history if _extends(raw_terms, entry.terms)]
    if bases:
        base = min(bases, key=lambda entry: entry.size)
    else:
        everything = range(index.size)
        base = _Narrowed((), everything, everything)
    if base.terms == raw_terms:
        return base
    substring, superset = base.substring, base.superset
    first_changed = max(len(base.terms) - 1, 0)
    for position in range(first_changed, len(terms)):
        term = terms[position]
        chars = set(term.text)
        if position < len(base.terms):  # the old last term, now longer: its characters are applied
            old = _Term(base.terms[position], index)
            if (old.scope is None) == (term.scope is None):
                chars -= set(old.text)
        one_char = superset is substring and len(term.text) <= 1
        substring = term.containing(substring)
        # Holding one character and holding it as a subsequence are the same thing.
        superset = substring if one_char else term.holding(superset, sorted(chars))
    return _Narrowed(raw_terms, substring, superset)


def _tier_of(terms: Sequence[_Term], row: int) -> int | None:
    """The tier of one row for the whole query (its weakest term), None when it does not match."""
    for term in terms:
        if term.scope is not None and row not in term.scope:
            return None
    for tier in TIERS:
        if all(next(term.select(tier, (row,)), None) is not None for term in terms):
            return tier
    return None


def _rank(terms: Sequence[_Term], narrowed: _Narrowed, recent: Sequence[int],
          limit: int) -> tuple[list[int], list[int] | None]:
    """The best `limit` rows: by tier, then recent use, then row order (length, name).

    Also returns every subsequence match when the last pass scanned the superset to its end.
    """
    recent_tiers = [(row, _tier_of(terms, row)) for row in recent]
    recent_set = {row for row, tier in recent_tiers if tier is not None}
    chosen: list[int] = []
    for tier in TIERS:
        chosen.extend(row for row, row_tier in recent_tiers if row_tier == tier)
        need = limit - len(chosen)
        if need <= 0:
            break
        # Every row of a better tier is chosen already (or the menu would be full).
        skip = recent_set.union(chosen) if recent_set or tier > EXACT else ()
        if tier == SUBSEQUENCE:
            return chosen, _subsequence_pass(terms, narrowed.superset, skip, need, chosen)
        rows: Iterable[int] = narrowed.substring
        if tier != SUBSTRING:
            for term in terms:
                rows = term.select(tier, rows)
        chosen.extend(islice((row for row in rows if row not in skip), need))
    return chosen[:limit], None


def _subsequence_pass(terms: Sequence[_Term], superset: Sequence[int], skip: Collection[int],
                      need: int, chosen: list[int]) -> list[int] | None:
    """Append to `chosen` the first `need` subsequence matches not in `skip`; return all the
    matches when the superset had to be scanned to its end, else None."""
    rows: Iterable[int] = superset
    for term in terms:
        rows = term.select(SUBSEQUENCE, rows)
    matches: list[int] = []
    for row in rows:
        matches.append(row)
        if row not in skip:
            chosen.append(row)
            need -= 1
            if need == 0:
                return None
    return matches


class ModelRanker:
    """The best records of the current snapshot for a query, best first.

    Terms (the query split on whitespace) must all match, case-insensitively, the scoped, long
    or short name. `provider/rest`, where `provider` has models in the snapshot, keeps to that
    provider and matches `rest` against its model names. Tiers: exact > prefix > prefix of a
    word (after `/ - . _ :`) > substring > subsequence; a query ranks by its weakest term. Ties
    go to recently used models, then shorter scoped names, then alphabetical order.
    """

    def __init__(self, source: SnapshotSource, limit: int) -> None:
        self._source = source
        self._limit = limit
        # One reference, replaced whole: a reader on another thread sees an old or a new state.
        self._state: _State | None = None

    def ranked(self, query: str, recent: Iterable[str] = ()) -> list[ModelRecord]:
        """At most `limit` records for `query`; `recent`: scoped names, most recent first."""
        state = self._state_for(self._source.snapshot)
        index = state.index
        raw_terms = tuple(dict.fromkeys(query.lower().split()))
        terms = [_Term(raw, index) for raw in raw_terms]
        if any(len(term.text) > index.longest for term in terms):
            return []
        narrowed = _narrow(index, state.history, raw_terms, terms)
        rows, matches = _rank(terms, narrowed, index.recent_rows(recent), self._limit)
        if matches is not None and len(matches) < len(narrowed.superset):
            narrowed = _Narrowed(raw_terms, narrowed.substring, matches)
        history = tuple(entry for entry in state.history if entry.terms != raw_terms)
        self._state = _State(index, (*history[-(_HISTORY - 1):], narrowed))
        return [index.records[row] for row in rows]

    def warm(self) -> None:
        """Build the index for the current snapshot now (e.g. off-thread right after a swap)."""
        self._state_for(self._source.snapshot)

    def _state_for(self, snapshot: ModelSnapshot) -> _State:
        state = self._state
        if state is None or state.index.snapshot is not snapshot:
            state = _State(_index_for(snapshot))
            self._state = state
        return state


# The index of the latest snapshot, shared by every ranker (the completer's and the one behind
# "did you mean"), so a snapshot is indexed once. One reference, replaced whole.
_latest_index: _Index | None = None


def _index_for(snapshot: ModelSnapshot) -> _Index:
    global _latest_index
    index = _latest_index
    if index is None or index.snapshot is not snapshot:
        index = _latest_index = _Index(snapshot)
    return index


def text_tier(query: str, names: Sequence[str]) -> int | None:
    """The tier at which `query` matches any of `names` (e.g. a conversation's id, name and
    title), by the same tests as model names: exact, prefix, word prefix, substring,
    subsequence; a query of several words ranks by its weakest. None when a word does not
    match; EXACT for an empty query."""
    lowered = [n.lower() for n in names if n]
    names_key = _KEY_SEPARATOR + _KEY_SEPARATOR.join(lowered) + _KEY_SEPARATOR
    words_key = _KEY_SEPARATOR.join(_marked(n.replace(" ", "-")) for n in lowered)
    text_key = _KEY_SEPARATOR.join(lowered)
    worst = EXACT
    for term in query.lower().split():
        if _KEY_SEPARATOR + term + _KEY_SEPARATOR in names_key:
            tier = EXACT
        elif _KEY_SEPARATOR + term in names_key:
            tier = PREFIX
        elif _marked(term) in words_key:
            tier = WORD_PREFIX
        elif term in text_key:
            tier = SUBSTRING
        elif _subsequence_search(term)(text_key):
            tier = SUBSEQUENCE
        else:
            return None
        worst = max(worst, tier)
    return worst
