"""The Phoenix server for the end-to-end tests: one per session, always stopped at the end.

Phoenix's environment comes from ``LLMTRACE_PHOENIX_ENV`` (nox's ``tests_backend`` builds it there) or
is built by tests/e2e/backend.py. Its modules start loading as soon as the session starts, so the tests
that need no Phoenix (the local sink ones) run while it loads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from backend import DEFAULT_ENV, FIGURES, PHOENIX_VERSION, Phoenix, ensure_env

_phoenix: list[Phoenix] = []


@pytest.fixture(scope="session", autouse=True)
def _phoenix_loading(request: pytest.FixtureRequest) -> Iterator[None]:
    if any("phoenix" in getattr(item, "fixturenames", ()) for item in request.session.items):
        started = time.perf_counter()
        python = ensure_env(Path(os.environ.get("LLMTRACE_PHOENIX_ENV", DEFAULT_ENV)))
        FIGURES[f"Phoenix {PHOENIX_VERSION}: environment ready (s)"] = round(time.perf_counter() - started, 1)
        _phoenix.append(Phoenix(python))
    try:
        yield
    finally:
        for phoenix in _phoenix:
            phoenix.close()
            for step, seconds in phoenix.timings.items():
                FIGURES[f"Phoenix: {step} (s)"] = round(seconds, 1)


@pytest.fixture(scope="session")
def phoenix(_phoenix_loading: None) -> Phoenix:
    """The session's Phoenix, loaded; its server is started by the first test that needs it."""
    [server] = _phoenix
    server.loaded()
    return server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "backend and export figures")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")
