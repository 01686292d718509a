"""Files survive SIGKILL mid-write and each other; they are private; inline keys in a readable
config are warned about.

A child process (tests/helpers_kill.py) writes the discovered-models state (10,000 models a
round, each round a new list) or the autosave (a conversation growing by one message a round)
and says on its stdout before and after each write. The test kills it with SIGKILL right after
a chosen line, then checks that each file is absent (nothing was ever written), or one complete
version no older than the last write the child finished, and that it parses.
"""

from __future__ import annotations

import io
import json
import os
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.chat import ChatSession
from chatrepl.cli import main
from chatrepl.config import ChatSettings
from chatrepl.discoveredstore import DiscoveredStore
from chatrepl.manager import ProviderManager
from chatrepl.paths import resolve_paths
from chatrepl.repl import make_prompt_session
from chatrepl.sessions import SessionStore

HELPER = Path(__file__).resolve().parent / "helpers_kill.py"
REPO = Path(__file__).resolve().parent.parent
MODELS = 10_000
CHILD_TIMEOUT = 60.0  # generous bound for one child to reach a line; never a measured duration
# Children write rounds of 10,000 models, CPU-bound: on a loaded machine one wait may take most
# of CHILD_TIMEOUT, so a test is given three of them rather than the suite's 60 s.
pytestmark = pytest.mark.timeout(3 * CHILD_TIMEOUT)


