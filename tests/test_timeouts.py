"""The suite's time limits, seen from a pytest run of hanging tests in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

HANGING = '''
import socket
import threading

import pytest


@pytest.mark.timeout(1)
def test_stuck_in_a_socket_read():
    threading.Thread(target=threading.Event().wait, name="helper-thread", daemon=True).start()
    reader, _writer = socket.socketpair()
    reader.recv(1)


def test_the_next_test_runs():
    assert threading.active_count() >= 1  # runs at all: the hang above did not end the run
'''

SWALLOWING = '''
import threading

import pytest


@pytest.mark.timeout(1)
def test_that_swallows_the_alarm():
    while True:
        try:
            threading.Event().wait()
        except BaseException:
            pass


def test_never_reached():
    assert threading.active_count() >= 1  # never runs: the hard stop ended the run first
'''


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """pytest with the project's configuration and conftest on one test file."""
    for helper in TESTS.glob("*.py"):  # conftest and the helper modules it imports
        if not helper.name.startswith("test_"):
            shutil.copy(helper, tmp_path / helper.name)
    (tmp_path / "test_hang.py").write_text(source, encoding="utf-8")
    env = {**os.environ, "CHATREPL_TEST_HARD_STOP_GRACE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
                           str(tmp_path / "test_hang.py")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_a_hung_test_fails_with_every_threads_stack_and_the_run_goes_on(tmp_path: Path) -> None:
    run = _run(tmp_path, HANGING)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Timeout (>1.0s) from pytest-timeout" in run.stdout
    assert "Stack of helper-thread" in run.stdout
    assert "1 failed, 1 passed" in run.stdout


def test_a_test_that_swallows_the_alarm_ends_the_run_with_the_stacks(tmp_path: Path) -> None:
    run = _run(tmp_path, SWALLOWING)
    assert run.returncode == 1
    assert "Stack of MainThread" in run.stdout and "test_that_swallows_the_alarm" in run.stdout
    assert "passed" not in run.stdout  # the run ended there
