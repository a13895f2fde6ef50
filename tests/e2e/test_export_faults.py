"""Export under faults: llmtrace's span pipeline (src/llmtrace/_reliable_export.py) with the real OTLP/HTTP
exporter, against a local sink (tests/otlp_sink.py) that is down, slow, answers 429/500/413 or resets the
connection. Whatever it does, ending a span never waits, memory stays bounded by the queue, flush and
shutdown return within their timeouts, every dropped span is counted (and the first drop logged once),
and export resumes by itself when the backend is back.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backend import FIGURES
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from workload import SPANS_PER_TICKET, Workload

from llmtrace._reliable_export import ReliableSpanProcessor
from otlp_sink import Sink, running


class Pipeline:
    """A tracer provider exporting through ReliableSpanProcessor to ``sink``; the drop metric's reader."""

    def __init__(self, sink: Sink, exporter_timeout: float = 1.0, **options: Any) -> None:
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        exporter = OTLPSpanExporter(endpoint=f"{sink.endpoint}/v1/traces", timeout=exporter_timeout)
        options.setdefault("schedule_delay_millis", 50)
        self.processor = ReliableSpanProcessor(exporter, meter_provider=self.meters, **options)
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("faults")

    def spans(self, count: int, prefix: str = "span") -> tuple[set[str], list[float]]:
        """End ``count`` spans; their names and how long each ``end()`` took (ms)."""
        names, took = set(), []
        for i in range(count):
            span = self.tracer.start_span(f"{prefix}-{i}")
            started = time.perf_counter()
            span.end()
            took.append((time.perf_counter() - started) * 1000)
            names.add(f"{prefix}-{i}")
        return names, took

    def dropped_metric(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == "llmtrace.export.dropped_spans":
                        for point in metric.data.data_points:
                            counts[str(point.attributes["error.type"])] = int(point.value)
        return counts

    def close(self) -> None:
        self.provider.shutdown()
        self.meters.shutdown()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running() as server:
        yield server


@pytest.fixture
def pipeline(sink: Sink, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., Pipeline]]:
    caplog.set_level(logging.DEBUG)
    made: list[Pipeline] = []

    def make(**options: Any) -> Pipeline:
        made.append(Pipeline(sink, **options))
        return made[-1]

    yield make
    for p in made:
        p.close()


def received(sink: Sink) -> list[str]:
    return [s.name for s in sink.spans()]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings and errors that reached the application's log (llmtrace's and the OTel exporter's)."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_answers_are_retried_until_the_backend_recovers(
    sink: Sink, pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    p = pipeline()
    sink.status = status
    names, _ = p.spans(40)
    wait_until(lambda: sink.requests >= 2)  # refused, then tried again
    sink.status = 200
    assert p.processor.force_flush(10_000)
    assert sorted(received(sink)) == sorted(names)  # all of them, once
    assert p.processor.dropped == {}
    assert warnings_logged(caplog) == []  # a retried batch is nothing to warn about


