"""How a model name the user gives is resolved: from -m, /model, default_model, a loaded
conversation; full names are sent as given, invalid ids never used, probed servers kept apart."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl import ProviderConfig, ProviderManager
from chatrepl.cli import build_parser, main
from chatrepl.completer import ModelCommandCompleter
from chatrepl.entry import prepare_repl
from chatrepl.errors import InvalidModelError, UnknownModelError
from chatrepl.localprobe import probe_local_servers
from chatrepl.paths import resolve_paths
from chatrepl.repl import handle_line
from chatrepl.replstate import ReplState
from chatrepl.runtime import Runtime, build_runtime


def run(home: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env={"CHATREPL_HOME": str(home)}, stdin=io.StringIO(""),
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def fake_config(url: str, *, default: str | None = None, extra: str = "") -> str:
    top = f"default_model: {default}\n" if default else ""
    return (f"{top}discovery: {{on_startup: false}}\n"
            "providers:\n"
            f"  fake:\n    base_url: {url}\n    valid_models: [fake-chat]\n{extra}")


def runtime_for(home: Path) -> Runtime:
    env = {"CHATREPL_HOME": str(home)}
    return build_runtime(resolve_paths(env), env, synchronous=True)


def repl_state(home: Path, *argv: str) -> tuple[ReplState, list[str], io.StringIO]:
    """What the REPL starts with (state and the lines it greets with), as `chatrepl ARGV`."""
    out = io.StringIO()
    args = build_parser().parse_args(["--no-discover", *argv])
    state, notices, _start = prepare_repl(runtime_for(home), args, out, out)
    return state, list(notices), out


def sent_models(server: FakeOpenAIServer) -> list[str]:
    return [r.body["model"] for r in server.requests if r.path.endswith("/chat/completions")]


# -- an unknown default_model never stops start-up -------------------------------------------

def test_unknown_default_model_is_said_once_and_the_repl_starts(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url, default="openai/gpt-4o-mini"))
    state, notices, _out = repl_state(chatrepl_home)
    said = [line for line in notices if "default_model" in line]
    assert len(said) == 1 and "\n" not in said[0]
    assert "'openai/gpt-4o-mini'" in said[0] and "using fake/fake-chat" in said[0]
    assert state.current_model == "fake/fake-chat"


def test_unknown_default_model_one_shot_replies_with_one_warning(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url, default="no-such-model"))
    code, out, err = run(chatrepl_home, "hello")
    assert code == 0, err
    assert out.startswith("Hello from the fake server.")
    assert err.count("\n") == 1 and "default_model" in err and "'no-such-model'" in err
    assert sent_models(fake_server) == ["fake-chat"]


def test_default_model_of_a_provider_that_lists_nothing_is_used(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url, default="empty/gpt-4o-mini",
                             extra=f"  empty:\n    base_url: {fake_server.url}\n"))
    state, notices, _out = repl_state(chatrepl_home)
    assert state.current_model == "empty/gpt-4o-mini"
    assert not any("default_model" in line for line in notices)


# -- provider/model is sent as given; the provider judges it ---------------------------------

def test_full_name_not_listed_is_sent_one_shot(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    code, out, err = run(chatrepl_home, "-m", "fake/brand-new-model", "hi")
    assert (code, err) == (0, "")
    assert out.startswith("Hello from the fake server.")
    assert sent_models(fake_server) == ["brand-new-model"]


def test_full_name_in_the_repl_then_404_marks_it_invalid(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    state, _notices, out = repl_state(chatrepl_home)
    handle_line(state, "/model fake/org/new-model")
    assert state.current_model == "fake/org/new-model"
    fake_server.behavior.unknown_models = {"org/new-model"}
    handle_line(state, "hello")
    assert "org/new-model" in state.runtime.manager["fake"].invalid_models
    handle_line(state, "/model fake/org/new-model")
    assert "invalid_models" in out.getvalue().splitlines()[-1]
    assert sent_models(fake_server) == ["org/new-model"]


def test_ids_with_slashes_and_partial_names() -> None:
    manager = ProviderManager({
        "openrouter": {"base_url": "https://openrouter.ai/api/v1",
                       "valid_models": ["meta-llama/llama-3.3-70b-instruct"]},
        "groq": {"base_url": "https://api.groq.com/openai/v1"},
    })
    provider, model = manager.resolve("openrouter/meta-llama/llama-3")
    assert (provider.id, model) == ("openrouter", "meta-llama/llama-3")
    assert manager.resolve("GROQ/Llama-4")[0].id == "groq"
    # `meta-llama` is no provider: the whole text is an id, looked up in the lists.
    assert manager.resolve("meta-llama/llama-3.3-70b-instruct")[0].id == "openrouter"
    with pytest.raises(UnknownModelError) as info:
        manager.resolve("meta-llama/llama-3.3-70b")
    assert info.value.suggestions[0] == "openrouter/meta-llama/llama-3.3-70b-instruct"
    with pytest.raises(UnknownModelError):
        manager.resolve("openrouter/")


# -- a loaded conversation whose provider is gone says so at once ----------------------------

def gone_session(model: str = "old-model") -> dict[str, Any]:
    return {"format": "chatrepl-session", "version": 1, "provider": "gone", "model": model,
            "messages": [{"role": "user", "content": "earlier"},
                         {"role": "assistant", "content": "reply"}]}


def test_load_of_a_conversation_whose_provider_is_gone(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    state, _notices, out = repl_state(chatrepl_home)
    state.store.save("old", gone_session())
    handle_line(state, "/load old")
    lines = out.getvalue().splitlines()
    said = [line for line in lines if "'gone'" in line]
    assert len(said) == 1 and "using fake/fake-chat instead" in said[0]
    assert state.current_model == "fake/fake-chat"
    assert [m.content for m in state.chat.messages] == ["earlier", "reply"]
    assert sent_models(fake_server) == []


def test_continue_of_a_conversation_whose_provider_is_gone(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    autosave = resolve_paths({"CHATREPL_HOME": str(chatrepl_home)}).autosave_file
    autosave.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as chatrepl makes it
    autosave.write_text(json.dumps(gone_session()), encoding="utf-8")
    code, out, err = run(chatrepl_home, "--continue", "more")
    assert code == 0, err
    assert out.startswith("Hello from the fake server.")
    assert err.count("\n") == 1 and "'gone'" in err and "fake/fake-chat" in err
    assert sent_models(fake_server) == ["fake-chat"]
    sent = fake_server.requests[-1].body["messages"]
    assert [m["content"] for m in sent] == ["earlier", "reply", "more"]


def test_continue_in_the_repl_says_the_provider_is_gone(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    autosave = resolve_paths({"CHATREPL_HOME": str(chatrepl_home)}).autosave_file
    autosave.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as chatrepl makes it
    autosave.write_text(json.dumps(gone_session()), encoding="utf-8")
    state, notices, _out = repl_state(chatrepl_home, "--continue")
    said = [line for line in notices if "'gone'" in line]
    assert len(said) == 1 and "using fake/fake-chat instead" in said[0]
    assert state.current_model == "fake/fake-chat"
    assert len(state.chat.messages) == 2


# -- invalid_models wins over valid_models ---------------------------------------------------

@pytest.mark.parametrize("listed", ["[fake-chat, embed-3]", "{fake-chat: fc, embed-3: e3}"])
def test_a_model_both_valid_and_invalid_is_never_offered(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer, listed: str) -> None:
    write_config("discovery: {on_startup: false}\nproviders:\n"
                 f"  fake:\n    base_url: {fake_server.url}\n    valid_models: {listed}\n"
                 "    invalid_models: [embed-3]\n")
    runtime = runtime_for(chatrepl_home)
    manager = runtime.manager
    assert [r.long for r in manager.model_records()] == ["fake-chat"]
    completer = ModelCommandCompleter(manager)
    assert [c.text for c in completer.complete_argument("e")] == ["fake/fake-chat"]
    assert completer.complete_argument("embed") == []
    for name in ("embed-3", "e3"):
        with pytest.raises(UnknownModelError):
            manager.resolve(name)
    with pytest.raises(InvalidModelError):
        manager.resolve("fake/embed-3")
    assert manager["fake"].exact_model("embed-3") is None
    code, out, _err = run(chatrepl_home, "models", "--json")
    assert code == 0 and "embed-3" not in out and "fake-chat" in out
    state, _notices, printed = repl_state(chatrepl_home)
    handle_line(state, "/models")
    assert "embed-3" not in printed.getvalue() and "fake-chat" in printed.getvalue()


# -- a probed server never shadows a configured provider -------------------------------------

def squatted() -> ProviderManager:
    return ProviderManager({
        "openai": {"base_url": "https://api.openai.com/v1", "valid_models": ["gpt-4o"]},
        "llamacpp": ProviderConfig(base_api_url="http://127.0.0.1:8080/v1", probed=True,
                                   valid_models={m: m for m in ("openai/gpt-5", "gpt-5",
                                                                "gpt-4o", "smollm")}),
    })


def test_a_provider_prefix_never_falls_back_to_another_provider() -> None:
    manager = squatted()
    provider, model = manager.resolve("openai/gpt-5")
    assert (provider.id, model) == ("openai", "gpt-5")


def test_probed_provider_serves_bare_names_only_once_chosen() -> None:
    manager = squatted()
    assert manager.resolve("gpt-4o")[0].id == "openai"  # not ambiguous with the squatter
    for bare in ("gpt-5", "smollm"):
        with pytest.raises(UnknownModelError):
            manager.resolve(bare)
    assert manager.resolve("llamacpp/smollm")[0].id == "llamacpp"  # by full name: always
    assert manager.first_model() == ("openai", "gpt-4o")
    manager.choose(["llamacpp"])
    assert manager.resolve("smollm")[0].id == "llamacpp"


def test_choosing_a_probed_server_by_full_name_is_remembered_across_runs(
        write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> None:
    write_config(fake_config(fake_server.url))
    fake_server.behavior.models = ["smollm2-135m"]
    probed = probe_local_servers(timeout=5.0, ports={"llamacpp": fake_server.port})
    assert probed["llamacpp"].probed is True
    assert "probed" not in probed["llamacpp"].model_dump()

    def fresh_state() -> ReplState:
        state, _notices, _out = repl_state(chatrepl_home)
        state.runtime.discovery.add_providers(probed)
        state.runtime.discovery.discover_all(["llamacpp"], force_refresh=True)
        return state

    state = fresh_state()
    handle_line(state, "/model smollm2-135m")
    assert state.current_model == "fake/fake-chat"
    handle_line(state, "/model llamacpp/smollm2-135m")
    handle_line(state, "/model fake-chat")
    handle_line(state, "/model smollm2-135m")
    assert state.current_model == "llamacpp/smollm2-135m"

    later = fresh_state()  # a new run: the choice was kept in the state folder
    handle_line(later, "/model smollm2-135m")
    assert later.current_model == "llamacpp/smollm2-135m"
    assert later.recent_models()[0] == "llamacpp/smollm2-135m"


# -- suggestions over tens of thousands of models --------------------------------------------

def many_models(total: int = 26_000) -> ProviderManager:
    rng = random.Random(11)
    orgs = ["meta-llama", "qwen", "mistralai", "google", "deepseek", "microsoft", "thudm"]
    families = ["llama", "qwen", "mistral", "gemma", "deepseek", "phi", "glm", "gpt"]
    names: set[str] = set()
    while len(names) < total:
        names.add(f"{rng.choice(orgs)}/{rng.choice(families)}-{rng.choice('1234678')}"
                  f"-{rng.choice(['1b', '7b', '8b', '70b'])}-{rng.choice(['chat', 'instruct'])}"
                  f"-{rng.randrange(10_000)}")
    hosts: dict[str, Any] = {f"host{n}": {"base_url": f"https://h{n}.example/v1",
                                          "valid_models": []} for n in range(6)}
    for number, name in enumerate(sorted(names)):
        hosts[f"host{number % 6}"]["valid_models"].append(name)
    hosts["host0"]["valid_models"] += ["gpt-3", "gpt-4", "gpt-6"]
    hosts["openai"] = {"base_url": "https://api.openai.com/v1",
                       "valid_models": ["gpt-5-mini", "gpt-5-nano", "gpt-4o-mini"]}
    hosts["anthropic"] = {"base_url": "https://api.anthropic.com/v1",
                          "valid_models": ["claude-sonnet-4", "claude-opus-4"]}
    return ProviderManager(hosts)


def test_suggestions_among_26000_models_are_sensible() -> None:
    manager = many_models()
    # A name the user started typing: the models it starts, not names a digit away.
    with pytest.raises(UnknownModelError) as info:
        manager.resolve("gpt-5")
    assert set(info.value.suggestions[:2]) == {"openai/gpt-5-mini", "openai/gpt-5-nano"}
    # Typos.
    assert manager.suggest("claude-sonet-4")[0] == "anthropic/claude-sonnet-4"
    assert manager.suggest("gpt-4o-mnii")[0] == "openai/gpt-4o-mini"
    assert manager.suggest("gpt-4o-mnii")[0] == "openai/gpt-4o-mini"  # again, from history
    # Nothing close: nothing suggested.
    assert manager.suggest("zzzz-qqqq") == []
    assert all(len(manager.suggest(q)) <= 3 for q in ("llama", "qwen-7b-chat", "x" * 300))


def test_recent_models_file_damaged_or_oversized_reads_as_empty(chatrepl_home: Path) -> None:
    from chatrepl.recent import MAX_BYTES, MAX_RECENT, RecentModels

    recent = RecentModels(chatrepl_home / "state" / "recent-models.json")
    assert recent.load() == []
    for number in range(MAX_RECENT + 5):
        recent.add(f"p/m{number}")
    assert recent.load()[:2] == [f"p/m{MAX_RECENT + 4}", f"p/m{MAX_RECENT + 3}"]
    assert len(recent.load()) == MAX_RECENT
    assert recent.add("no-provider\x1b[2J") == recent.load()  # not a scoped, printable name
    recent.path.write_text('{"not": "a list"}', encoding="utf-8")
    assert recent.load() == []
    recent.path.write_text(json.dumps(["p/" + "x" * MAX_BYTES]), encoding="utf-8")
    assert recent.load() == []
