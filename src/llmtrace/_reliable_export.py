"""The span pipeline behind the OTLP exporter: a bounded queue, one export thread, counted drops.

What it guarantees, whatever the backend does (down, slow, 429/500/413, connection reset):

* ``on_end`` never waits: it appends to a queue of at most ``max_queue_size`` spans, or drops the span.
* Memory is bounded: that queue plus the one batch being exported or waiting to be retried.
* A batch that fails is retried (backing off up to the schedule delay) for ``retry_seconds``, so spans
  ended before the backend came up, or while it restarted, arrive once it answers; then it is dropped.
* Every dropped span is counted, in `ReliableSpanProcessor.dropped` and in the
  ``llmtrace.export.dropped_spans`` counter (``error.type``: queue_full, export_failed, shutdown), and
  the first drop logs one warning; the exporter's own per-batch error lines from this thread are folded
  into it rather than repeated for every batch.
* ``force_flush`` and ``shutdown`` return within their timeout; the export runs on the thread, never the
  caller's. The thread is a daemon and starts again in a forked child.

Sizes come from the standard ``OTEL_BSP_*`` variables, with the BatchSpanProcessor's defaults.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry import context, metrics

# The key instrumentations check, so that exporting spans creates no spans (e.g. of the HTTP request).
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmtrace import _semconv as sc
from llmtrace._version import __version__

log = logging.getLogger("llmtrace")

QUEUE_FULL = "queue_full"
EXPORT_FAILED = "export_failed"
SHUTDOWN = "shutdown"
THREAD_NAME = "llmtrace-span-export"
RETRY_SECONDS = 60.0


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class _ExporterLog(logging.Filter):
    """Keeps the exporter's log lines about this thread's exports out of the application's log, and
    remembers the last one: it is the reason given in the single drop warning."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.threadName != THREAD_NAME:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in someone else's log call
            message = str(record.msg)
        if record.levelno >= logging.WARNING:
            self.last = message
        log.debug("llmtrace: span exporter: %s", message)  # all of them, for whoever debugs llmtrace
        return False


_exporter_logs: dict[str, _ExporterLog] = {}
_exporter_logs_lock = threading.Lock()


def _exporter_log(exporter: SpanExporter) -> _ExporterLog:
    name = type(exporter).__module__
    with _exporter_logs_lock:
        if name not in _exporter_logs:
            _exporter_logs[name] = _ExporterLog()
            logging.getLogger(name).addFilter(_exporter_logs[name])
        return _exporter_logs[name]