class Child:
    """A helpers_kill.py process whose stdout lines are read with select, never with sleep."""

    def __init__(self, mode: str, state_dir: Path, tag: str, rounds: int,
                 models: int = MODELS) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_API_KEY") and not k.startswith(("OPENAI_", "CHATREPL_"))}
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPER), mode, str(state_dir), tag, str(rounds), str(models)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
        self.lines: list[str] = []
        self._buffer = b""

    def wait_for(self, line: str, timeout: float = CHILD_TIMEOUT) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AssertionError(f"child never said {line!r}; last: {self.lines[-3:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                code = self.proc.wait(timeout=10)
                stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"child ended (exit {code}) before {line!r}: {stderr[-2000:]}")
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\n")
            self.lines.extend(part.decode() for part in complete)

    def finished(self, kind: str) -> int:
        """The last round whose write of `kind` the child reported done (-1: none)."""
        done = [int(line.rsplit(" ", 1)[1]) for line in self.lines
                if line.startswith(f"wrote {kind} ")]
        return max(done, default=-1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def wait_done(self) -> None:
        self.wait_for("done")
        assert self.proc.wait(timeout=CHILD_TIMEOUT) == 0
        self.kill()


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


# -- what a surviving file must look like ----------------------------------------------------

def check_discovered(state_dir: Path, tags: set[str], at_least: int, models: int = MODELS,
                     ) -> tuple[str, int] | None:
    """The discovered file is absent or one whole round; returns (tag, round) found."""
    path = state_dir / "discovered.yaml"
    if not path.exists():
        assert at_least < 0, "the file vanished after a finished write"
        return None
    json.loads(path.read_text(encoding="utf-8"))  # parses as a whole
    loaded = DiscoveredStore(path).load()
    assert set(loaded) == {"big"}
    found = loaded["big"].chat_models
    assert len(found) == models
    tag, generation = found[0].rsplit("-m", 1)[0].rsplit("-g", 1)
    generation_number = int(generation)
    assert tag in tags
    expected = tuple(f"{tag}-g{generation}-m{index:05d}" for index in range(models))
    assert found == expected, "a mix of two rounds"
    assert generation_number >= at_least, "older than a write the child had finished"
    assert private(path)
    return tag, generation_number


def check_autosave(state_dir: Path, tags: set[str], at_least: int) -> tuple[str, int] | None:
    """The autosave file is absent or one whole conversation; returns (tag, round) found."""
    path = state_dir / "autosave.json"
    if not path.exists():
        assert at_least < 0, "the file vanished after a finished write"
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    session = ChatSession.from_dict(data, ProviderManager({}), {}, ChatSettings())
    messages = session.messages
    assert messages, "an autosave with no messages was never written"
    tag = messages[0].content.split(" ", 1)[0]
    assert tag in tags
    for index, item in enumerate(messages):
        assert item.content.startswith(f"{tag} message {index} ")
        assert item.role == ("user" if index % 2 == 0 else "assistant")
    generation = len(messages) - 1
    assert generation >= at_least, "older than a write the child had finished"
    assert private(path)
    return tag, generation


def leftover_temps(state_dir: Path) -> list[str]:
    return sorted(p.name for p in state_dir.iterdir() if p.name.endswith(".tmp"))


# -- SIGKILL at many points ------------------------------------------------------------------

KILL_POINTS = [
    ("discover", "writing", 0), ("discover", "saving", 0), ("discover", "wrote", 0),
    ("discover", "saving", 1), ("discover", "wrote", 1), ("discover", "saving", 2),
    ("discover", "writing", 3), ("discover", "saving", 4), ("discover", "wrote", 5),
    ("discover", "saving", 6),
    ("autosave", "writing", 0), ("autosave", "wrote", 0), ("autosave", "writing", 3),
    ("autosave", "wrote", 7), ("autosave", "writing", 15), ("autosave", "writing", 30),
    ("autosave", "wrote", 45), ("autosave", "writing", 70), ("autosave", "writing", 100),
    ("autosave", "writing", 160),
]


@pytest.mark.parametrize(("mode", "when", "round_"), KILL_POINTS,
                         ids=[f"{m}-{w}-{n}" for m, w, n in KILL_POINTS])
def test_sigkill_leaves_old_or_new_file(tmp_path: Path, mode: str, when: str,
                                        round_: int) -> None:
    state_dir = tmp_path / "state"
    child = Child(mode, state_dir, "K", rounds=round_ + 10_000)
    try:
        child.wait_for(f"{when} {mode} {round_}")
    finally:
        child.kill()
    assert child.proc.returncode == -9  # killed, not finished
    finished = child.finished(mode)
    if mode == "discover":
        found = check_discovered(state_dir, {"K"}, finished)
    else:
        found = check_autosave(state_dir, {"K"}, finished)
    if found is not None:
        assert found[1] >= round_ - (0 if when == "wrote" else 1)
    temps = leftover_temps(state_dir) if state_dir.exists() else []
    print(f"kill {mode} {when} {round_}: found round {found and found[1]}, temp files {temps}")
    # The next start reads what survived: the state loads, damaged or not.
    if mode == "discover" and found is not None:
        assert len(DiscoveredStore(state_dir / "discovered.yaml").load()["big"].chat_models) == MODELS
    if mode == "autosave" and found is not None:
        store = SessionStore(state_dir / "sessions", state_dir / "autosave.json")
        assert store.load_autosave() is not None


def test_leftover_temp_files_are_hidden_and_never_read_as_state(tmp_path: Path) -> None:
    """Whatever a kill leaves behind is a dot-file next to the state, not the state itself."""
    state_dir = tmp_path / "state"
    child = Child("autosave", state_dir, "T", rounds=10_000)
    try:
        child.wait_for("writing autosave 40")
    finally:
        child.kill()
    for name in leftover_temps(state_dir):
        assert name.startswith(".autosave.json.")
    store = SessionStore(state_dir / "sessions", state_dir / "autosave.json")
    assert all(not name.startswith(".") for name in store.names())
    check_autosave(state_dir, {"T"}, child.finished("autosave"))


# -- two processes at once -------------------------------------------------------------------

def test_two_processes_discovering_and_autosaving_leave_valid_files(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = Child("both", state_dir, "A", rounds=6, models=3000)
    second = Child("both", state_dir, "B", rounds=6, models=3000)
    try:
        first.wait_done()
        second.wait_done()
    finally:
        first.kill()
        second.kill()
    assert check_discovered(state_dir, {"A", "B"}, 5, models=3000) is not None
    assert check_autosave(state_dir, {"A", "B"}, 5) is not None
    assert leftover_temps(state_dir) == []


def test_two_processes_killed_together_leave_valid_files(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = Child("both", state_dir, "A", rounds=10_000, models=3000)
    second = Child("both", state_dir, "B", rounds=10_000, models=3000)
    try:
        first.wait_for("wrote autosave 2")
        second.wait_for("writing discover 3")
    finally:
        first.kill()
        second.kill()
    assert check_discovered(state_dir, {"A", "B"}, 0, models=3000) is not None
    assert check_autosave(state_dir, {"A", "B"}, 0) is not None


# -- modes and the inline-key warning --------------------------------------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_state_files_are_private(chatrepl_home: Path, fake_server, umask_022) -> None:
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_url: {fake_server.url}\n", encoding="utf-8")
    env = {"CHATREPL_HOME": str(chatrepl_home)}
    out, err = io.StringIO(), io.StringIO()
    assert main(["discover"], env=env, stdout=out, stderr=err) == 0
    assert main(["-m", "fake/fake-chat", "hi"], env=env, stdin=io.StringIO(""), stdout=out,
                stderr=err) == 0
    paths = resolve_paths(env)
    store = SessionStore(paths.sessions_dir, paths.autosave_file)
    saved = store.save("kept", store.load_autosave() or {})
    written = [paths.discovered_file, paths.autosave_file, saved]
    for path in written:
        assert private(path), (path, oct(path.stat().st_mode))
    for folder in (paths.state_dir, paths.sessions_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert err.getvalue() == ""


def test_history_file_is_private(make_repl_state, umask_022) -> None:
    state = make_repl_state().state
    paths = state.runtime.paths
    with create_pipe_input() as pipe:
        session = make_prompt_session(state, input=pipe, output=DummyOutput())
        session.history.append_string("my private question")
    assert paths.history_file.read_text(encoding="utf-8").count("my private question") == 1
    assert private(paths.history_file)


INLINE = "sk-inline-0123456789abcdef"


@pytest.mark.parametrize(("mode", "key_line", "warned"), [
    (0o644, f"api_key: {INLINE}", True),
    (0o640, f"api_key: {INLINE}", True),
    (0o604, f"api_key: {INLINE}", True),
    (0o600, f"api_key: {INLINE}", False),
    (0o644, "api_key: ${SOME_KEY}", False),
    (0o644, "api_key_env: SOME_KEY", False),
], ids=["0644-inline", "0640-inline", "0604-inline", "0600-inline", "0644-variable",
        "0644-key-env"])
def test_readable_config_with_inline_key_warns_once(tmp_path: Path, chatrepl_home: Path,
                                                    mode: int, key_line: str,
                                                    warned: bool) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("providers:\n  remote:\n    base_url: https://api.example.com/v1\n"
                      f"    {key_line}\n", encoding="utf-8")
    config.chmod(mode)
    out, err = io.StringIO(), io.StringIO()
    env = {"CHATREPL_HOME": str(chatrepl_home), "CHATREPL_CONFIG": str(config),
           "SOME_KEY": "sk-var-0123456789abcdef"}
    assert main(["providers"], env=env, stdout=out, stderr=err) == 0
    text = err.getvalue()
    if warned:
        assert text.count("\n") == 1 and text.startswith(f"chatrepl: warning: {config}: ")
        assert "chmod 600" in text
    else:
        assert text == ""
    assert INLINE not in text + out.getvalue()
    assert "remote" in out.getvalue()
    assert stat.S_IMODE(config.stat().st_mode) == mode  # warned about, never changed


def test_stale_temp_files_from_killed_writes_are_swept(tmp_path: Path) -> None:
    import os

    from chatrepl.fsutil import sweep_stale_temp_files, write_atomic

    old = tmp_path / ".autosave.json.abc123.tmp"
    fresh = tmp_path / ".autosave.json.def456.tmp"
    old.write_text("{half", encoding="utf-8")
    fresh.write_text("{in progress", encoding="utf-8")
    os.utime(old, (1_000_000, 1_000_000))
    write_atomic(tmp_path / "autosave.json", "{}")
    assert sweep_stale_temp_files(tmp_path) == 1
    assert not old.exists() and fresh.exists()
    assert (tmp_path / "autosave.json").read_text(encoding="utf-8") == "{}"