def test_connection_reset_is_retried(
    sink: Sink, pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    p = pipeline()
    sink.reset = True
    names, _ = p.spans(40)
    wait_until(lambda: sink.requests >= 2)
    sink.reset = False
    assert p.processor.force_flush(10_000)
    assert sorted(received(sink)) == sorted(names)
    assert p.processor.dropped == {}
    assert warnings_logged(caplog) == []


def test_backend_down_then_back_delivers_what_was_queued(
    sink: Sink, pipeline: Callable[..., Pipeline]
) -> None:
    p = pipeline()
    sink.stop()
    names, took = p.spans(100)
    time.sleep(0.3)  # a few export attempts fail meanwhile
    assert not p.processor.force_flush(500)
    sink.start()
    assert p.processor.force_flush(10_000)
    assert sorted(received(sink)) == sorted(names)
    assert p.processor.dropped == {}
    assert max(took) < 50


def test_rejected_batches_are_dropped_after_the_retry_window_counted_and_logged_once(
    sink: Sink, pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    p = pipeline(retry_seconds=0.5, max_export_batch_size=10)
    sink.status = 413  # never accepted: retried for retry_seconds, then dropped
    p.spans(30)
    wait_until(lambda: p.processor.dropped["export_failed"] == 30)
    p.spans(5)
    wait_until(lambda: p.processor.dropped["export_failed"] == 35)
    assert p.dropped_metric() == {"export_failed": 35}
    # One warning for all the drops, with the exporter's reason; the exporter's own per-batch error
    # lines from the export thread are not repeated in the application's log.
    [warning] = warnings_logged(caplog)
    assert "dropping spans: their export failed" in warning
    assert "413" in warning
    assert "llmtrace.export.dropped_spans" in warning

    sink.status = 200  # recovery
    names, _ = p.spans(10, prefix="after")
    assert p.processor.force_flush(10_000)
    assert sorted(received(sink)) == sorted(names)
    assert len(warnings_logged(caplog)) == 1


def test_slow_backend_never_blocks_and_shutdown_is_bounded(
    sink: Sink, pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    sink.delay = 5.0  # seconds per request
    p = pipeline(exporter_timeout=10.0, export_timeout_millis=1000)
    _, took = p.spans(200)
    wait_until(lambda: sink.requests >= 1)  # the first batch is stuck in the slow request
    started = time.perf_counter()
    assert not p.processor.force_flush(300)
    flush_s = time.perf_counter() - started
    started = time.perf_counter()
    p.processor.shutdown()
    shutdown_s = time.perf_counter() - started
    assert flush_s < 1.0
    assert shutdown_s < 2.0  # export_timeout_millis, not the 5 s the request would take
    assert max(took) < 50
    assert p.processor.dropped == {"shutdown": 200}
    assert p.dropped_metric() == {"shutdown": 200}
    assert len(warnings_logged(caplog)) == 1
    FIGURES["slow backend (5 s/request): flush(300 ms), shutdown (1 s export timeout)"] = (
        f"{flush_s * 1000:.0f} ms, {shutdown_s * 1000:.0f} ms"
    )


def test_queue_bounds_memory_with_the_backend_down(
    sink: Sink, pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    sink.stop()
    p = pipeline(max_queue_size=256, max_export_batch_size=64)
    caplog.set_level(logging.WARNING)  # the log capture itself would grow with every failed attempt
    p.spans(1_000, prefix="warm")  # fills the queue: what follows only adds drops
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        for _ in range(5_000):
            p.tracer.start_span("span").end()
        per_span_us = (time.perf_counter() - started) / 5_000 * 1e6
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(p.processor._queue) <= 256
    # Keeping 5,000 ended spans takes ~14 MB; here they are only counted (what grows is the exporter's
    # retry bookkeeping).
    assert grown < 1_000_000
    p.processor.shutdown()
    dropped = p.processor.dropped
    assert sum(dropped.values()) == 6_000
    assert dropped["queue_full"] >= 6_000 - 256 - 64
    assert p.dropped_metric() == dict(dropped)
    assert len(warnings_logged(caplog)) == 1
    FIGURES["backend down: queue bound / memory growth over 5,000 more spans / start+end per span"] = (
        f"256 spans / {grown / 1024:.0f} KiB / {per_span_us:.0f} us (under tracemalloc)"
    )


def test_app_with_the_backend_absent(sink: Sink) -> None:
    """The real application (openai client, decorators) exporting to a port where nothing listens."""
    sink.stop()
    app = Workload(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_BSP_MAX_QUEUE_SIZE": "32",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BSP_EXPORT_TIMEOUT": "2000",
        }
    )
    try:
        tickets = [app.ticket() for _ in range(6)]
        final = app.quit()
    finally:
        app.kill()
    slowest = max(ms for t in tickets for ms in t["ms"])
    assert slowest < 1000  # no call waits for the exporter (its retries back off in seconds)
    assert sum(final["dropped"].values()) == 6 * SPANS_PER_TICKET  # every span accounted for
    assert final["dropped"]["queue_full"] > 0  # 42 spans, a queue of 32
    assert final["shutdown_ms"] < 3000  # OTEL_BSP_EXPORT_TIMEOUT bounds the exit
    [warning] = final["warnings"]  # one line in the application's log, whatever the number of drops
    assert "llmtrace: dropping spans" in warning
    medians = " / ".join(f"{statistics.median(t['ms'][i] for t in tickets):.1f}" for i in range(3))
    FIGURES["backend absent: chat / streamed chat / embeddings"] = (
        f"{medians} ms, max {slowest:.1f} ms; dropped {final['dropped']}; "
        f"shutdown {final['shutdown_ms']:.0f} ms"
    )


def test_a_forked_child_exports_its_own_spans(sink: Sink, pipeline: Callable[..., Pipeline]) -> None:
    p = pipeline()
    p.spans(3, prefix="parent-before")
    assert p.processor.force_flush(10_000)
    pid = os.fork()
    if pid == 0:  # the child: a new export thread, none of the parent's queue
        code = 1
        try:
            p.spans(3, prefix="child")
            code = 0 if p.processor.force_flush(10_000) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)  # (the child may use the HTTP connection it inherited meanwhile)
    assert os.waitstatus_to_exitcode(status) == 0
    p.spans(3, prefix="parent-after")
    assert p.processor.force_flush(10_000)
    assert sorted(received(sink)) == sorted(
        [f"{who}-{i}" for who in ("parent-before", "child", "parent-after") for i in range(3)]
    )
