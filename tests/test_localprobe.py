"""Local server probe and the text `chatrepl init` writes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl.config import ProviderConfig, load_config
from chatrepl.localprobe import LOCAL_SERVERS, probe_local_servers, render_init_config
from chatrepl.presets import preset_providers


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where connections are refused (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_default_ports() -> None:
    assert {s.id: s.port for s in LOCAL_SERVERS.values()} == {
        "ollama": 11434, "lmstudio": 1234, "llamacpp": 8080, "vllm": 8000}


def test_a_server_with_a_model_list_becomes_a_keyless_provider(fake_server: FakeOpenAIServer,
                                                               closed_port: int) -> None:
    found = probe_local_servers(timeout=2.0, ports={"ollama": fake_server.port, "vllm": closed_port})
    assert list(found) == ["ollama"]
    ollama = found["ollama"]
    assert ollama.id == "ollama" and ollama.name == "Ollama (local)"
    assert ollama.base_api_url == f"http://127.0.0.1:{fake_server.port}/v1"
    assert ollama.api_key is None and ollama.is_local
    assert ollama.key_status({}) == "not needed"
    assert fake_server.count("/v1/models") == 1


def test_every_answering_server_is_found(fake_server: FakeOpenAIServer) -> None:
    with FakeOpenAIServer() as other:
        found = probe_local_servers(timeout=2.0, ports={"lmstudio": fake_server.port, "llamacpp": other.port})
    assert list(found) == ["lmstudio", "llamacpp"]
    assert found["lmstudio"].catalog_id == "lmstudio"


def test_nothing_listening(closed_port: int) -> None:
    assert probe_local_servers(ports={"ollama": closed_port, "vllm": closed_port}) == {}


def test_only_a_model_list_counts(fake_server: FakeOpenAIServer) -> None:
    cases = [(200, "bare_array", True), (200, "html_200", False), (200, "malformed", False),
             (401, None, False), (404, None, False), (200, None, True)]
    for status, fault, expected in cases:
        fake_server.behavior.models_status = status
        fake_server.behavior.models_fault = fault
        result = probe_local_servers(timeout=2.0, ports={"vllm": fake_server.port})
        assert ("vllm" in result) is expected, (status, fault)


def test_a_silent_server_is_given_up_on() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # connections complete in the backlog but nothing ever answers
    try:
        assert probe_local_servers(timeout=0.05, ports={"ollama": listener.getsockname()[1]}) == {}
    finally:
        listener.close()


def test_sockets_never_wait_longer_than_the_probe_budget(probe_ports) -> None:
    probe_ports(**{s.id: s.port for s in LOCAL_SERVERS.values()})  # the real ports, never reached
    seen: list[tuple[tuple[str, int], float]] = []

    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        seen.append((address, timeout))
        raise ConnectionRefusedError

    assert probe_local_servers(connect=connect) == {}
    assert sorted(port for (_host, port), _t in seen) == [1234, 8000, 8080, 11434]
    assert all(host == "127.0.0.1" and 0 < timeout <= 0.15 for (host, _port), timeout in seen)


# -- chatrepl init ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_init_config_loads_and_holds_no_key(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-very-secret-value", "TOGETHER_API_KEY": "tk-secret-2",
           "PERPLEXITY_API_KEY": "pplx-secret-3"}
    local = ProviderConfig(id="ollama", name="Ollama (local)", base_api_url="http://127.0.0.1:11434/v1")
    text = render_init_config(preset_providers(env), {"ollama": local})
    for secret in env.values():
        assert secret not in text
    assert "${OPENAI_API_KEY}" in text
    config = load_config(write(tmp_path, text), env)
    # A server found running is written commented out: a later listener is not trusted.
    assert list(config.providers) == ["openai", "together", "perplexity"]
    openai = config.providers["openai"]
    assert openai.base_api_url == "https://api.openai.com/v1"
    assert openai.resolve_api_key(env) == "sk-very-secret-value"
    assert config.providers["together"].catalog_id == "togetherai"
    assert "sonar" in config.providers["perplexity"].valid_models
    assert '  # ollama:\n  #   name: "Ollama (local)"\n  #   base_url: "http://127.0.0.1:11434/v1"' in text
    uncommented = text.replace("  # ollama:", "  ollama:").replace("  #   ", "    ")
    ollama = load_config(write(tmp_path, uncommented), env).providers["ollama"]
    assert ollama.base_api_url == "http://127.0.0.1:11434/v1"
    assert ollama.api_key is None and ollama.key_status(env) == "not needed"


def test_init_config_with_nothing_found_loads(tmp_path: Path) -> None:
    text = render_init_config({}, {})
    assert "providers: {}" in text and "GROQ_API_KEY" in text  # lists presets to enable
    assert load_config(write(tmp_path, text), {}).providers == {}


def test_init_config_from_a_real_probe(tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    found = probe_local_servers(timeout=2.0, ports={"llamacpp": fake_server.port})
    text = render_init_config({}, found)
    assert load_config(write(tmp_path, text), {}).providers == {}
    uncommented = text.replace("  # llamacpp:", "  llamacpp:").replace("  #   ", "    ")
    config = load_config(write(tmp_path, uncommented), {})
    assert config.providers["llamacpp"].base_api_url == fake_server.url
    assert not config.providers["llamacpp"].probed


def test_nested_json_is_not_a_server_and_prints_no_traceback(
        fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server.behavior.models_fault = "nested"  # 100,000 nested `[`
    uncaught: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    found = probe_local_servers(timeout=5.0, ports={"squat": fake_server.port})
    assert found == {}
    assert fake_server.count("/models") == 1  # it was asked, and answered
    assert uncaught == []
