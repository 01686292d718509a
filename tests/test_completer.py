"""The completers as plain functions over literal model lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatrepl.completer import (
    MAX_COMPLETIONS,
    ModelCommandCompleter,
    SlashCommandCompleter,
    WordListCompleter,
)
from chatrepl.manager import ModelRecord, ProviderManager

OPENAI = "https://api.openai.com/v1"
GROQ = "https://api.groq.com/openai/v1"


def manager(models: Mapping[str, Mapping[str, str] | Sequence[str]]) -> ProviderManager:
    return ProviderManager({
        provider: {"base_api_url": f"https://{provider}.example/v1", "valid_models": valid}
        for provider, valid in models.items()
    })


def complete(completer: Completer, text: str, cursor: int | None = None) -> list[Completion]:
    position = len(text) if cursor is None else cursor
    return list(completer.get_completions(Document(text, position), CompleteEvent()))


def names(completer: Completer, text: str) -> list[str]:
    return [c.text for c in complete(completer, text)]


def test_exact_then_prefix_then_word_prefix_then_substring_then_subsequence() -> None:
    models = manager({"p": [
        "xaxbx",        # subsequence of "ab"
        "xxab",         # substring
        "x-abx",        # prefix of a word
        "abcdef",       # prefix (longer than the others, still ranks above them)
        "ab",           # exact
    ]})
    assert names(ModelCommandCompleter(models), "ab") == [
        "p/ab", "p/abcdef", "p/x-abx", "p/xxab", "p/xaxbx",
    ]


def test_each_word_separator_starts_a_word() -> None:
    models = manager({"p": ["zz/ab", "zz-ab", "zz.ab", "zz_ab", "zz:ab", "zzabyy"]})
    ranked = names(ModelCommandCompleter(models), "ab")
    assert ranked[-1] == "p/zzabyy"
    assert set(ranked[:-1]) == {"p/zz/ab", "p/zz-ab", "p/zz.ab", "p/zz_ab", "p/zz:ab"}


def test_exact_scoped_name_ranks_first() -> None:
    models = manager({"openai": ["gpt-4o-mini", "gpt-4o", "chatgpt-4o-latest"], "azure": ["gpt-4o"]})
    assert names(ModelCommandCompleter(models), "openai/gpt-4o")[0] == "openai/gpt-4o"
    ranked = names(ModelCommandCompleter(models), "gpt-4o")
    assert ranked[:2] == ["azure/gpt-4o", "openai/gpt-4o"]  # both exact long names; shorter first
    assert ranked[2:] == ["openai/gpt-4o-mini", "openai/chatgpt-4o-latest"]


def test_ties_go_to_recent_models_then_shorter_then_alphabetical() -> None:
    models = manager({"p": ["gpt-b", "gpt-a", "gpt-long", "gpt-zz"]})
    plain = ModelCommandCompleter(models)
    assert names(plain, "gpt") == ["p/gpt-a", "p/gpt-b", "p/gpt-zz", "p/gpt-long"]
    recent = ModelCommandCompleter(models, recent=lambda: ["p/gpt-long", "p/unknown", "p/gpt-zz"])
    assert names(recent, "gpt") == ["p/gpt-long", "p/gpt-zz", "p/gpt-a", "p/gpt-b"]


def test_recent_use_breaks_ties_only_within_a_tier() -> None:
    models = manager({"p": ["llama", "ollama"]})
    completer = ModelCommandCompleter(models, recent=lambda: ["p/ollama"])
    assert names(completer, "llama") == ["p/llama", "p/ollama"]


def test_recent_models_come_first_when_the_argument_is_empty() -> None:
    models = manager({"p": ["a", "b", "c"]})
    completer = ModelCommandCompleter(models, recent=lambda: ["p/c"])
    assert names(completer, "") == ["p/c", "p/a", "p/b"]


def test_provider_prefix_scopes_to_that_provider() -> None:
    models = manager({
        "groq": ["llama-3.3-70b-versatile", "mixtral-8x7b"],
        "together": ["llama-3.3-70b"],
        "openai": ["gpt-4o"],
    })
    completer = ModelCommandCompleter(models)
    assert names(completer, "groq/lla") == ["groq/llama-3.3-70b-versatile"]
    assert names(completer, "groq/") == ["groq/mixtral-8x7b", "groq/llama-3.3-70b-versatile"]
    assert names(completer, "GROQ/LLA") == ["groq/llama-3.3-70b-versatile"]


def test_provider_part_is_matched_only_against_model_names_within_the_scope() -> None:
    models = manager({"groq": ["groq-tool-use", "llama"], "other": ["groq/llama"]})
    completer = ModelCommandCompleter(models)
    # Inside `groq/`, the rest "groq" must match a model name, not the provider part.
    assert names(completer, "groq/groq") == ["groq/groq-tool-use"]


def test_a_slash_whose_head_is_not_a_provider_matches_the_whole_name() -> None:
    models = manager({"abacus": ["Qwen/QwQ-32B", "llama"], "groq": ["qwen-qwq"]})
    assert names(ModelCommandCompleter(models), "qwen/qwq") == ["abacus/Qwen/QwQ-32B"]


def test_all_terms_must_match() -> None:
    models = manager({
        "groq": ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"],
        "together": ["meta-llama/Llama-3.3-70B-Instruct-Turbo"],
        "openai": ["gpt-4o"],
    })
    completer = ModelCommandCompleter(models)
    assert names(completer, "llama 70b groq") == ["groq/llama-3.3-70b-versatile"]
    assert names(completer, "llama 70b") == [
        "groq/llama-3.3-70b-versatile", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ]
    assert names(completer, "llama nothing") == []


def test_a_query_ranks_by_its_weakest_term() -> None:
    models = manager({"p": ["alpha-beta", "alpha-xbeta"]})
    completer = ModelCommandCompleter(models)
    # "alpha" is a prefix for both; "beta" starts a word only in the first.
    assert names(completer, "alpha beta") == ["p/alpha-beta", "p/alpha-xbeta"]
    assert names(completer, "beta alpha") == ["p/alpha-beta", "p/alpha-xbeta"]


def test_matching_is_case_insensitive() -> None:
    models = manager({"Together": ["Meta-Llama/Llama-3.3-70B"]})
    completer = ModelCommandCompleter(models)
    expected = ["Together/Meta-Llama/Llama-3.3-70B"]
    assert names(completer, "LLAMA-3.3-70b") == expected
    assert names(completer, "together/meta") == expected
    assert names(SlashCommandCompleter(lambda: [], {"/model": completer}), "/MODEL llama") == expected


def test_short_names_match_and_show_in_the_meta() -> None:
    models = manager({
        "groq": {"llama-3.3-70b-versatile": "fast70", "mixtral-8x7b": "mixtral-8x7b"},
        "openai": ["gpt-4o"],
    })
    completions = complete(ModelCommandCompleter(models), "fast")
    assert [c.text for c in completions] == ["groq/llama-3.3-70b-versatile"]
    assert completions[0].display_meta_text == "fast70 · groq"
    assert names(ModelCommandCompleter(models), "groq/fast70") == ["groq/llama-3.3-70b-versatile"]
    mixtral = complete(ModelCommandCompleter(models), "mixtral")[0]
    assert mixtral.display_meta_text == "groq"  # the short name is left out when equal to the long


def test_exact_short_name_is_the_exact_tier() -> None:
    models = manager({"p": {"zeta-long-name": "zz", "zz-top": "zz-top"}})
    assert names(ModelCommandCompleter(models), "zz") == ["p/zeta-long-name", "p/zz-top"]


def test_completion_is_provider_slash_long_and_replaces_the_whole_argument() -> None:
    models = manager({"groq": {"llama-3.3-70b-versatile": "fast70"}})
    model = ModelCommandCompleter(models)
    slash = SlashCommandCompleter(lambda: [], {"/model": model, "/m": model})
    for text in ("/model fast70", "/model groq/fast", "/m  llama 70", "  /model lla"):
        [completion] = complete(slash, text)
        argument = text.split(maxsplit=1)[1]
        assert completion.text == "groq/llama-3.3-70b-versatile"
        assert completion.display_text == "groq/llama-3.3-70b-versatile"
        assert completion.start_position == -len(argument)
        buffer_text = text[: len(text) + completion.start_position] + completion.text
        assert buffer_text.endswith(" groq/llama-3.3-70b-versatile")


def test_meta_for_is_appended_and_called_only_for_shown_records() -> None:
    models = manager({"p": [f"model-{n:03}" for n in range(200)]})
    asked: list[ModelRecord] = []

    def meta_for(record: ModelRecord) -> str:
        asked.append(record)
        return "128k · $1/$2"

    completions = complete(ModelCommandCompleter(models, meta_for=meta_for), "model")
    assert len(completions) == MAX_COMPLETIONS
    assert len(asked) == MAX_COMPLETIONS
    assert completions[0].display_meta_text == "p · 128k · $1/$2"


def test_at_most_fifty_completions_and_the_best_are_kept() -> None:
    models = manager({"p": [f"gpt-{n}" for n in range(300)] + ["gpt"]})
    ranked = names(ModelCommandCompleter(models), "gpt")
    assert len(ranked) == MAX_COMPLETIONS
    assert ranked[:3] == ["p/gpt", "p/gpt-0", "p/gpt-1"]
    assert "p/gpt-100" not in ranked  # longer names lose the tie


def test_an_argument_completer_is_asked_only_after_its_command() -> None:
    model = ModelCommandCompleter(manager({"p": ["gpt-4o"]}))
    slash = SlashCommandCompleter(lambda: [], {"/model": model})
    for text in ("", "gpt", "/model", "/models gpt", "/modelgpt", "hello /model gpt", "/load gpt"):
        assert complete(slash, text) == [], text
    assert names(slash, "/MODEL gpt") == ["p/gpt-4o"]
    assert names(model, "  gpt") == ["p/gpt-4o"]  # on its own, the whole text is the name


def test_a_pasted_text_longer_than_any_name_gives_nothing() -> None:
    completer = ModelCommandCompleter(manager({"p": ["aaa", "a-b"]}))
    assert names(completer, "a" * 100_000) == []
    assert names(completer, "a " * 10_000) == ["p/a-b", "p/aaa"]  # repeated terms count once


def test_only_the_text_before_the_cursor_counts() -> None:
    completer = ModelCommandCompleter(manager({"p": ["gpt-4o", "o3-mini"]}))
    text = "o3 and more"
    assert [c.text for c in complete(completer, text, cursor=len("o3"))] == ["p/o3-mini"]
    assert complete(completer, text, cursor=len("o3 and")) == []


def test_a_snapshot_swap_shows_at_the_next_call() -> None:
    models = ProviderManager({"openai": {"base_api_url": OPENAI, "valid_models": ["gpt-4o"]}})
    completer = ModelCommandCompleter(models)
    assert names(completer, "gpt") == ["openai/gpt-4o"]
    assert names(completer, "gpt-4") == ["openai/gpt-4o"]
    models._replace_providers({
        "openai": {"base_api_url": OPENAI, "valid_models": ["gpt-4.1", "gpt-4o"]},
        "groq": {"base_api_url": GROQ, "valid_models": ["openai/gpt-oss-120b"]},
    })
    assert names(completer, "gpt-4") == ["openai/gpt-4o", "openai/gpt-4.1"]
    assert names(completer, "gpt") == ["openai/gpt-4o", "openai/gpt-4.1", "groq/openai/gpt-oss-120b"]


def test_typing_backspacing_and_retyping_give_the_same_answers_as_a_fresh_completer() -> None:
    models = manager({
        "openai": ["gpt-4o", "gpt-4o-mini", "o3-mini", "o4-mini", "gpt-4.1-mini"],
        "groq": ["llama-3.3-70b-versatile", "openai/gpt-oss-20b"],
    })
    typing = ModelCommandCompleter(models)
    steps = ["g", "gp", "gpt", "gpt-", "gp", "g", "", "o", "o3", "o", "om", "omini", "o mini",
             "o mini g", "openai", "openai/", "openai/o", "openai/o4", "openai", "groq/o", "groq/oss"]
    for query in steps:
        fresh = ModelCommandCompleter(models)
        assert names(typing, query) == names(fresh, query), query


def test_slash_lists_commands_with_their_help() -> None:
    commands = [("/help", "show the commands"), ("/model", "switch model"), ("mod", "alias of /model"),
                ("/models", "list models")]
    completer = SlashCommandCompleter(lambda: commands, {})
    completions = complete(completer, "/")
    assert [c.text for c in completions] == ["/help", "/model", "/mod", "/models"]
    assert [c.display_meta_text for c in completions] == [help_text for _, help_text in commands]
    assert all(c.start_position == -1 for c in completions)
    assert [c.text for c in complete(completer, "/mo")] == ["/model", "/mod", "/models"]
    assert [c.text for c in complete(completer, "/MO")] == ["/model", "/mod", "/models"]
    assert complete(completer, "hello") == []
    assert complete(completer, "/nothing") == []


def test_slash_delegates_arguments_to_the_command_completer() -> None:
    models = manager({"openai": ["gpt-4o"], "groq": ["llama-3.3-70b-versatile"]})
    model_completer = ModelCommandCompleter(models)
    providers = WordListCompleter(lambda: list(models))
    completer = SlashCommandCompleter(
        lambda: [("/model", "switch model"), ("/mod", "alias"), ("/discover", "refresh models")],
        {"/model": model_completer, "/mod": model_completer, "/discover": providers},
    )
    assert names(completer, "/model lla") == ["groq/llama-3.3-70b-versatile"]
    assert names(completer, "/mod gpt") == ["openai/gpt-4o"]
    assert names(completer, "/discover ") == ["groq", "openai"]
    assert names(completer, "/discover g") == ["groq"]
    assert names(completer, "/discover groq ") == ["openai"]
    assert names(completer, "/help x") == []


def test_discover_completes_provider_names() -> None:
    models = manager({"openai": ["gpt-4o"], "groq": ["llama"], "openrouter": ["x"]})
    providers = WordListCompleter(lambda: list(models))
    completions = complete(providers, "/discover OP")
    assert [c.text for c in completions] == ["openai", "openrouter"]
    assert all(c.start_position == -2 for c in completions)
    assert names(providers, "/discover roq") == ["groq"]  # a substring, after any prefix matches


def test_load_completes_session_names() -> None:
    sessions = WordListCompleter(lambda: ["work-notes", "2024-plan", "work"])
    assert names(sessions, "/load wo") == ["work", "work-notes"]
    assert names(sessions, "/load plan") == ["2024-plan"]


def test_a_failing_source_gives_no_completions() -> None:
    class Broken:
        @property
        def snapshot(self) -> object:
            raise RuntimeError("boom")

    def fail() -> Iterable[str]:
        raise RuntimeError("boom")

    assert complete(ModelCommandCompleter(Broken()), "/model gpt") == []  # type: ignore[arg-type]
    models = manager({"p": ["gpt"]})
    assert complete(ModelCommandCompleter(models, recent=fail), "/model gpt") == []  # type: ignore[arg-type]
    assert complete(WordListCompleter(fail), "/discover g") == []
    assert complete(SlashCommandCompleter(fail, {}), "/") == []  # type: ignore[arg-type]


# A reference ranking written straight from the rules, to compare against on random inputs.

SEPARATORS = "/-._:"


def reference_tier(term: str, record: ModelRecord, provider_ids: set[str]) -> int | None:
    head, slash, rest = term.partition("/")
    if slash and head in provider_ids:
        if record.provider.lower() != head:
            return None
        keys, text = [record.long.lower(), record.short_lower], rest
    else:
        keys, text = [record.scoped_lower, record.long.lower(), record.short_lower], term
    tiers = []
    for key in keys:
        if key == text:
            tiers.append(0)
        elif key.startswith(text):
            tiers.append(1)
        elif any(key.startswith(text, i) for i in range(len(key)) if key[i - 1] in SEPARATORS):
            tiers.append(2)
        elif text in key:
            tiers.append(3)
        else:
            rest_of_key = iter(key)
            if all(char in rest_of_key for char in text):
                tiers.append(4)
    return min(tiers, default=None)


def reference(models: ProviderManager, query: str, recent: Sequence[str]) -> list[str]:
    # Providers known to the snapshot, that is, with at least one model.
    provider_ids = {record.provider.lower() for record in models.snapshot.records}
    terms = query.lower().split()
    scored = []
    for record in models.snapshot.records:
        tiers = [reference_tier(term, record, provider_ids) for term in terms]
        if None in tiers:
            continue
        recency = recent.index(record.scoped) if record.scoped in recent else len(recent)
        tier = max(tiers, default=0)
        key = (tier, recency, len(record.scoped), record.scoped_lower, record.scoped)
        scored.append((key, record.scoped))
    return [scoped for _, scoped in sorted(scored)][:MAX_COMPLETIONS]


ALPHABET = "ab1-/._:Pq"
model_ids = st.text(ALPHABET, min_size=1, max_size=7)
catalogs = st.dictionaries(
    st.sampled_from(["p", "pq", "q", "P1", "a-b"]),
    st.dictionaries(model_ids, st.one_of(st.none(), model_ids), max_size=40),
    min_size=1, max_size=4,
)


# Queries from pieces that often form `provider/` terms, several terms, and repeated letters.
query_pieces = st.sampled_from([*ALPHABET, " ", " ", "p/", "P1/", "q/", "a-b/", "ab", "ba"])
queries = st.lists(query_pieces, max_size=6).map("".join)


@settings(max_examples=200, deadline=None)
@given(catalogs, st.lists(queries, min_size=1, max_size=6), st.data())
def test_ranking_matches_the_reference_while_typing(
    catalog: dict[str, dict[str, str | None]], queries: list[str], data: st.DataObject,
) -> None:
    models = ProviderManager({
        provider: {"base_api_url": OPENAI, "valid_models": valid} for provider, valid in catalog.items()
    })
    scoped = [record.scoped for record in models.snapshot.records]
    recent = data.draw(st.lists(st.sampled_from(scoped), unique=True, max_size=3)) if scoped else []
    completer = ModelCommandCompleter(models, recent=lambda: recent)
    # Type each query a character at a time, as a user would, then delete it again.
    for query in queries:
        steps = [query[:n] for n in range(len(query) + 1)]
        for step in steps + steps[::-1]:
            assert names(completer, step) == reference(models, step, recent), step


@settings(max_examples=300, deadline=None)
@given(st.text(), st.data())
def test_completion_never_raises(text: str, data: st.DataObject) -> None:
    cursor = data.draw(st.integers(min_value=0, max_value=len(text)))
    models = manager({"openai": ["gpt-4o", "o3-mini"], "groq": {"llama-3.3-70b": "l70"}})
    model_completer = ModelCommandCompleter(models, recent=lambda: ["groq/llama-3.3-70b"])
    slash = SlashCommandCompleter(
        lambda: [("/model", "switch"), ("/discover", "refresh")],
        {"/model": model_completer, "/mod": model_completer, "/discover": WordListCompleter(lambda: models)},
    )
    for prefix in ("", "/model ", "/mod ", "/discover ", "/model --"):
        document = Document(prefix + text, len(prefix) + cursor)
        for completer in (model_completer, slash):
            completions = list(completer.get_completions(document, CompleteEvent()))
            assert len(completions) <= MAX_COMPLETIONS or completer is slash
            assert all(c.start_position <= 0 for c in completions)
