"""The pipeline behind the OTLP exporters llmtrace creates: for spans a bounded queue, one export thread,
counted drops; for all three signals an exit (and flushes) bounded by one budget.

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

Flushes and the exit (`ExportBudget`): while a flush waits and from the start of the shutdown, each export
of these exporters is one attempt, waited for only until the deadline. The exit's deadline is shared by
the traces, metrics and logs providers llmtrace created (``shutdown_timeout``, 2 s by default). The metric
and log exporters are wrapped for it (`BoundedMetricExporter`, `BoundedLogExporter`): what they cannot
deliver is dropped and counted too, their exporter's log lines go to the ``llmtrace`` logger at DEBUG,
and the first drop of any signal logs the one warning.

Sizes come from the standard ``OTEL_BSP_*`` variables, with the BatchSpanProcessor's defaults. The OTLP
exporters themselves are built at their first export (`_lazy_export`); one that cannot be built has its
exports dropped and counted as export_failed.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import context, metrics

# The key instrumentations check, so that exporting spans creates no spans (e.g. of the HTTP request).
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmtrace import _semconv as sc
from llmtrace._lazy_export import LazyExporter, Unavailable
from llmtrace._version import __version__

log = logging.getLogger("llmtrace")

QUEUE_FULL = "queue_full"
EXPORT_FAILED = "export_failed"
SHUTDOWN = "shutdown"
THREAD_NAME = "llmtrace-span-export"
HELPER_THREAD_NAME = "llmtrace-export"
RETRY_SECONDS = 60.0


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _after_fork_in_child(method: Callable[[], object]) -> None:
    """Call the bound ``method`` in every forked child, while its object lives."""
    if hasattr(os, "register_at_fork"):
        weak = weakref.WeakMethod(method)

        def after_fork_in_child() -> None:
            alive = weak()
            if alive is not None:
                alive()

        os.register_at_fork(after_in_child=after_fork_in_child)


_routing = threading.local()


@contextlib.contextmanager
def _routed() -> Iterator[None]:
    """The exporter log lines of the calls made inside are llmtrace's to report (see `_ExporterLog`)."""
    before = getattr(_routing, "on", False)
    _routing.on = True
    try:
        yield
    finally:
        _routing.on = before


