"""Launching programs for the CLI tests: a clean environment, and the spans a file store holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = Path(__file__).resolve().parent
TESTS = CLI.parent
APP = CLI / "chat_app.py"
BIN = Path(sys.executable).parent


def launch(*argv: str | Path, cwd: Path | None = None, timeout: float = 60, **env: str) -> Any:
    """Run `argv` with no LLMTRACE_* or OTEL_* variables but `env`, and the tests folder importable."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    full.update(env, PYTHONPATH=str(TESTS))
    return subprocess.run(
        [str(a) for a in argv],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stored_spans(path: Path) -> list[dict[str, Any]]:
    """Every span in an OTLP/JSON lines file (none if it does not exist), attributes as a plain dict."""
    from llmtrace._report import span_attributes

    if not path.exists():
        return []
    spans = []
    for line in path.read_bytes().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                spans += [{**s, "attributes": span_attributes(s)} for s in scope["spans"]]
    return spans


def program_output(stdout: str) -> dict[str, Any]:
    """What chat_app.py printed about its own launch (its one JSON line)."""
    [line] = [line for line in stdout.splitlines() if line.startswith('{"argv"')]
    return json.loads(line)
