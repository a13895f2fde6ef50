"""The default pipeline's OTLP exporters are built at their first export (src/llmtrace/_lazy_export.py):
instrument() loads none of their modules, the metric reader gets the exporter's preferences without them,
and an exporter that cannot be built costs its exports (counted), never the application."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from llmtrace import _lazy_export, _safety
from llmtrace._lazy_export import LazyExporter, LazyMetricExporter, metric_preferences
from llmtrace._reliable_export import BoundedLogExporter, ExportBudget, ReliableSpanProcessor
from otlp_sink import running

TESTS = Path(__file__).resolve().parent.parent
TRACES = "opentelemetry.exporter.otlp.proto.http.trace_exporter"

SCRIPT = """
import atexit, json, os, sys

HEAVY = ("requests", "urllib3", "charset_normalizer", "google.protobuf", "opentelemetry.proto",
         "opentelemetry.exporter", "openai", "anthropic")


def heavy():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


atexit.register(lambda: print(json.dumps({"exit": heavy()})))  # first registered: runs last
import llmtrace

handle = llmtrace.instrument()
print(json.dumps({"instrument": heavy()}))
handle.force_flush()
print(json.dumps({"flush": heavy()}))
if os.environ.get("SPAN"):
    from opentelemetry import trace

    trace.get_tracer("app").start_span("work").end()
"""


def run_script(endpoint: str, **env: str) -> dict[str, list[str]]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    full.update(env, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        found.update(json.loads(line))
    return found


def test_instrument_flush_and_an_exit_with_nothing_to_send_load_no_exporter_module() -> None:
    with running() as sink:
        assert run_script(sink.endpoint) == {"instrument": [], "flush": [], "exit": []}
        assert sink.received == []


def test_the_first_export_builds_the_exporter_even_at_exit() -> None:
    with running() as sink:
        found = run_script(sink.endpoint, SPAN="1")
        assert found["instrument"] == [] and found["flush"] == []
        assert TRACES in found["exit"] and "requests" in found["exit"]
        assert [s.name for s in sink.spans()] == ["work"]


TEMPORALITY = [None, "cumulative", "DELTA", " delta ", "lowmemory", "LowMemory", "sometimes"]
AGGREGATION = [None, "explicit_bucket_histogram", "base2_exponential_bucket_histogram", "exponential"]


@pytest.mark.parametrize(("temporality", "aggregation"), list(itertools.product(TEMPORALITY, AGGREGATION)))
def test_metric_preferences_are_the_otlp_exporters(
    monkeypatch: pytest.MonkeyPatch, temporality: str | None, aggregation: str | None
) -> None:
    for name, value in (
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", temporality),
        ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", aggregation),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    real = OTLPMetricExporter()
    ours = metric_preferences()
    lazy = LazyMetricExporter(None)

    def shown(aggregations: dict[type, Any]) -> dict[type, tuple[type, dict[str, Any]]]:
        return {kind: (type(a), vars(a)) for kind, a in aggregations.items()}

    for temporalities, aggregations in (ours, (lazy._preferred_temporality, lazy._preferred_aggregation)):
        assert temporalities == real._preferred_temporality
        assert shown(aggregations) == shown(real._preferred_aggregation)
    assert lazy.built is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def dropped_spans(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    return {
        str(point.attributes["error.type"]): int(point.value)
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "llmtrace.export.dropped_spans"
        for point in metric.data.data_points
    }


def test_an_exporter_that_cannot_be_built_drops_its_exports_logs_once_and_is_retried_a_minute_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    monkeypatch.setattr(_safety, "raise_internal_errors", False)
    clock = Clock()
    monkeypatch.setattr(_lazy_export, "time", SimpleNamespace(monotonic=clock.monotonic))
    module = importlib.import_module(TRACES)
    monkeypatch.setitem(sys.modules, TRACES, None)  # importing it raises ImportError
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    with running() as sink:
        lazy = LazyExporter(TRACES, "OTLPSpanExporter", endpoint=f"{sink.endpoint}/v1/traces")
        processor = ReliableSpanProcessor(lazy, meter_provider=meters, schedule_delay_millis=50)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("lazy")

        def spans(*names: str) -> bool:
            for name in names:
                tracer.start_span(name).end()
            return processor.force_flush(5000)

        assert spans("a", "b") is False
        sys.modules[TRACES] = module  # back, but not retried within the minute
        clock.now += _lazy_export.RETRY_SECONDS - 1
        assert spans("c") is False
        assert processor.dropped == {"export_failed": 3} and dropped_spans(reader) == {"export_failed": 3}
        assert sink.received == [] and lazy.built is None
        clock.now += 1
        assert spans("d") is True
        assert isinstance(lazy.built, OTLPSpanExporter)
        assert [s.name for s in sink.spans()] == ["d"]
        provider.shutdown()
    failures = [r for r in caplog.records if "building the OTLPSpanExporter failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info and issubclass(failures[0].exc_info[0], ImportError)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "dropping spans" not in r.msg]


def test_a_log_or_metric_exporter_that_cannot_be_built_counts_its_exports_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_safety, "raise_internal_errors", True)  # contained all the same
    exporter = BoundedLogExporter(LazyExporter("llmtrace_no_such_module", "Exporter"), ExportBudget(1.0))
    assert exporter.export(["record"] * 3).name == "FAILURE"
    assert exporter.export(["record"]).name == "FAILURE"
    assert exporter.dropped == {"export_failed": 4}
    assert exporter.force_flush() is True
    exporter.shutdown()


class SlowExporter:
    """Built slowly, so that threads asking for it at once overlap."""

    made = 0

    def __init__(self) -> None:
        time.sleep(0.2)
        SlowExporter.made += 1


def test_threads_racing_to_the_first_export_build_one_exporter() -> None:
    lazy = LazyExporter(__name__, "SlowExporter")
    built: list[object] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        start.wait()
        built.append(lazy.get())

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SlowExporter.made == 1
    assert len(built) == 4 and all(b is built[0] for b in built)
