"""Never leak: with default settings no prompt or completion text leaves the process, and no credential
does whatever the settings.

Every call in privacy_calls.py runs (each provider's contract scenarios sync and async, every recording
replayed, 401/500/connection failures whose error text echoes every credential, the decorators around
a model call); then every span name, status, attribute and event, metric attribute, log record and
llmtrace log line is searched (privacy_capture.py). The prompt and completion texts searched for are the ones
the same calls put on spans with content capture on, so the search covers what capture would record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from privacy_calls import DECORATED, FAILURES, SENT, available, every_call, failing_calls, run_all
from privacy_capture import FIGURES, Emitted, Recorder
from privacy_secrets import ACCESS_KEY, HELD, KEYS, every_secret, leaky_error_body, supply

from llmtrace import _core
from llmtrace import _semconv as sc

_CONTENT_JSON = (
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
)
_MIN_NEEDLE = 12
"""Shorter texts ("Hi", "stop", a city name) also appear legitimately elsewhere, e.g. in error texts."""


def _texts(value: Any) -> Iterator[str]:
    """The free text inside a content document: message parts' content, arguments, results."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("type", "role", "id", "name", "finish_reason", "modality", "mime_type"):
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def content_texts(emitted: Emitted) -> set[str]:
    """The prompt and completion texts content capture recorded (at least `_MIN_NEEDLE` long)."""
    found: set[str] = set()
    for span in emitted.spans:
        for key, value in (span.attributes or {}).items():
            if key in _CONTENT_JSON:
                found.update(_texts(json.loads(value)))
            elif key == sc.GEN_AI_RETRIEVAL_QUERY_TEXT or key.startswith(sc.GEN_AI_PROMPT_VARIABLE_PREFIX):
                found.add(str(value))
    return {t for t in found if len(t) >= _MIN_NEEDLE and "[truncated]" not in t}


def record(mode: str, **settings: Any) -> Emitted:
    """Run every call with the credentials supplied by `mode`, under `settings`."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("LLMTRACE_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
            monkeypatch.delenv(name, raising=False)  # the defaults, whatever the machine has set
        supply(monkeypatch, mode, available())
        SENT.clear()
        HELD.clear()
        recorder = Recorder(**settings)
        try:
            calls = every_call(leaky_error_body())
            run_all(calls)
        finally:
            emitted = recorder.finish()
        emitted.sent, emitted.held = " ".join(SENT), set(HELD)
    FIGURES["calls per run"] = len(calls)
    return emitted


@pytest.fixture(scope="module")
def captured() -> Emitted:
    """Every call with content capture on, the credentials given to the SDKs' constructors."""
    return record("constructor", capture_content=True)


@pytest.fixture(scope="module")
def default() -> Emitted:
    """Every call with the default settings, the credentials in the environment."""
    return record("environment")


def test_content_capture_is_off_by_default(captured, default):
    needles = content_texts(captured) | set(DECORATED.values())
    # the search is not vacuous: capture saw each provider's prompts and answers
    assert {"Say this is a test", "Tell me a joke about OpenTelemetry"} <= needles
    assert len(needles) > 50, sorted(needles)

    assert len(default.spans) == len(captured.spans)
    assert not default.values(sc.GEN_AI_INPUT_MESSAGES)
    assert default.find(needles) == []
    FIGURES["spans per run"] = len(default.spans)
    FIGURES["prompt and completion texts searched for"] = len(needles)
    FIGURES["strings searched (default settings)"] = len(default.texts)


@pytest.mark.parametrize("run", ["content-on-constructor", "content-off-environment"])
def test_no_credential_is_recorded(captured, default, run):
    emitted, index = (captured, 0) if run.startswith("content-on") else (default, 1)
    errors = [s for s in emitted.spans if [e.name for e in s.events] == ["exception"]]
    assert len(errors) >= len(FAILURES) * len(available())
    # the credentials did reach the SDKs: the clients hold them, or sent them in a header
    for provider in ("openai", "anthropic", "groq"):
        if provider in available():
            assert KEYS[provider][index] in emitted.held, provider
    if "google_genai" in available():
        assert KEYS["google_genai"][index] in emitted.sent
    if "litellm" in available():  # LiteLLM routed to Anthropic sends the Anthropic key
        assert KEYS["anthropic"][index] in emitted.sent
    if "bedrock" in available():
        assert ACCESS_KEY[index] in emitted.sent

    assert emitted.find(every_secret()) == []
    FIGURES[f"attribute values scanned ({run})"] = emitted.attributes
    FIGURES["secrets searched for"] = len(every_secret())


def test_no_credential_in_llmtrace_log_lines(monkeypatch):
    """An internal failure while recording a failed call is logged with its traceback; the provider's
    error text in it (which echoes every credential here) is scrubbed from the log line."""
    supply(monkeypatch, "constructor", available())

    def failing_error_type(exc: BaseException) -> str:
        raise RuntimeError(f"cannot classify {exc}")

    monkeypatch.setattr(_core, "_error_type", failing_error_type)
    recorder = Recorder(capture_content=True, raise_internal_errors=False)
    calls = failing_calls(leaky_error_body())
    try:
        results = run_all(calls)
    finally:
        emitted = recorder.finish()

    assert all(isinstance(r, Exception) for r in results.values())  # the user's own errors, unchanged
    secrets = every_secret()
    assert any(s in str(r) for r in results.values() for s in secrets)  # the errors did carry them
    assert emitted.log_lines >= len(calls)
    lines = [t for where, t in emitted.texts if where == "llmtrace log line"]
    assert all("cannot classify" in line and "Traceback" in line for line in lines)
    assert emitted.find(secrets) == []
    FIGURES["llmtrace log lines scanned (internal failure on each failing call)"] = emitted.log_lines
