"""`--local` against other local users: the port, the key, and who answers (issue 13, item 2).

Another user cannot take the port (chatrepl binds it before the child exists and holds it
until stop), cannot read the key (environment, not argv), and a server that does not insist
on our key is refused. The stand-in (tests/localstandin.py) plays the child.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from pathlib import Path

import pytest
from localstandin import ends_within, standin_server, write_standin

from chatrepl.errors import LocalServerError
from chatrepl.localchild import KEY_ENV

WAIT = 20.0


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    return write_standin(tmp_path)


def _squat(port: int) -> OSError | None:
    """Try to listen on `port` as another program would; the error, or None if it worked."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
    except OSError as exc:
        return exc
    finally:
        squatter.close()
    return None


def test_the_port_is_ours_before_the_child_serves_and_until_stop(standin: Path,
                                                                 tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    server = standin_server(standin, tmp_path, "--gate", str(gate)).start()
    try:
        assert server.port > 0
        taken = _squat(server.port)  # the child has not started serving yet
        assert taken is not None and taken.errno == errno.EADDRINUSE
        with open(gate, "w") as opened:
            opened.write("go\n")
        assert server.wait_ready(WAIT)
        assert server.pid is not None
        os.killpg(server.pid, signal.SIGKILL)  # the child dies: the port is still not free
        assert ends_within(server.pid, WAIT)
        taken = _squat(server.port)
        assert taken is not None and taken.errno == errno.EADDRINUSE
        assert server.state == "failed"
    finally:
        server.stop()
    assert _squat(server.port) is None  # stop() gave it back


def test_the_key_is_random_and_goes_through_the_environment_not_argv(standin: Path,
                                                                     tmp_path: Path) -> None:
    with standin_server(standin, tmp_path / "a") as server:
        assert server.wait_ready(WAIT)  # the stand-in answers only requests with the key
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        assert not any(server.api_key.encode() in arg for arg in argv)
        assert str(server.port).encode() not in argv and b"--port" not in argv
        assert f"{KEY_ENV}={server.api_key}".encode() in environ
        assert server.provider_config().api_key == server.api_key
    other = standin_server(standin, tmp_path / "b")
    assert other.api_key != server.api_key and len(other.api_key) >= 32


@pytest.mark.parametrize(("flag", "what"), [
    ("--no-auth", "answers without the local server's key (HTTP 200)"),
    ("--other-key", "refused the local server's key (HTTP 401)"),
])
def test_a_server_that_does_not_insist_on_our_key_is_refused(standin: Path, tmp_path: Path,
                                                             flag: str, what: str) -> None:
    server = standin_server(standin, tmp_path, flag).start()
    try:
        assert not server.wait_ready(WAIT)
        assert server.state == "failed"
        reason = server.failure_reason()
        assert what in reason and "not the server chatrepl started" in reason
    finally:
        server.stop()
    with pytest.raises(LocalServerError, match="not the server chatrepl started"):
        standin_server(standin, tmp_path / "again", flag).ensure_ready(WAIT)


def test_a_port_that_is_taken_is_one_clear_error(standin: Path, tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        server = standin_server(standin, tmp_path)
        server.port = holder.getsockname()[1]
        with pytest.raises(LocalServerError, match=r"could not listen on 127\.0\.0\.1:\d+"):
            server.start()
        assert server.pid is None
    finally:
        holder.close()
