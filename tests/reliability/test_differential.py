"""Differential: with llmtrace on, every provider SDK returns exactly what it returns without it.

For generated requests and generated HTTP responses (recorded bodies, well formed or perturbed: keys
missing, wrong types, nulls, huge and odd unicode strings, unknown enum values and event types, empty
choices, truncated JSON, error statuses), each example makes the same call twice through the real SDK
client: un-instrumented, then instrumented with ``raise_internal_errors=False`` (the production
setting). The user must observe the same thing both times (the result's repr, every chunk of a stream,
or the same exception type and message), the SDK must send the same request bytes, exactly one span must
end, and llmtrace must log no internal error: a contained failure is still a bug (lost telemetry).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from figures import FIGURES
from fuzz_bodies import bodies
from fuzz_more_providers import more_shapes
from fuzz_providers import Shape, run, shapes
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
from llmtrace import _counting

SHAPES = [*shapes(), *more_shapes()]


class Records(logging.Handler):
    """Keeps the log records of one logger tree."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


class Pipeline:
    """One in-memory tracer and meter provider for the whole module (rebuilding them per example
    would dominate the run time); each example takes the spans it produced."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.internal = Records()
        self.otel = Records()

    def take_spans(self) -> list[object]:
        _counting.drain()
        spans = list(self.exporter.get_finished_spans())
        self.exporter.clear()
        return spans


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    p = Pipeline()
    ours, otel = logging.getLogger("llmtrace"), logging.getLogger("opentelemetry")
    level = ours.level
    ours.setLevel(logging.DEBUG)
    ours.addHandler(p.internal)
    otel.addHandler(p.otel)
    yield p
    ours.removeHandler(p.internal)
    otel.removeHandler(p.otel)
    ours.setLevel(level)
    llmtrace.uninstrument()
    p.tracer_provider.shutdown()
    p.meter_provider.shutdown()


def internal_errors(records: list[logging.LogRecord]) -> list[str]:
    """llmtrace's contained failures ("llmtrace: <step> failed"), with the exception that caused each."""
    return [
        f"{r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in records
        if r.getMessage().endswith(" failed")
    ]


def _cases(shape: Shape) -> settings:
    """The profile's settings, with the shape's own (smaller) number of cases in ``ci``."""
    if shape.cases is None or os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        return settings()
    return settings(max_examples=shape.cases)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_instrumented_sdk_returns_exactly_what_the_sdk_returns(pipeline: Pipeline, shape: Shape):
    _cases(shape)(given(data=st.data())(_same_with_and_without_llmtrace))(pipeline, shape)


def _same_with_and_without_llmtrace(pipeline: Pipeline, shape: Shape, data: st.DataObject) -> None:
    request = data.draw(shape.requests, label="request")
    kwargs = request.kwargs
    lazy = data.draw(st.booleans(), label="list arguments as generators")
    shape.answer.body = body = data.draw(bodies(shape.seeds), label="response")
    capture = data.draw(st.booleans(), label="capture_content")

    shape.answer.sent.clear()
    expected = run(shape, kwargs, lazy)
    sent = list(shape.answer.sent)
    shape.answer.sent.clear()
    pipeline.take_spans()

    handle = llmtrace.instrument(
        providers=[shape.provider],
        tracer_provider=pipeline.tracer_provider,
        meter_provider=pipeline.meter_provider,
        raise_internal_errors=False,
        capture_content=capture,
    )
    try:
        got = run(shape, kwargs, lazy)
    finally:
        handle.uninstrument()
    spans = pipeline.take_spans()
    errors = internal_errors(pipeline.internal.take())
    FIGURES[f"differential cases: {shape.name}"] += 1
    FIGURES["differential cases (total)"] += 1
    FIGURES["differential cases where the SDK raised"] += got[0] == "raised"
    valid = body.well_typed and request.well_typed
    FIGURES["differential cases outside the API schema (wrong types, required fields missing)"] += not valid
    FIGURES["llmtrace internal errors logged (cases outside the schema)"] += 0 if valid else len(errors)
    FIGURES["llmtrace internal errors logged (cases within the schema)"] += len(errors) if valid else 0
    FIGURES["OpenTelemetry SDK warnings (e.g. an attribute of an invalid type)"] += len(pipeline.otel.take())

    assert got == expected
    assert shape.answer.sent == sent, "llmtrace changed the request the SDK sent"
    if (shape.kind == "helper" or shape.per_request) and not sent:
        # anthropic's messages.stream() rejected its arguments before building the manager that
        # would have sent the request, or google-genai or cohere rejected them before the traced
        # method: there was no call to trace
        assert got[0] == "raised" and len(spans) <= 1
        return
    assert len(spans) == 1, [s.name for s in spans]  # type: ignore[attr-defined]
    [span] = spans
    if got[0] != "raised":
        assert span.status.status_code is StatusCode.UNSET  # type: ignore[attr-defined]
    elif shape.kind == "plain":
        assert span.status.status_code is StatusCode.ERROR  # type: ignore[attr-defined]
    if valid:
        assert not errors, errors
