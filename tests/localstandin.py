"""A stand-in for llama.cpp's server (no llama.cpp needed) and process helpers for its tests.

The stand-in serves /v1/models like llama-cpp-python's, on the listening socket LocalServer
hands it (`--fd`), and like chatrepl's child it requires the key it finds in its environment.
Processes are watched with pidfds (a real event when a process ends), never with sleeps.
"""

from __future__ import annotations

import os
import select
from pathlib import Path

import pytest

from chatrepl.localserver import LocalServer

STANDIN = r'''
import argparse, json, os, signal, socket, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--fd", type=int, required=True)
parser.add_argument("--model", default="standin-model")
parser.add_argument("--gate")              # a FIFO: read one line before serving
parser.add_argument("--grandchild")        # write the pid of a child we start here
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--exit", type=int)    # fail at once with this code
parser.add_argument("--die-by", type=int)  # die at once by this signal (no core file)
parser.add_argument("--no-auth", action="store_true")   # answer without the key
parser.add_argument("--other-key", action="store_true")  # want some other key than ours
args = parser.parse_args()
key = os.environ.get("CHATREPL_LOCAL_API_KEY")
if args.other_key:
    key = "someone-elses-key"
if args.die_by is not None:
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), args.die_by)
if args.exit is not None:
    print("stand-in: refusing to start", flush=True)
    sys.exit(args.exit)
if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if args.grandchild:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    with open(args.grandchild, "w") as handle:
        handle.write(str(child.pid))
if args.gate:
    with open(args.gate) as gate:
        gate.readline()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        if not args.no_auth and self.headers.get("Authorization") != f"Bearer {key}":
            self.send_error(401)
            return
        if self.path != "/v1/models":
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [
            {"id": args.model, "object": "model", "owned_by": "me"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

httpd = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
httpd.socket.close()
httpd.socket = socket.socket(fileno=args.fd)
print("stand-in serving on", httpd.socket.getsockname()[1], flush=True)
httpd.serve_forever()
'''

# A parent process that starts a LocalServer (from its main thread, or from a thread that
# then ends), prints the server's pid, then waits on stdin until it is killed.
PARENT = r'''
import sys, threading
from pathlib import Path
from chatrepl.localserver import LocalServer

standin, log, from_thread = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "thread"
server = LocalServer(None, log, python_args=lambda fd: [standin, "--fd", str(fd)])
if from_thread:
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
else:
    server.start()
if not server.wait_ready(20):
    print("not-ready", flush=True)
    sys.exit(3)
print(server.pid, flush=True)
sys.stdin.read()
'''


def write_standin(folder: Path) -> Path:
    path = folder / "standin_server.py"
    path.write_text(STANDIN, encoding="utf-8")
    return path


def standin_server(standin: Path, folder: Path, *extra: str) -> LocalServer:
    """A LocalServer that runs the stand-in with `extra` flags; its log under `folder`."""
    return LocalServer(None, folder / "logs" / "server.log", handle_signals=False,
                       python_args=lambda fd: [str(standin), "--fd", str(fd), *extra])


def pidfd(pid: int) -> int | None:
    """A pidfd for `pid`, or None when the process is already gone."""
    if not hasattr(os, "pidfd_open"):
        pytest.skip("needs os.pidfd_open (Linux 5.3+)")
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def ends_within(pid: int, timeout: float) -> bool:
    """True when process `pid` has ended (exited or zombie) within `timeout` seconds."""
    fd = pidfd(pid)
    if fd is None:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    return not ends_within(pid, 0)
