"""Property tests (hypothesis): dispatch, load_config and resolve() raise only their documented
errors, whatever they are given. The completer's property lives in tests/test_completer.py.

Each test counts the examples it ran, prints the count (visible with -s) and records it as a
junit property (`examples`).
"""

from __future__ import annotations

import io
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from replhelpers import build_repl_state

from chatrepl.config import Config, load_config
from chatrepl.errors import AmbiguousModelError, ChatReplError, ConfigError, UnknownModelError
from chatrepl.manager import ProviderManager
from chatrepl.repl import handle_line
from chatrepl.replstate import ReplState
from chatrepl.slash_commands import REGISTRY

# A fixed number of examples each, CPU-bound: up to ~25 s on 2 busy cores, so 4 minutes before
# the timeout rather than the suite's 60 s.
pytestmark = pytest.mark.timeout(240)

COMMON = {"database": None, "deadline": None,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}


def report(record_property: Callable[[str, Any], None], name: str, count: int,
           minimum: int) -> None:
    print(f"\n{name}: {count} hypothesis examples")
    record_property("examples", count)
    assert count >= minimum


# -- command dispatch ------------------------------------------------------------------------

SAVE_WORDS = {c for c in REGISTRY.words() if REGISTRY.lookup(c) in (REGISTRY.lookup("/save"),
                                                                   REGISTRY.lookup("/load"))}

command_lines = st.builds(
    lambda word, gap, argument: word + gap + argument,
    st.sampled_from([*REGISTRY.words(), "/", "/x", "/MODEL", "/Help", "/modle", "/sav"]),
    st.sampled_from(["", " ", "  ", "\t", " \n "]),
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(["remote/remote-model", "rm", "remote-model", "remote", "nobody",
                         "--validate", "remote --validate", "'unbalanced", '"a b" c', "ws",
                         "other/with-slash", "remote/", "/", "-", "last", "a" * 200]),
    ),
)
any_line = st.one_of(command_lines, st.text(max_size=60), st.just("//not a command"))


@pytest.fixture
def repl_state(chatrepl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               ) -> tuple[ReplState, io.StringIO]:
    """A state whose only provider is remote and has no key: no command touches the network.
    Saves with a relative name land in tmp_path (the working directory)."""
    monkeypatch.chdir(tmp_path)
    (chatrepl_home / "config.yaml").write_text(
        "chat:\n  max_retries: 0\n"
        "providers:\n"
        "  remote:\n"
        "    base_url: https://api.example.invalid/v1\n"
        "    valid_models: {remote-model: rm, other/with-slash: ws}\n", encoding="utf-8")
    state, out, _err = build_repl_state(chatrepl_home, "remote", "remote-model")
    return state, out


def test_dispatch_raises_only_chatrepl_errors(repl_state, record_property) -> None:
    state, out = repl_state
    counts = {"examples": 0, "errors": 0}

    @settings(max_examples=300, **COMMON)
    @given(line=any_line)
    def check(line: str) -> None:
        word, _, argument = line.strip().partition(" ")
        # /save and /load with a path would touch files outside the test's folders.
        assume(not (word.lower() in SAVE_WORDS and any(c in argument for c in "/~\\")))
        counts["examples"] += 1
        text = line.strip()
        if text.startswith("/") and not text.startswith("//"):
            try:
                REGISTRY.dispatch(state, text)
            except ChatReplError as exc:
                counts["errors"] += 1
                assert str(exc).strip()
        handle_line(state, line)  # the loop's own entry: never raises at all
        state.should_exit = False

    check()
    assert "Traceback" not in out.getvalue()
    assert counts["errors"] > 0  # the strategy does reach the error paths
    report(record_property, "dispatch", counts["examples"], 150)


# -- load_config -----------------------------------------------------------------------------

FIELD_NAMES = ["providers", "discovery", "chat", "catalog", "default_model", "system_prompt",
               "base_url", "base_api_url", "api_key", "api_key_env", "name", "valid_models",
               "invalid_models", "catalog_id", "on_startup", "ttl_seconds", "timeout_seconds",
               "concurrency", "connect_timeout_seconds", "read_timeout_seconds", "max_retries",
               "refresh", "url"]
URLS = ["https://api.example.com/v1", "http://127.0.0.1:1/v1", "api.example.com/v1",
        "ftp://x/v1", "https://", "http://[::1/v1", "${UNSET_VARIABLE}/v1", "${SET_VAR}",
        "https://api.example.com:99999/v1"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=16),
    st.sampled_from([*URLS, "-5", "0", "many", "yes", "${SET_VAR}", "a/b", ""]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10),
                 st.integers(min_value=-5, max_value=5), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=16,
)
provider_names = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}", fullmatch=True),
                           st.text(max_size=8))
provider_entry = st.one_of(values, st.fixed_dictionaries({}, optional={
    "base_url": st.one_of(st.sampled_from(URLS), values),
    "base_api_url": st.sampled_from(URLS),
    "name": values,
    "api_key": st.one_of(st.sampled_from(["sk-abc", "${SET_VAR}", "${UNSET_VARIABLE}"]), values),
    "api_key_env": values,
    "valid_models": st.one_of(st.lists(st.text(max_size=8), max_size=3),
                              st.dictionaries(st.text(max_size=8), st.one_of(st.none(),
                                              st.text(max_size=8)), max_size=3), values),
    "invalid_models": values,
    "catalog_id": values,
}))
settings_map = st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=4)
documents = st.one_of(
    values,
    st.fixed_dictionaries({}, optional={
        "providers": st.one_of(st.dictionaries(provider_names, provider_entry, max_size=3),
                               values),
        "discovery": st.one_of(settings_map, values),
        "chat": st.one_of(settings_map, values),
        "catalog": st.one_of(settings_map, values),
        "default_model": values,
        "system_prompt": values,
        "typo_key": values,
    }),
)