class ReliableSpanProcessor(SpanProcessor):
    """Batches ended spans to ``exporter`` from one daemon thread; see the module docstring."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        schedule_delay_millis: int | None = None,
        export_timeout_millis: int | None = None,
        retry_seconds: float = RETRY_SECONDS,
        meter_provider: Any = None,
    ) -> None:
        self.exporter = exporter
        self.max_queue_size = max_queue_size or _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self.max_export_batch_size = min(
            max_export_batch_size or _env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), self.max_queue_size
        )
        self.schedule_delay = (schedule_delay_millis or _env_int("OTEL_BSP_SCHEDULE_DELAY", 5000)) / 1000
        self.export_timeout = (export_timeout_millis or _env_int("OTEL_BSP_EXPORT_TIMEOUT", 30000)) / 1000
        self.retry_seconds = retry_seconds
        self.dropped: collections.Counter[str] = collections.Counter()
        """Spans dropped so far, by reason (queue_full, export_failed, shutdown)."""
        self.exported = 0
        """Spans the exporter accepted."""
        self._log = _exporter_log(exporter)
        # Made now: at exit the MeterProvider may be shut down before this processor drops anything.
        # The global provider's meter is a proxy until the application (or instrument()) sets one.
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(
            "llmtrace", __version__, schema_url=sc.SCHEMA_URL
        )
        self._counter = meter.create_counter(
            sc.METRIC_EXPORT_DROPPED_SPANS, unit="{span}", description="Spans llmtrace did not export"
        )
        self._warned = False
        self._stopping = False
        self._reset()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def after_fork_in_child() -> None:
                processor = ref()
                if processor is not None:
                    processor._reset()

            os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset(self) -> None:
        # Also the child's state after a fork: the parent's spans and thread are the parent's.
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(threading.Lock())
        self._flush_asked = 0
        self._flush_done = 0
        self._flush_ok = True
        self._retry: list[ReadableSpan] | None = None
        self._retry_since = 0.0
        self._retries = 0
        self._inflight = 0
        self._abandoned = False
        self._thread: threading.Thread | None = None

    # --- the application's threads ------------------------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        queue = self._queue
        if self._stopping:
            self._drop(1, SHUTDOWN)
        elif len(queue) >= self.max_queue_size:
            self._drop(1, QUEUE_FULL)
        else:
            queue.append(span)
            if self._thread is None:
                self._start()
            if len(queue) >= self.max_export_batch_size:
                self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Ask the thread to export everything queued now; True if it all got out within the timeout."""
        if self._thread is None or self._stopping:
            return not self._queue and self._retry is None
        with self._idle:
            self._flush_asked += 1
            ticket = self._flush_asked
            self._wake.set()
            done = self._idle.wait_for(lambda: self._flush_done >= ticket, timeout_millis / 1000)
            return done and self._flush_ok

    def shutdown(self) -> None:
        """Export what is queued, waiting at most the export timeout; then drop and count the rest."""
        if self._stopping:
            return
        self._stopping = True
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(self.export_timeout)
        with self._lock:
            # Stuck in a slow export: give up on it (the daemon thread cannot hold up the exit). Also
            # counts a span that arrived while the thread was finishing.
            self._abandoned = thread is not None and thread.is_alive()
            left = len(self._queue) + (self._inflight if self._abandoned else 0)
            self._queue.clear()
        self._drop(left, SHUTDOWN)
        try:
            self.exporter.shutdown()  # also ends the OTLP exporter's retry back-off
        except Exception:
            log.debug("llmtrace: exporter shutdown failed", exc_info=True)

    # --- the export thread --------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while not self._stopping:
                delay = self.schedule_delay
                if self._retry is not None:
                    delay = min(delay, 0.5 * 2**self._retries)
                self._wake.wait(delay)
                self._wake.clear()
                if not self._stopping:
                    self._guarded_round(final=False)
            self._guarded_round(final=True)
        finally:
            context.detach(token)

    def _guarded_round(self, final: bool) -> None:
        try:
            self._round(final)
        except Exception:  # a bug here must not end the thread: spans would only pile up
            log.debug("llmtrace: span export round failed", exc_info=True)

    def _round(self, final: bool) -> None:
        """Export until the queue is empty or an export fails; then answer the flushes asked so far."""
        with self._idle:
            serving = self._flush_asked
        ok = True
        if final and self._retry is not None:  # the backend failed a moment ago: do not wait on it again
            self._drop(len(self._retry), EXPORT_FAILED)
            self._retry = None
            with self._lock:
                left = len(self._queue)
                self._queue.clear()
            self._drop(left, SHUTDOWN)
        while True:
            batch = self._retry or self._take()
            if not batch:
                break
            if self._export(batch):
                self._retry, self._retries = None, 0
                continue
            ok = False
            if self._retry is None:
                self._retry, self._retry_since = batch, time.monotonic()
            self._retries += 1
            if final or time.monotonic() - self._retry_since >= self.retry_seconds:
                self._retry, self._retries = None, 0
                self._drop(len(batch), EXPORT_FAILED)
            if final:
                with self._lock:
                    left = len(self._queue)
                    self._queue.clear()
                self._drop(left, SHUTDOWN)
            break
        with self._idle:
            self._flush_done, self._flush_ok = serving, ok
            self._idle.notify_all()

    def _take(self) -> list[ReadableSpan]:
        queue = self._queue
        with self._lock:
            return [queue.popleft() for _ in range(min(len(queue), self.max_export_batch_size))]

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        self._inflight = len(batch)
        try:
            result = self.exporter.export(batch)
        except Exception:
            log.debug("llmtrace: span export raised", exc_info=True)
            result = SpanExportResult.FAILURE
        self._inflight = 0
        if self._abandoned:
            return True  # shutdown() has already counted this batch
        if result is SpanExportResult.SUCCESS:
            self.exported += len(batch)
            return True
        return False

    # --- accounting ---------------------------------------------------------------------------------

    def _drop(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        with self._lock:
            self.dropped[reason] += count
            warn, self._warned = not self._warned, True
        try:
            self._counter.add(count, {sc.ERROR_TYPE: reason})
        except Exception:
            log.debug("llmtrace: recording dropped spans failed", exc_info=True)
        if warn:
            why = {
                QUEUE_FULL: f"the export queue is full ({self.max_queue_size} spans)",
                EXPORT_FAILED: "their export failed",
                SHUTDOWN: "they were not exported before shutdown",
            }[reason]
            last = f"; the exporter said: {self._log.last.rstrip('.')}" if self._log.last else ""
            log.warning(
                "llmtrace: dropping spans: %s%s. Further drops are not logged; they are counted in the "
                "%s metric.",
                why,
                last,
                sc.METRIC_EXPORT_DROPPED_SPANS,
            )


def span_processor(exporter: SpanExporter) -> ReliableSpanProcessor:
    """The processor llmtrace puts in front of a network span exporter."""
    return ReliableSpanProcessor(exporter)