class _ExporterLog(logging.Filter):
    """Keeps the exporter's log lines about llmtrace's exports out of the application's log, and
    remembers the last one: it is the reason given in the single drop warning."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(_routing, "on", False):  # the application's own exporter of the same kind
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in someone else's log call
            message = str(record.msg)
        if record.levelno >= logging.WARNING:
            self.last = message
        log.debug("llmtrace: %s: %s", record.name, message)  # all of them, for whoever debugs llmtrace
        return False


_exporter_logs: dict[str, _ExporterLog] = {}
_exporter_logs_lock = threading.Lock()


def _exporter_log(exporter: object) -> _ExporterLog:
    # A lazy exporter's logger is known (and filtered) before its module is imported.
    name = exporter.module if isinstance(exporter, LazyExporter) else type(exporter).__module__
    with _exporter_logs_lock:
        if name not in _exporter_logs:
            _exporter_logs[name] = _ExporterLog()
            logging.getLogger(name).addFilter(_exporter_logs[name])
        return _exporter_logs[name]


class ExportBudget:
    """How long the exporters of the providers llmtrace created may make someone wait.

    During the run they take their time: the OTel exporter's own retries, the span processor's. Inside a
    flush (`window`) and from the start of the shutdown (`begin_shutdown`), each export is one attempt,
    waited for only until the nearest deadline; the shutdown deadline is shared by traces, metrics and
    logs. The first drop of any of them logs the one warning.
    """

    def __init__(self, shutdown_seconds: float) -> None:
        self.shutdown_seconds = shutdown_seconds
        self.providers: list[Any] = []
        """The providers llmtrace created, shut down in this order by `shutdown` (traces first)."""
        self._switches: list[threading.Event] = []
        self._shutdown_at: float | None = None
        self._warned = False
        self._runner: _Runner | None = None
        self._reset()
        _after_fork_in_child(self._reset)

    def _reset(self) -> None:
        # Also the child's state after a fork: the parent's flushes are the parent's.
        self._lock = threading.Lock()
        self._flushes: list[float] = []
        self._on = False
        self._switch()

    def watch(self, exporter: object) -> None:
        """Make ``exporter`` try once per export while someone waits: the OTel OTLP exporters skip their
        retry back-off once their shutdown event is set (on the exporter in older SDKs, on its HTTP
        client in newer ones), so it is set meanwhile. An exporter without one is bounded by the waits."""
        if isinstance(exporter, LazyExporter):
            exporter.on_build.append(self.watch)
            return
        client = getattr(exporter, "_client", None)
        event = getattr(client, "_shutdown_event", None) or getattr(exporter, "_shutdown_in_progress", None)
        if isinstance(event, threading.Event):
            with self._lock:
                self._switches.append(event)
                if self._on:
                    event.set()

    def _switch(self) -> None:
        on = bool(self._flushes) or self._shutdown_at is not None
        if on != self._on:
            self._on = on
            for event in self._switches:
                if on:
                    event.set()
                else:
                    event.clear()

    @property
    def shutting_down(self) -> bool:
        return self._shutdown_at is not None

    def remaining(self) -> float | None:
        """Seconds left before the nearest deadline (a flush's or the shutdown's); None if there is none."""
        with self._lock:
            ends = [*self._flushes, *([] if self._shutdown_at is None else [self._shutdown_at])]
        return max(0.0, min(ends) - time.monotonic()) if ends else None

    @contextlib.contextmanager
    def window(self, seconds: float) -> Iterator[None]:
        """A flush: the exports inside are single attempts, waited for ``seconds`` at most."""
        end = time.monotonic() + seconds
        with self._lock:
            self._flushes.append(end)
            self._switch()
        try:
            yield
        finally:
            with self._lock:
                if end in self._flushes:  # a fork meanwhile would have reset them
                    self._flushes.remove(end)
                self._switch()

    def begin_shutdown(self) -> None:
        """Start the shutdown deadline, once: ``shutdown_seconds`` from the first call."""
        with self._lock:
            if self._shutdown_at is None:
                self._shutdown_at = time.monotonic() + self.shutdown_seconds
                self._switch()

    def shutdown(self) -> None:
        """Shut down the providers llmtrace created, within the shutdown deadline (llmtrace's atexit)."""
        self.begin_shutdown()
        for provider in self.providers:
            try:
                if "timeout_millis" in inspect.signature(provider.shutdown).parameters:  # a MeterProvider
                    provider.shutdown(timeout_millis=(self.remaining() or 0.0) * 1000)
                else:
                    provider.shutdown()
            except Exception:  # e.g. a MeterProvider out of time: what is left is dropped
                log.debug("llmtrace: %s shutdown failed", type(provider).__name__, exc_info=True)

    def first_warning(self) -> bool:
        """True once: for the one drop warning of all the exporters sharing this budget."""
        with self._lock:
            first, self._warned = not self._warned, True
        return first

    def runner(self) -> _Runner:
        """The thread the wrapped exporters' bounded attempts run on (made now: see `_Runner`)."""
        with self._lock:
            if self._runner is None:
                self._runner = _Runner()
            return self._runner


class _Runner:
    """A daemon thread running exports that callers wait for only until a deadline. Started in advance:
    Python 3.12 refuses to start a thread in an atexit function. Starts again in a forked child."""

    def __init__(self) -> None:
        self._start()
        _after_fork_in_child(self._start)

    def _start(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, args=(self._jobs,), name=HELPER_THREAD_NAME, daemon=True).start()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            jobs.get()()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)


