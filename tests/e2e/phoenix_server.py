"""Runs Arize Phoenix for the end-to-end tests; executed by the Python of Phoenix's own environment.

Phoenix's modules take most of its start-up time (about 15 s of CPU), so this process imports them once
and then forks one server process per ``start`` read on stdin, so a restart costs only the server's own
start-up. Each server is a fresh process with new listeners that reloads its state from the SQLite file
in ``PHOENIX_WORKING_DIR``. Commands, one per line on stdin, each answered with one line on stdout:

    start  -> "ready <pid>" once GET /healthz answers (or "failed <reason>")
    stop   -> "stopped" once the server process has exited (SIGTERM: a graceful stop)

End of input or SIGTERM kills the server (its data is no longer needed) and ends this process.
Configuration comes from the environment (PHOENIX_HOST, PHOENIX_PORT, PHOENIX_GRPC_PORT,
PHOENIX_WORKING_DIR...), set by tests/e2e/backend.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
import urllib.request
from typing import Any

_started = time.perf_counter()

import grpc.aio._server  # type: ignore[import-not-found]  # noqa: E402

# Phoenix binds its OTLP/gRPC listener to every interface ("[::]:<port>") whatever PHOENIX_HOST says;
# the tests bind nothing beyond the loopback address.
_add_insecure_port = grpc.aio._server.Server.add_insecure_port


def _loopback_only(self: Any, address: str) -> int:
    return _add_insecure_port(self, address.replace("[::]", "127.0.0.1"))  # type: ignore[no-any-return]


grpc.aio._server.Server.add_insecure_port = _loopback_only

import phoenix.server.app  # type: ignore[import-not-found]  # noqa: E402  (the slow imports)
import phoenix.server.main  # type: ignore[import-not-found]  # noqa: E402

_PR_SET_PDEATHSIG = 1


def _serve() -> None:
    with contextlib.suppress(Exception):  # the server dies with this process (Linux)
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # stdin and stdout carry the commands: the server reads nothing and logs to a file
    path = os.path.join(os.environ["PHOENIX_WORKING_DIR"], "server.log")
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.argv = ["phoenix", "serve"]
    phoenix.server.main.main()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _start(url: str, timeout: float = 120.0) -> tuple[int | None, str]:
    pid = os.fork()
    if pid == 0:
        try:
            _serve()
        finally:
            os._exit(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(url):
            return pid, f"ready {pid}"
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return None, f"failed: the server exited with status {status}"
        time.sleep(0.05)
    _stop(pid)
    return None, f"failed: not ready after {timeout:.0f} s"


def _stop(pid: int | None, sig: int = signal.SIGTERM) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def main() -> None:
    url = f"http://{os.environ['PHOENIX_HOST']}:{os.environ['PHOENIX_PORT']}/healthz"
    server: int | None = None

    def terminate(*_: object) -> None:
        _stop(server, signal.SIGKILL)
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    print(f"loaded {time.perf_counter() - _started:.1f}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "start" and server is None:
            server, answer = _start(url)
        elif command == "stop":
            _stop(server)
            server, answer = None, "stopped"
        else:
            answer = f"failed: unexpected {command!r}"
        print(answer, flush=True)
    _stop(server, signal.SIGKILL)  # the end of the session: its data is no longer needed


if __name__ == "__main__":
    main()
