"""Arize Phoenix for the end-to-end tests: its own pinned environment, run on 127.0.0.1 only.

``python tests/e2e/backend.py [DIR]`` builds the environment (with uv where it is installed, else venv +
pip) and prints its Python; nox's ``tests_backend`` session runs it while it installs its own. An
environment that already has the pinned version is reused as is.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PHOENIX_VERSION = "20.26.1"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENV = ROOT / ".nox" / f"phoenix-{PHOENIX_VERSION}"
SERVER_SCRIPT = Path(__file__).with_name("phoenix_server.py")
FIGURES: dict[str, object] = {}
"""Timings and counts the end-to-end tests print at the end of the run."""


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def _uv() -> str | None:
    try:
        import uv  # the one nox uses, installed next to it

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def ensure_env(env: Path = DEFAULT_ENV) -> Path:
    """Phoenix's environment at ``env`` (built if missing or of another version); returns its Python.

    Safe to call from several processes at once: an earlier nox session starts building it in the
    background, and a later one waits for that build instead of starting its own.
    """
    env = env.resolve()
    env.parent.mkdir(parents=True, exist_ok=True)
    with (env.parent / f"{env.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(env)


def _build(env: Path) -> Path:
    python = _bin(env, "python")
    marker = env / "llmtrace-phoenix-version"
    if python.exists() and marker.exists() and marker.read_text() == PHOENIX_VERSION:
        return python
    shutil.rmtree(env, ignore_errors=True)
    requirement = f"arize-phoenix=={PHOENIX_VERSION}"
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
        # compiled at install, on every core: Phoenix's first import then loads several times faster
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]
        subprocess.run([*install, requirement], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement], check=True)
    marker.write_text(PHOENIX_VERSION)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Phoenix:
    """One Phoenix installation whose server can be started, stopped and restarted (same data).

    Its modules load as soon as this is created, so that cost overlaps whatever the caller does next.
    """

    def __init__(self, python: Path) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="llmtrace-phoenix-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, Phoenix's modules load ~2x faster next time
        env.update(
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_PORT=str(self.port),
            PHOENIX_GRPC_PORT=str(free_port()),
            PHOENIX_WORKING_DIR=str(self.workdir),  # the SQLite database lives here
            PHOENIX_TELEMETRY_ENABLED="false",
            PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",  # no fonts, pixels or downloads
            PHOENIX_ENABLE_MCP_SERVER="false",  # building it takes ~10 s of start-up
            PHOENIX_DISABLE_AGENT_ASSISTANT="true",
            PHOENIX_LOG_MIGRATIONS="false",
        )
        self._process: subprocess.Popen[str] | None = subprocess.Popen(
            [str(python), "-I", str(SERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "loader.log").open("w"),
            text=True,
            env=env,
            cwd=self.workdir,
        )
        self.running = False
        self.timings: dict[str, float] = {}

    def _command(self, command: str) -> str:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._process.stdout.readline().strip()

    def loaded(self) -> None:
        """Wait until Phoenix's modules are imported."""
        if not any(key.startswith("load") for key in self.timings):
            started = time.perf_counter()
            assert self._process is not None and self._process.stdout
            line = self._process.stdout.readline().strip()
            assert line.startswith("loaded"), f"Phoenix did not load: {line!r}\n{self.log()}"
            self.timings["load (importing its modules)"] = float(line.split()[1])
            self.timings["load: left to wait for"] = time.perf_counter() - started

    def start(self) -> None:
        self.loaded()
        started = time.perf_counter()
        answer = self._command("start")
        assert answer.startswith("ready"), f"Phoenix did not start: {answer}\n{self.log()}"
        took = time.perf_counter() - started
        self.timings["restart (server only)" if "start" in self.timings else "start"] = took
        self.running = True

    def stop(self) -> None:
        assert self._command("stop") == "stopped"
        self.running = False

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the server stops, then the loader exits
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace")[-3000:] for p in self.workdir.glob("*.log"))

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of ``project`` from the REST API, as OTLP-shaped dicts (attributes flattened)."""
        spans: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            url = f"{self.url}/v1/projects/{project}/spans/otlpv1?{urllib.parse.urlencode(query)}"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    page = json.load(response)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # the project appears with its first span
                    return []
                raise
            spans += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return spans

    def wait_for_spans(self, project: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll until ``project`` has at least ``count`` spans (Phoenix inserts in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)


if __name__ == "__main__":
    started = time.perf_counter()
    print(ensure_env(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ENV))
    took = time.perf_counter() - started
    print(f"Phoenix {PHOENIX_VERSION} environment ready in {took:.1f} s", file=sys.stderr)