class ReliableSpanProcessor(SpanProcessor):
    """Batches ended spans to ``exporter`` from one daemon thread; see the module docstring."""

    def __init__(
        self,
        exporter: SpanExporter | LazyExporter,
        *,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        schedule_delay_millis: int | None = None,
        export_timeout_millis: int | None = None,
        retry_seconds: float = RETRY_SECONDS,
        meter_provider: Any = None,
        budget: ExportBudget | None = None,
    ) -> None:
        self.exporter = exporter
        self.max_queue_size = max_queue_size or _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self.max_export_batch_size = min(
            max_export_batch_size or _env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), self.max_queue_size
        )
        self.schedule_delay = (schedule_delay_millis or _env_int("OTEL_BSP_SCHEDULE_DELAY", 5000)) / 1000
        self.export_timeout = (export_timeout_millis or _env_int("OTEL_BSP_EXPORT_TIMEOUT", 30000)) / 1000
        self.retry_seconds = retry_seconds
        self.budget = ExportBudget(self.export_timeout) if budget is None else budget
        """Bounds flushes and the shutdown; its ``shutdown_seconds`` replaces ``export_timeout`` if given."""
        self.budget.watch(exporter)
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
        self._stopping = False
        self._reset()
        _after_fork_in_child(self._reset)

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
        """Ask the thread to export everything queued now, in one attempt; True if it all got out within
        the timeout. What did not stays queued for the thread's retries."""
        if self._thread is None or self._stopping:
            return not self._queue and self._retry is None
        with self.budget.window(timeout_millis / 1000), self._idle:
            self._flush_asked += 1
            ticket = self._flush_asked
            self._wake.set()
            done = self._idle.wait_for(lambda: self._flush_done >= ticket, timeout_millis / 1000)
            return done and self._flush_ok

    def shutdown(self) -> None:
        """Export what is queued in one attempt, waiting at most what is left of the budget's shutdown
        deadline; then drop and count the rest."""
        if self._stopping:
            return
        self._stopping = True
        self.budget.begin_shutdown()
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(self.budget.remaining() or 0.0)
        with self._lock:
            # Stuck in a slow export: give up on it (the daemon thread cannot hold up the exit). Also
            # counts a span that arrived while the thread was finishing.
            self._abandoned = thread is not None and thread.is_alive()
            left = len(self._queue) + (self._inflight if self._abandoned else 0)
            self._queue.clear()
        self._drop(left, SHUTDOWN)
        try:
            with _routed():
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
        _routing.on = True  # this thread only exports
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
            exported = self._export(batch)
            if exported is None:  # no exporter to send it to: dropped, not retried
                ok, self._retry, self._retries = False, None, 0
                self._drop(len(batch), EXPORT_FAILED)
                continue
            if exported:
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

    def _export(self, batch: Sequence[ReadableSpan]) -> bool | None:
        """Whether the exporter took the batch; None if there is no exporter (`Unavailable`)."""
        self._inflight = len(batch)
        try:
            result = self.exporter.export(batch)
        except Unavailable:
            self._inflight = 0
            return True if self._abandoned else None
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
        warn = self.budget.first_warning()
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


