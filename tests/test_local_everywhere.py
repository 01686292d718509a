"""Local servers found by the probe: usable from one-shot and every subcommand, never sent a key."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from pathlib import Path

from fakeserver import FakeOpenAIServer
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.cli import build_parser, main
from chatrepl.config import LOCAL_PLACEHOLDER_KEY
from chatrepl.entry import prepare_repl
from chatrepl.localprobe import probe_local_servers
from chatrepl.paths import resolve_paths
from chatrepl.repl import Prepared, run_repl
from chatrepl.runtime import build_runtime

# Keys a user may well have set for hosted services of the same names as the local servers.
CLOUD_KEYS = {"OLLAMA_API_KEY": "ollama-cloud-secret-1111", "VLLM_API_KEY": "vllm-remote-secret-2222",
              "LLAMACPP_API_KEY": "llamacpp-secret-3333", "LMSTUDIO_API_KEY": "lms-secret-4444"}


def run(argv: list[str], home: Path, extra_env: Mapping[str, str] | None = None,
        ) -> tuple[int, str, str]:
    env = {"CHATREPL_HOME": str(home), **(extra_env or {})}
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def llamacpp(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.behavior.models = ["smollm2-135m", "nomic-embed-text"]
    server.behavior.chat_reply = "Hi from llama."
    return server


def sent_keys(server: FakeOpenAIServer) -> set[str]:
    return {value for r in server.requests for name, value in r.headers.items()
            if name.lower() == "authorization"} | {""}


def test_one_shot_uses_a_server_found_on_a_local_port(chatrepl_home: Path, fake_server,
                                                      probe_ports) -> None:
    probe_ports(llamacpp=llamacpp(fake_server).port)
    code, out, err = run(["-m", "llamacpp/smollm2-135m", "hi"], chatrepl_home)
    assert (code, err) == (0, "")
    assert out == "Hi from llama.\n"
    chats = [r.body for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert [c["model"] for c in chats] == ["smollm2-135m"]
    # Then --continue finds the provider again.
    code, out, err = run(["--continue", "more"], chatrepl_home)
    assert (code, err) == (0, "")
    assert out == "Hi from llama.\n"


def test_subcommands_see_a_server_found_on_a_local_port(chatrepl_home: Path, fake_server,
                                                        probe_ports) -> None:
    probe_ports(llamacpp=llamacpp(fake_server).port)
    code, out, err = run(["providers", "--json"], chatrepl_home)
    assert (code, err) == (0, "")
    [row] = json.loads(out)
    assert (row["provider"], row["base_url"], row["key"]) == ("llamacpp", fake_server.url, "not needed")
    assert row["models"] == 1  # the embedding model is not offered for chat

    code, out, err = run(["discover", "llamacpp", "--json"], chatrepl_home)
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["models"] == ["smollm2-135m"]

    code, out, err = run(["models", "--json"], chatrepl_home)
    assert code == 0 and "llamacpp/smollm2-135m" in out
    code, out, err = run(["info", "llamacpp/smollm2-135m"], chatrepl_home)
    assert (code, err) == (0, "")


def test_no_discover_skips_the_probe_for_one_shot(chatrepl_home: Path, fake_server,
                                                  probe_ports) -> None:
    probe_ports(llamacpp=fake_server.port)
    code, _out, err = run(["--no-discover", "-m", "llamacpp/smollm2-135m", "hi"], chatrepl_home)
    assert code == 2 and "llamacpp" in err
    assert fake_server.requests == []


def test_one_shot_to_a_configured_provider_asks_no_local_port(chatrepl_home: Path, fake_server,
                                                              probe_ports) -> None:
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n"
        "    valid_models: [fake-chat]\n", encoding="utf-8")
    with FakeOpenAIServer() as squatter:
        probe_ports(llamacpp=squatter.port)
        assert run(["-m", "fake/fake-chat", "hi"], chatrepl_home)[0] == 0
        assert squatter.requests == []
        assert run(["-m", "llamacpp/x", "hi"], chatrepl_home)[0] == 0  # not configured: asked
        assert squatter.count("/models") >= 1
    assert fake_server.count("/chat/completions") == 1


def test_a_probed_server_is_never_sent_a_key(chatrepl_home: Path, fake_server,
                                             probe_ports) -> None:
    llamacpp(fake_server)
    with FakeOpenAIServer() as vllm:
        vllm.behavior.models = ["served-model"]
        probe_ports(ollama=fake_server.port, vllm=vllm.port)
        assert run(["discover", "--json"], chatrepl_home, CLOUD_KEYS)[0] == 0
        assert run(["-m", "ollama/smollm2-135m", "hi"], chatrepl_home, CLOUD_KEYS)[0] == 0
        assert run(["-m", "vllm/served-model", "hi"], chatrepl_home, CLOUD_KEYS)[0] == 0
        assert run(["discover", "--validate", "--yes", "vllm"], chatrepl_home, CLOUD_KEYS)[0] == 0
        assert vllm.count("/chat/completions") >= 1
        heard = sent_keys(fake_server) | sent_keys(vllm)
    assert heard <= {"", f"Bearer {LOCAL_PLACEHOLDER_KEY}"}
    assert fake_server.count("/chat/completions") == 1


def test_a_configured_local_server_still_gets_the_key_the_user_gave(
        chatrepl_home: Path, fake_server, probe_ports, write_config) -> None:
    """The probe finds the same port, but the user's entry wins (with its key variable)."""
    write_config(f"providers:\n  ollama:\n    base_url: {fake_server.url}\n"
                 "    valid_models: [smollm2-135m]\n")
    probe_ports(ollama=fake_server.port)
    assert run(["-m", "ollama/smollm2-135m", "hi"], chatrepl_home, CLOUD_KEYS)[0] == 0
    assert sent_keys(fake_server) - {""} == {f"Bearer {CLOUD_KEYS['OLLAMA_API_KEY']}"}


