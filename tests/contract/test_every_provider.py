"""The provider contract: the same scenarios, the same invariants, for every model-provider instrumentor.

Parametrized over the instrumentor registry, so a provider registered without a contract case fails
here instead of shipping with a gap. The per-provider test modules check every attribute; this checks
what must hold for all of them.
"""

from __future__ import annotations

import gc
import importlib
import json

import pytest
from cases import CASES, Case, installed
from opentelemetry.trace import SpanKind, StatusCode

import llmtrace
from llmtrace import _semconv as sc
from llmtrace.instrumentors import FRAMEWORKS, REGISTRY
from scenarios import assert_restored, assert_wrapped_once, patch_targets

PROVIDERS = sorted(name for name in REGISTRY if name not in FRAMEWORKS)
SCENARIOS = ("nonstream", "stream", "stream_break", "tool_call", "error")
# The providers whose SDK this environment has: nox installs every SDK's newest release in `tests`
# (litellm, which pins openai < 3, in `tests_litellm`) and each oldest release in its own session.
TESTABLE = [name for name in PROVIDERS if name in CASES and installed(CASES[name])]
RUNS = [
    pytest.param(name, scenario, is_async, id=f"{name}-{scenario}-{'async' if is_async else 'sync'}")
    for name in TESTABLE
    for scenario in SCENARIOS
    for is_async in CASES[name].is_async
]


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_provider_has_a_contract_case(name):
    assert name in CASES, f"instrumentor {name!r} has no contract case in tests/contract/cases.py"


def the_span(t, case: Case):
    spans = t.spans()
    assert len(spans) == 1, f"one inference span per call, got {[s.name for s in spans]}"
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "llmtrace"
    attributes = span.attributes
    assert attributes[sc.GEN_AI_PROVIDER_NAME] == case.provider
    assert attributes[sc.GEN_AI_OPERATION_NAME] in ("chat", "text_completion", "generate_content")
    model = attributes[sc.GEN_AI_REQUEST_MODEL]
    assert span.name == f"{attributes[sc.GEN_AI_OPERATION_NAME]} {model}"
    assert isinstance(attributes.get(sc.SERVER_ADDRESS), str)
    assert isinstance(attributes.get(sc.SERVER_PORT), int)
    return span


def assert_usage(span, case: Case) -> None:
    attributes = span.attributes
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    if case.response_model:
        assert attributes[sc.GEN_AI_RESPONSE_MODEL]
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS]


@pytest.mark.parametrize(("name", "scenario", "is_async"), RUNS)
def test_contract(instrument, name, scenario, is_async):
    case = CASES[name]
    t = instrument(providers=[name], capture_content=True)

    result = getattr(case, scenario)(is_async)
    gc.collect()  # the broken-off stream is dropped: its span must end all the same

    span = the_span(t, case)
    attributes = span.attributes
    if scenario == "error":
        error_type = case.error_type if isinstance(case.error_type, type) else case.error_type()
        assert type(result) is error_type  # the SDK's own exception reached the user
        assert span.status.status_code is StatusCode.ERROR
        assert attributes[sc.ERROR_TYPE] == error_type.__qualname__
        assert [e.name for e in span.events] == ["exception"]
        return
    assert span.status.status_code is StatusCode.UNSET
    assert sc.ERROR_TYPE not in attributes
    if scenario == "nonstream":
        assert_usage(span, case)
        assert sc.GEN_AI_REQUEST_STREAM not in attributes
        assert json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    elif scenario == "stream":
        assert_usage(span, case)
        assert attributes[sc.GEN_AI_REQUEST_STREAM] is True
        assert attributes[sc.LLMTRACE_STREAM_CHUNKS] == len(result) > 1
        assert (
            0 < attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] <= (span.end_time - span.start_time) / 1e9
        )
    elif scenario == "stream_break":
        assert result is not None  # the first chunk arrived, unchanged
        assert attributes[sc.GEN_AI_REQUEST_STREAM] is True
        assert attributes[sc.LLMTRACE_STREAM_CHUNKS] == 1
        assert attributes[sc.LLMTRACE_STREAM_ABANDONED] is True
    elif scenario == "tool_call":
        assert_usage(span, case)
        [message] = json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES])[:1]
        calls = [p for p in message["parts"] if p["type"] == "tool_call"]
        assert calls and all(c["name"] for c in calls)
        assert message["finish_reason"] == "tool_call"
        assert json.loads(attributes[sc.GEN_AI_TOOL_DEFINITIONS])[0]["name"]


@pytest.mark.parametrize("name", TESTABLE)
def test_contract_uninstrument_restores_the_sdk(telemetry, name):
    module = importlib.import_module(REGISTRY[name])
    targets = patch_targets(module.PATCHES)
    assert targets, f"{name}: none of its patch targets exists in the installed SDK"
    handle = llmtrace.instrument(
        providers=[name], tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    assert_wrapped_once(targets)
    handle.uninstrument()
    assert_restored(targets)
