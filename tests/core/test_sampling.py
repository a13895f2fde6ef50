"""Calls whose span the sampler would drop pass through untouched when no metrics need them.

The predicate must agree with the SDK: whenever it says "dropped", the SDK's own tracer would have made a
non-recording span in that context; for the SDK samplers it understands it says so every time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import llmtrace
from helpers import assert_logged
from llmtrace import _core, _safety
from llmtrace._sampling import drop_check
from replay import openai_client

CHAT = (
    Path(__file__).resolve().parent.parent
    / "cassettes"
    / "openai"
    / "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
)


class Custom(Sampler):
    """A sampler llmtrace cannot see into: it must always be asked."""

    def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kw: Any) -> Any:
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "Custom"


SAMPLERS = {
    "always_off": ALWAYS_OFF,
    "always_on": ALWAYS_ON,
    "parentbased_always_off": DEFAULT_OFF,
    "parentbased_always_on": DEFAULT_ON,
    "ratio_0": TraceIdRatioBased(0),
    "ratio_half": TraceIdRatioBased(0.5),
    "parentbased_ratio_0": ParentBasedTraceIdRatio(0),
    "parentbased_ratio_1": ParentBasedTraceIdRatio(1),
    "parentbased_keeps_unsampled_remote": ParentBased(ALWAYS_OFF, remote_parent_not_sampled=ALWAYS_ON),
    "parentbased_drops_sampled_local": ParentBased(
        ALWAYS_ON, local_parent_sampled=StaticSampler(Decision.DROP)
    ),
    "custom": Custom(),
    "parentbased_custom_root": ParentBased(Custom()),
}
UNKNOWABLE = {"ratio_half", "custom"}  # whether a root span is dropped depends on what the sampler sees

PARENTS = {
    "none": None,
    "local_sampled": (False, True),
    "local_unsampled": (False, False),
    "remote_sampled": (True, True),
    "remote_unsampled": (True, False),
}


def parent_context(parent: tuple[bool, bool] | None) -> otel_context.Context:
    if parent is None:
        return otel_context.Context()
    remote, sampled = parent
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=remote, trace_flags=flags))
    return trace.set_span_in_context(span, otel_context.Context())


@pytest.mark.parametrize("parent", PARENTS, ids=list(PARENTS))
@pytest.mark.parametrize("sampler", SAMPLERS, ids=list(SAMPLERS))
def test_drop_check_agrees_with_the_sdk(sampler, parent):
    tracer = TracerProvider(sampler=SAMPLERS[sampler]).get_tracer("t")
    context = parent_context(PARENTS[parent])
    check = drop_check(tracer)
    dropped_by_sdk = not tracer.start_span("s", context).is_recording()
    if sampler in UNKNOWABLE:
        assert check is None
    elif sampler == "parentbased_custom_root":
        assert check is not None and check(context) is (dropped_by_sdk if parent != "none" else False)
    elif sampler == "always_on":
        assert check is None  # nothing it could ever skip
    else:
        assert check is not None
        assert check(context) is dropped_by_sdk


def test_drop_check_is_none_without_an_sdk_tracer():
    assert drop_check(trace.NoOpTracer()) is None
    assert drop_check(trace.ProxyTracer("x")) is None


@pytest.fixture
def unsampled() -> Iterator[tuple[InMemorySpanExporter, list[str]]]:
    """llmtrace with metrics off under ParentBased(ALWAYS_OFF); records which spans the SDK was asked for."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=DEFAULT_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    llmtrace.instrument(
        tracer_provider=provider, metrics_exporter="none", providers=["openai"], raise_internal_errors=True
    )
    runtime = _core.RUNTIME
    assert runtime is not None and runtime.metrics is None and runtime.passes is not None
    asked: list[str] = []
    real = runtime.tracer.start_span

    def start_span(name: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(name)
        return real(name, *args, **kwargs)

    runtime.tracer.start_span = start_span  # type: ignore[method-assign]
    yield exporter, asked
    llmtrace.uninstrument()
    provider.shutdown()


def chat() -> Any:
    client, transport = openai_client(CHAT, interactions=[0])
    result = client.chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}]
    )
    transport.assert_all_played()
    return result


def test_unsampled_call_and_step_pass_through_without_asking_for_a_span(unsampled):
    exporter, asked = unsampled

    @llmtrace.tool
    def lookup(city: str) -> str:
        return city.upper()

    @llmtrace.agent(name="planner")
    def plan() -> tuple[Any, str]:
        return chat(), lookup("paris")

    result, looked_up = plan()
    assert looked_up == "PARIS"
    assert result.choices[0].message.content  # the SDK's own parsed response, untouched
    assert asked == []
    assert exporter.get_finished_spans() == ()


def test_sampled_parent_under_the_same_sampler_is_traced(unsampled):
    exporter, asked = unsampled
    sampled = NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1)))
    token = otel_context.attach(trace.set_span_in_context(sampled))
    try:
        chat()
    finally:
        otel_context.detach(token)
    assert asked == ["chat gpt-3.5-turbo"]
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None and span.parent.span_id == 0x5678
    assert span.attributes["gen_ai.request.model"] == "gpt-3.5-turbo"


def test_a_failing_drop_check_is_contained(unsampled, caplog, monkeypatch):
    _, asked = unsampled
    runtime = _core.RUNTIME
    assert runtime is not None

    def broken(context: Any) -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime, "passes", broken)
    monkeypatch.setattr(_safety, "raise_internal_errors", False)
    caplog.set_level(logging.DEBUG, logger="llmtrace")

    @llmtrace.tool
    def lookup(city: str) -> str:
        return city.upper()

    assert chat().choices[0].message.content
    assert lookup("oslo") == "OSLO"
    assert asked == []  # passed through untraced; the user's calls returned as they would have
    assert_logged(caplog, "start")
    assert_logged(caplog, "decorator")
