"""Shared bits for the tests of the user-facing API (decorators, context attributes, prompts,
evaluations): the fake SDK instrumented, an in-memory logs pipeline, span lookups and checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind, StatusCode

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
except ImportError:  # the name before opentelemetry-sdk 1.39
    from opentelemetry.sdk._logs.export import (  # type: ignore[attr-defined,no-redef]
        InMemoryLogExporter as InMemoryLogRecordExporter,
    )

import fakesdk
from llmtrace import _semconv as sc
from llmtrace.instrumentors import REGISTRY

MODEL = "m"

FAKE_CALL: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "fake",
    "gen_ai.request.model": MODEL,
    "gen_ai.response.id": "r-1",
    "gen_ai.response.model": MODEL,
    "gen_ai.usage.input_tokens": 3,
    "gen_ai.usage.output_tokens": 3,
}
"""Every attribute of the span of ``llm_call()`` (fakesdk: 3 tokens in, one per item out; 'm' is unpriced)."""

FAKE_LABELS: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "fake",
    "gen_ai.request.model": MODEL,
    "gen_ai.response.model": MODEL,
}
"""The client-metric attributes of ``llm_call()``."""


def instrument_fake(instrument: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Any:
    """Instrument only the fake SDK (tests/fakesdk.py)."""
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    return instrument(providers=["fake"], **settings)


def llm_call(model: str = MODEL, **kwargs: Any) -> Any:
    """One model call through the fake SDK: a CLIENT span ``chat {model}``."""
    return fakesdk.Client().create(model=model, **kwargs)


async def allm_call(model: str = MODEL, **kwargs: Any) -> Any:
    """One model call through the fake SDK's async client (it yields to the loop once)."""
    return await fakesdk.AsyncClient().create(model=model, **kwargs)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine in a fresh event loop (the suite runs without pytest-asyncio)."""
    return asyncio.run(coro)


# --- spans -----------------------------------------------------------------------------------------


def named(spans: Iterable[Any], name: str) -> Any:
    """The one span called `name`."""
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in spans]}"
    return found[0]


def is_child(child: Any, parent: Any) -> bool:
    """Whether `child`'s parent is `parent` (same trace, parent span id)."""
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


def assert_internal(span: Any, name: str, status: StatusCode = StatusCode.UNSET) -> None:
    """`span` is llmtrace's INTERNAL span `name` with `status`."""
    assert span.name == name
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is status
    assert span.instrumentation_scope.name == "llmtrace"


def assert_exception_event(span: Any, error: BaseException) -> None:
    """`span` failed with `error`: ERROR status naming it, and one ``exception`` event describing it."""
    kind = type(error).__qualname__
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"{type(error).__name__}: {error}"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == kind
    assert event.attributes["exception.message"] == str(error)
    assert kind in event.attributes["exception.stacktrace"]
    assert str(error) in event.attributes["exception.stacktrace"]


# --- metrics ---------------------------------------------------------------------------------------


def histogram_points(reader: Any, name: str) -> list[Any]:
    """The data points of histogram `name` (none if it was never recorded)."""
    data = reader.get_metrics_data()
    points: list[Any] = []
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


def labels_of(points: Iterable[Any]) -> list[dict[str, Any]]:
    """The attribute sets of `points`, in a stable order."""
    return sorted((dict(p.attributes) for p in points), key=lambda a: sorted(a.items(), key=str))


def label_set(labels: dict[str, Any]) -> frozenset[tuple[str, Any]]:
    """A metric attribute set, hashable (for `counts_by_labels`)."""
    return frozenset(labels.items())


def counts_by_labels(points: Iterable[Any]) -> dict[frozenset[tuple[str, Any]], int]:
    """Attribute set -> how many measurements the point with that set holds."""
    return {label_set(dict(p.attributes)): p.count for p in points}


# --- logs ------------------------------------------------------------------------------------------


class Logs:
    """An SDK LoggerProvider exporting synchronously to memory (for evaluation events)."""

    def __init__(self) -> None:
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))

    def records(self) -> list[Any]:
        """The emitted log records (the SDK ``LogRecord`` inside each exported record)."""
        return [r.log_record for r in self.exporter.get_finished_logs()]

    def evaluations(self) -> list[Any]:
        """The emitted ``gen_ai.evaluation.result`` events."""
        return [r for r in self.records() if r.event_name == sc.GEN_AI_EVALUATION_RESULT]