def check_load(path: Path, counts: dict[str, int]) -> None:
    before = path.read_bytes()
    try:
        config = load_config(path, {"SET_VAR": "https://set.example.com/v1"}, must_exist=True)
    except ConfigError as exc:
        counts["errors"] += 1
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message
    else:
        counts["loaded"] += 1
        assert isinstance(config, Config)
    assert path.read_bytes() == before


def test_load_config_of_any_yaml_document(tmp_path: Path, record_property) -> None:
    counts = {"examples": 0, "errors": 0, "loaded": 0}
    path = tmp_path / "config.yaml"

    @settings(max_examples=400, **COMMON)
    @given(document=documents)
    def check(document: Any) -> None:
        counts["examples"] += 1
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        check_load(path, counts)

    check()
    assert counts["errors"] > 0 and counts["loaded"] > 0
    report(record_property, "load_config (YAML documents)", counts["examples"], 200)


yaml_alphabet = st.sampled_from([*string.printable, "\t", "\x00", "é", "\ufeff", "€"])
yaml_ish_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=yaml_alphabet, max_size=200),
    st.lists(st.sampled_from(["providers:", "  a:", "    base_url: https://x/v1", "  - x",
                              "key: [", "key: {", "&a [1]", "*a", "<<: *a", "!!python/name:x",
                              "!!set {a}", "---", "...", "'unclosed", '"unclosed', "\t- tab",
                              "? complex", ": value", "%YAML 1.1", "!!binary xx", "- &x y",
                              "valid_models: 3", "concurrency: many"]),
             max_size=12).map("\n".join),
)


def test_load_config_of_any_text(tmp_path: Path, record_property) -> None:
    counts = {"examples": 0, "errors": 0, "loaded": 0}
    path = tmp_path / "config.yaml"

    @settings(max_examples=300, **COMMON)
    @given(text=yaml_ish_text)
    def check(text: str) -> None:
        counts["examples"] += 1
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check_load(path, counts)

    check()
    assert counts["errors"] > 0
    report(record_property, "load_config (raw text)", counts["examples"], 150)


def test_load_config_of_any_bytes(tmp_path: Path, record_property) -> None:
    counts = {"examples": 0, "errors": 0, "loaded": 0}
    path = tmp_path / "config.yaml"

    @settings(max_examples=150, **COMMON)
    @given(data=st.binary(max_size=300))
    def check(data: bytes) -> None:
        counts["examples"] += 1
        path.write_bytes(data)
        check_load(path, counts)

    check()
    report(record_property, "load_config (raw bytes)", counts["examples"], 75)


# -- resolve() -------------------------------------------------------------------------------

model_names = st.one_of(st.text(min_size=1, max_size=12),
                        st.sampled_from(["gpt-4o", "GPT-4o", "a/b", "a/b/c", "x", "X", " x",
                                         "4o", "llama", "Llama-3.1-8B"]))
providers_strategy = st.dictionaries(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,6}", fullmatch=True),
    st.dictionaries(model_names, st.one_of(st.none(), model_names), max_size=5),
    max_size=4,
)


def test_resolve_raises_only_documented_errors(record_property) -> None:
    counts = {"examples": 0, "resolved": 0, "unknown": 0, "ambiguous": 0}

    @settings(max_examples=500, **COMMON)
    @given(providers=providers_strategy, data=st.data())
    def check(providers: dict[str, dict[str, str | None]], data: st.DataObject) -> None:
        counts["examples"] += 1
        manager = ProviderManager({pid: {"base_url": "https://api.example.com/v1",
                                         "valid_models": models}
                                   for pid, models in providers.items()})
        names = [name for p in manager.values() for pair in p.valid_models.items()
                 for name in pair]
        scoped = [f"{pid}/{name}" for pid, p in manager.items() for name in p.valid_models]
        query = data.draw(st.one_of(
            st.text(max_size=20),
            st.sampled_from(names or ["nothing"]),
            st.sampled_from(scoped or ["no/thing"]),
            st.builds(lambda a, b: a + b, st.sampled_from(scoped or ["x"]), st.text(max_size=3)),
            st.sampled_from(names or ["n"]).map(str.upper),
        ))
        try:
            provider, long = manager.resolve(query)
        except UnknownModelError as exc:
            counts["unknown"] += 1
            assert len(exc.suggestions) <= 3
        except AmbiguousModelError as exc:
            counts["ambiguous"] += 1
            assert len(exc.candidates) >= 2
        else:
            counts["resolved"] += 1
            head, _, rest = query.strip().partition("/")
            # A listed model, or any id given in full under a provider it names.
            assert long in provider.valid_models or (
                head.lower() == provider.id.lower() and long == rest.strip())
            assert manager[provider.id] is provider

    check()
    assert counts["resolved"] > 0 and counts["unknown"] > 0
    report(record_property, "resolve", counts["examples"], 250)