def test_init_writes_found_servers_commented_out(chatrepl_home: Path, fake_server,
                                                 probe_ports) -> None:
    probe_ports(llamacpp=fake_server.port)
    code, out, _err = run(["init"], chatrepl_home)
    assert code == 0 and "1 local server\n" in out
    text = (chatrepl_home / "config.yaml").read_text(encoding="utf-8")
    assert f'  #   base_url: "{fake_server.url}"' in text
    # Once the server is gone, whatever listens on the port is not a configured provider.
    code, out, _err = run(["providers", "--json"], chatrepl_home)
    assert [row["provider"] for row in json.loads(out)] == ["llamacpp"]
    probe_ports()
    code, out, _err = run(["providers", "--json"], chatrepl_home)
    assert json.loads(out) == []


def _repl_greeting(home: Path, probe_ports, port: int | None) -> list[str]:
    """What a REPL with no config says: at start-up, then once the probe of `port` answered."""
    probe_ports(**({"llamacpp": port} if port else {}))
    env = {"CHATREPL_HOME": str(home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    out = io.StringIO()
    state, notices, start_background = prepare_repl(runtime, build_parser().parse_args([]), out, out)
    said = list(notices)
    done = threading.Event()
    state.say = said.extend
    state.redraw = done.set  # the background work's last step
    start_background()
    assert done.wait(30)
    return said


def test_no_providers_is_said_only_once_the_probe_found_nothing(chatrepl_home: Path, fake_server,
                                                                probe_ports) -> None:
    found = _repl_greeting(chatrepl_home, probe_ports, fake_server.port)
    assert not any("No providers configured" in line for line in found)
    nothing = _repl_greeting(chatrepl_home, probe_ports, None)
    assert nothing[0].startswith("No providers configured")


def test_probed_providers_read_no_key_variable(fake_server) -> None:
    found = probe_local_servers(timeout=2.0, ports={"ollama": fake_server.port,
                                                    "vllm": fake_server.port})
    assert list(found) == ["ollama", "vllm"]
    for provider in found.values():
        assert provider.probed and provider.key_variables() == ()
        assert provider.resolve_api_key(CLOUD_KEYS) == LOCAL_PLACEHOLDER_KEY
        assert provider.key_status(CLOUD_KEYS) == "not needed"


def test_repl_start_up_sends_no_key_to_a_probed_port(chatrepl_home: Path, fake_server,
                                                     probe_ports) -> None:
    """At REPL start-up, before anything is typed, the probe's find is discovered keyless."""
    probe_ports(ollama=fake_server.port, vllm=fake_server.port)
    env = {"CHATREPL_HOME": str(chatrepl_home), **CLOUD_KEYS}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    done = threading.Event()
    runtime.start_background_work(probe_local=True, on_change=done.set)
    assert done.wait(30)
    assert fake_server.count("/models") >= 3  # the probe, then discovery of both
    assert sent_keys(fake_server) <= {"", f"Bearer {LOCAL_PLACEHOLDER_KEY}"}
    # The state file keeps no trace of a key either, nor that the providers were probed.
    stored = (chatrepl_home / "state" / "discovered.yaml").read_text(encoding="utf-8")
    assert "probed" not in stored and "secret" not in stored


def test_the_repl_prints_no_providers_above_the_prompt_after_the_probe(chatrepl_home: Path) -> None:
    """Through run_repl: the late notice reaches the printer while the prompt runs."""
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    out = io.StringIO()
    state, notices, start_background = prepare_repl(runtime, build_parser().parse_args([]), out, out)
    assert notices == []
    written = threading.Event()
    line = state.printer.line

    def line_and_signal(text: str = "") -> None:
        line(text)
        if text.startswith("No providers configured"):
            written.set()

    state.printer.line = line_and_signal  # type: ignore[method-assign]
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        def end_once_said() -> None:
            written.wait(30)
            pipe.send_text("\x04")

        closer = threading.Thread(target=end_once_said, daemon=True)
        closer.start()
        assert run_repl(lambda _terminal: Prepared(state, notices, start_background), input=pipe,
                        output=DummyOutput(), history_path=chatrepl_home / "history") == 0
        closer.join(30)
    assert written.is_set()
    assert "No providers configured" in out.getvalue()
