"""Keys never reach a file or the screen.

Keys are set inline in the config, through `${VAR}`, through `api_key_env` and through the
default `<PROVIDER>_API_KEY` variable. Discovery, one-shot chat, the REPL (real loop over pipe
input: chat, /save, /providers, /discover, /help ...), `providers` (text and --json), `--help`
and error paths (a server whose 401/403/500 body echoes the key it was sent, as JSON, plain
text and HTML) run against the loopback server; then every file under CHATREPL_HOME and every
printed character is searched for the keys. Where a key is shown it is `set` or `sk-…abcd`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakebehavior import Behavior
from fakeserver import FakeOpenAIServer
from replhelpers import build_repl_state, type_lines

from chatrepl.chat import ChatSession
from chatrepl.cli import main
from chatrepl.clients import redacted_key
from chatrepl.errors import ChatError
from chatrepl.historyuse import make_recorder
from chatrepl.paths import resolve_paths
from chatrepl.repl import discovery_status, toolbar_text
from chatrepl.replstate import ReplState
from chatrepl.sessions import SessionStore

INLINE_KEY = "sk-inline-LEAKCHECK-0123456789"
ENV_KEY = "sk-env-LEAKCHECK-9876543210"
VAR_KEY = "LEAKCHECKplainvar0123456789abcdef"  # not key-shaped: only explicit redaction helps
DEFAULT_KEY = "sk-proj-LEAKCHECK-default-4242424242"
KEYS = {"inline": INLINE_KEY, "envkey": ENV_KEY, "varkey": VAR_KEY, "defaultenv": DEFAULT_KEY}
MARKER = "LEAKCHECK"  # in every key, and never in a redacted form


@dataclass
class Scene:
    """A home, a config outside it, and everything printed so far."""

    home: Path
    config: Path
    server: FakeOpenAIServer
    env: dict[str, str]
    printed: list[tuple[str, str]] = field(default_factory=list)

    def main(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), env=self.env, stdin=io.StringIO(""), stdout=out, stderr=err)
        label = " ".join(argv)
        self.printed += [(f"{label} (stdout)", out.getvalue()), (f"{label} (stderr)", err.getvalue())]
        return code, out.getvalue(), err.getvalue()

    def record(self, label: str, text: str) -> None:
        self.printed.append((label, text))

    def state(self) -> tuple[ReplState, io.StringIO]:
        state, out, _err = build_repl_state(None, "inline", "fake-chat", env=self.env)
        state.history = make_recorder(state.runtime.paths, lambda line: self.record("history", line))
        return state, out

    def repl(self, *lines: str) -> ReplState:
        state, out = self.state()
        type_lines(state, *lines)
        self.record(f"repl {lines}", out.getvalue())
        self.record("toolbar", toolbar_text(state))
        self.record("discovery status", discovery_status(state))
        return state

    def hits(self) -> list[str]:
        """Where any key (or the marker every key holds) shows: files under home, printed text."""
        found = []
        needles = [*KEYS.values(), MARKER]
        for path in sorted(self.home.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {n}" for n in needles if n.encode() in data]
        for label, text in self.printed:
            found += [f"{label}: {n}" for n in needles if n in text]
        return found


@pytest.fixture
def scene(tmp_path: Path, chatrepl_home: Path, fake_server: FakeOpenAIServer) -> Iterator[Scene]:
    outside = tmp_path / "outside"  # the user's config is theirs: not under CHATREPL_HOME
    outside.mkdir()
    config = outside / "config.yaml"
    config.write_text(
        "chat:\n  max_retries: 0\n"
        "providers:\n"
        f"  inline:\n    base_url: {fake_server.url}\n    api_key: {INLINE_KEY}\n"
        "    valid_models: [fake-chat]\n"
        f"  envkey:\n    base_url: {fake_server.url}\n    api_key_env: LEAKTEST_KEY\n"
        "    valid_models: [fake-chat]\n"
        f"  varkey:\n    base_url: {fake_server.url}\n    api_key: ${{LEAKTEST_VAR}}\n"
        "    valid_models: [fake-chat]\n"
        f"  defaultenv:\n    base_url: {fake_server.url}\n"
        "    valid_models: [fake-chat]\n", encoding="utf-8")
    config.chmod(0o600)
    env = {"CHATREPL_HOME": str(chatrepl_home), "CHATREPL_CONFIG": str(config),
           "LEAKTEST_KEY": ENV_KEY, "LEAKTEST_VAR": VAR_KEY, "DEFAULTENV_API_KEY": DEFAULT_KEY}
    before = config.read_bytes()
    yield Scene(chatrepl_home, config, fake_server, env)
    assert config.read_bytes() == before


def keys_sent(server: FakeOpenAIServer) -> set[str]:
    sent = set()
    for request in server.requests:
        auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        sent.add(auth.removeprefix("Bearer "))
    return sent


# -- the happy paths -------------------------------------------------------------------------

def test_discovery_chat_save_and_listings_never_show_a_key(scene: Scene) -> None:
    code, out, _ = scene.main("discover")
    assert code == 0 and out.count(": 1 model (") == 4
    assert scene.main("discover", "--json")[0] == 0
    code, out, _ = scene.main("providers")
    assert code == 0 and out.count("key set") == 4
    code, out, _ = scene.main("providers", "--json")
    assert code == 0 and {row["key"] for row in json.loads(out)} == {"set"}
    assert scene.main("models")[0] == 0
    assert scene.main("models", "--json")[0] == 0
    for provider in KEYS:
        assert scene.main("-m", f"{provider}/fake-chat", f"hello {provider}")[0] == 0
    assert scene.main("--continue", "hello again")[0] == 0

    state = scene.repl("hello from the repl", "/providers", "/models", "/discover",
                       "/model envkey/fake-chat", "and again", "/save leak-session",
                       f"/save {scene.home}/explicit.json", "/system be brief", "/clear",
                       "/load leak-session", "/help", "/model")
    assert len(state.chat.messages) == 4
    saved = SessionStore(resolve_paths(scene.env).sessions_dir, scene.home / "x.json")
    saved.save("to-dict", state.chat.to_dict())

    for argv in (["history", "list", "--json"], ["history", "search", "hello", "--json"],
                 ["history", "show", "1"], ["history", "export", "2", "--format", "json"]):
        assert scene.main(*argv)[0] == 0
    assert keys_sent(scene.server) == set(KEYS.values())  # every key was really in use
    assert (scene.home / "state" / "history").exists()
    history_db = (scene.home / "state" / "history.sqlite3").read_bytes()
    assert b"hello inline" in history_db and b"hello from the repl" in history_db
    assert scene.hits() == []


def test_help_and_version_never_show_a_key(scene: Scene) -> None:
    for argv in (["--help"], ["providers", "--help"], ["discover", "--help"], ["models", "--help"],
                 ["--version"]):
        code, out, _ = scene.main(*argv)
        assert code == 0 and out
    assert scene.hits() == []


def test_init_writes_no_key(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    env = {"CHATREPL_HOME": str(home), "OPENAI_API_KEY": ENV_KEY, "GROQ_API_KEY": DEFAULT_KEY}
    out, err = io.StringIO(), io.StringIO()
    assert main(["init"], env=env, stdout=out, stderr=err) == 0
    written = (home / "config.yaml").read_text(encoding="utf-8")
    assert "${OPENAI_API_KEY}" in written
    for text in (written, out.getvalue(), err.getvalue()):
        assert MARKER not in text


# -- servers that echo the key ---------------------------------------------------------------

ECHOES = {
    "401-json-message": (401, lambda key: json.dumps(
        {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}})),
    "401-plain": (401, lambda key: f"invalid key {key}"),
    "403-json-string": (403, lambda key: json.dumps({"error": f"key {key} may not use this model"})),
    "500-html": (500, lambda key: f"<html><body>debug: Authorization: Bearer {key}</body></html>"),
    "400-json-message": (400, lambda key: json.dumps({"error": {"message": f"bad request for {key}"}})),
}


@pytest.mark.parametrize("provider", list(KEYS))
@pytest.mark.parametrize("echo", list(ECHOES))
def test_error_bodies_echoing_the_key_are_redacted(scene: Scene, provider: str,
                                                   echo: str) -> None:
    key = KEYS[provider]
    status, body = ECHOES[echo]
    scene.server.behavior = Behavior(models_status=status, chat_status=status,
                                     error_body=body(key), retry_after="0.01")
    code, out, _ = scene.main("discover", provider)
    assert code == 1 and f"{provider}: failed: " in out
    assert scene.main("discover", provider, "--json")[0] == 1
    code, _, err = scene.main("-m", f"{provider}/fake-chat", "hello")
    assert code == 1 and err.startswith(f"chatrepl: {provider}/fake-chat: ")
    state = scene.repl(f"/model {provider}/fake-chat", "hello", f"/discover {provider}",
                       "/providers", "/save after-error")
    assert state.chat.messages == []

    session = ChatSession(state.runtime.manager, scene.env, state.runtime.config.chat,
                          provider=provider, model="fake-chat")
    with pytest.raises(ChatError) as caught:
        session.send("direct")
    scene.record("ChatError", f"{caught.value} {caught.value!r} {caught.value.args!r}")

    assert key in keys_sent(scene.server)
    assert scene.hits() == []
    # A provider's message that names the key is shown, with the key in its redacted form.
    shown = "".join(text for _, text in scene.printed)
    if echo.endswith("-message"):
        assert redacted_key(key) in shown
