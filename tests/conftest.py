"""Fixtures: in-memory span exporter and metric reader, and an instrumenting fixture that always reverts."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace import _counting, tokens

# Tests never reach a network exporter unless they ask for one.
os.environ.setdefault("LLMTRACE_EXPORTER", "none")
# tiktoken's files come from the project's own provisioning (tests/tiktoken_data.py, run by nox),
# never from the internet at run time.
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".tiktoken-cache"))
tokens.allow_download = False


class Telemetry:
    """What an instrumented test sees: finished spans and collected metrics."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.handle: llmtrace.Handle | None = None

    def spans(self) -> list[Any]:
        _counting.drain()  # spans of calls without reported usage end once their tokens are counted
        return list(self.exporter.get_finished_spans())

    def span(self) -> Any:
        spans = self.spans()
        assert len(spans) == 1, f"expected exactly one span, got {[s.name for s in spans]}"
        return spans[0]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Providers to pass to instrument(); nothing instrumented yet."""
    t = Telemetry()
    yield t
    llmtrace.uninstrument()
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture
def instrument(telemetry: Telemetry) -> Callable[..., Telemetry]:
    """Call to instrument (with raise_internal_errors on); reverted after the test."""

    def start(**settings: Any) -> Telemetry:
        settings.setdefault("raise_internal_errors", True)
        telemetry.handle = llmtrace.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **settings
        )
        return telemetry

    return start


@pytest.fixture
def contained(
    instrument: Callable[..., Telemetry], caplog: pytest.LogCaptureFixture
) -> Callable[..., Telemetry]:
    """Like ``instrument``, but llmtrace's own failures are contained (raise_internal_errors off) and
    its log is captured."""
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    return functools.partial(instrument, raise_internal_errors=False)


@pytest.fixture
def spans_end_once(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No span is ended twice or changed after its end (the OTel SDK logs both)."""
    yield
    misuse = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("opentelemetry") and "ended span" in r.getMessage()
    ]
    assert not misuse


@pytest.fixture(autouse=True)
def _fresh_cardinality_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no metric-label values seen: the process-wide guard lets 100 per label
    through, and tests that make hundreds of tenants would turn a later test's tenant into ``_OTHER``."""
    from llmtrace import _core
    from llmtrace._context import CardinalityGuard

    monkeypatch.setattr(_core, "_guard", CardinalityGuard())