class _BoundedExporter:
    """What the metric and log exporter wrappers share: during the run the wrapped exporter's own
    behaviour (retries included) on the caller's thread; while someone waits (`ExportBudget`), one attempt
    on the budget's runner, waited for until the deadline. Either way its log lines are routed to the
    ``llmtrace`` logger at DEBUG, and what it fails to deliver is counted in `dropped`."""

    what = "telemetry"

    def __init__(self, inner: Any, budget: ExportBudget) -> None:
        self.inner = inner
        self.budget = budget
        self.dropped: collections.Counter[str] = collections.Counter()
        """Items (metric data points, log records) not delivered, by reason (export_failed, shutdown)."""
        self._lock = threading.Lock()
        self._log = _exporter_log(inner)
        self._runner = budget.runner()
        budget.watch(inner)

    def _export(self, call: Callable[[], Any], count: int) -> bool:
        left = self.budget.remaining()
        if left is None:
            ok = self._attempt(call)
            if not ok:
                self._drop(count, EXPORT_FAILED)
            return ok
        if left <= 0 and self.budget.shutting_down:
            self._drop(count, SHUTDOWN)
            return False
        pending = _Pending()

        def job() -> None:
            ok = self._attempt(call)
            with pending.lock:
                if pending.given_up:
                    return  # counted by the caller
                if not ok:
                    self._drop(count, EXPORT_FAILED)  # before the caller goes on: the process may be leaving
                pending.ok = ok
                pending.done.set()

        self._runner.submit(job)
        if not pending.done.wait(left):
            with pending.lock:
                if not pending.done.is_set():
                    # Out of time. At exit the attempt's late result is moot: counted now. After a flush
                    # the attempt goes on and counts itself if it fails.
                    pending.given_up = self.budget.shutting_down
                    if pending.given_up:
                        self._drop(count, SHUTDOWN)
                    return False
        return pending.ok

    @staticmethod
    def _attempt(call: Callable[[], Any]) -> bool:
        with _routed():
            try:
                result = call()
            except Exception:
                log.debug("llmtrace: export raised", exc_info=True)
                return False
        return getattr(result, "name", None) == "SUCCESS"  # the SDK's metric and log result enums

    def _drop(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        with self._lock:
            self.dropped[reason] += count
        log.debug("llmtrace: dropped %d %s (%s)", count, self.what, reason)
        if self.budget.first_warning():
            why = "their export failed" if reason == EXPORT_FAILED else "they were not out before shutdown"
            last = f"; the exporter said: {self._log.last.rstrip('.')}" if self._log.last else ""
            log.warning("llmtrace: dropping %s: %s%s. Further drops are not logged.", self.what, why, last)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        with _routed():
            return bool(self.inner.force_flush(timeout_millis))

    def _shutdown(self) -> None:
        try:
            with _routed():
                self.inner.shutdown()
        except Exception:
            log.debug("llmtrace: exporter shutdown failed", exc_info=True)


class _Pending:
    """One bounded attempt, between the runner making it and the caller waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.ok = False
        self.given_up = False


class BoundedMetricExporter(_BoundedExporter):
    """Wraps the OTLP metric exporter llmtrace creates (see `_BoundedExporter`)."""

    what = "metric points"

    def __init__(self, inner: Any, budget: ExportBudget) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        super().__init__(inner, budget)
        self._results = MetricExportResult
        # What PeriodicExportingMetricReader reads from its exporter.
        self._preferred_temporality = inner._preferred_temporality
        self._preferred_aggregation = inner._preferred_aggregation

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        points = sum(
            len(metric.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        )
        ok = self._export(lambda: self.inner.export(metrics_data, timeout_millis, **kwargs), points)
        return self._results.SUCCESS if ok else self._results.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shutdown()


class BoundedLogExporter(_BoundedExporter):
    """Wraps the OTLP log exporter llmtrace creates, for evaluation events (see `_BoundedExporter`)."""

    what = "log records"

    def __init__(self, inner: Any, budget: ExportBudget) -> None:
        from opentelemetry.sdk._logs import export

        super().__init__(inner, budget)
        self._results = getattr(export, "LogRecordExportResult", None) or export.LogExportResult

    def export(self, batch: Sequence[Any]) -> Any:
        ok = self._export(lambda: self.inner.export(batch), len(batch))
        return self._results.SUCCESS if ok else self._results.FAILURE

    def shutdown(self) -> None:
        self._shutdown()


def span_processor(
    exporter: SpanExporter | LazyExporter, budget: ExportBudget | None = None
) -> ReliableSpanProcessor:
    """The processor llmtrace puts in front of a network span exporter."""
    return ReliableSpanProcessor(exporter, budget=budget)
