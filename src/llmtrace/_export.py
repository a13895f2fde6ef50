"""Tracer and meter providers for instrument(): the application's own if it set one, else ours."""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from llmtrace import _semconv as sc
from llmtrace.config import Settings

if TYPE_CHECKING:
    from llmtrace._histograms import Histograms
    from llmtrace._reliable_export import BoundedMetricExporter, ExportBudget

SHUTDOWN_SECONDS = 2.0
"""How long the exit may wait for the providers llmtrace created, unless configured."""


def shutdown_seconds(settings: Settings) -> float:
    """The exit's budget: ``shutdown_timeout``, else ``OTEL_BSP_EXPORT_TIMEOUT`` (ms) or
    ``OTEL_EXPORTER_OTLP_TIMEOUT`` (s) when set, else `SHUTDOWN_SECONDS`."""
    if settings.shutdown_timeout is not None:
        return settings.shutdown_timeout
    for name, per_second in (("OTEL_BSP_EXPORT_TIMEOUT", 1000), ("OTEL_EXPORTER_OTLP_TIMEOUT", 1)):
        try:
            value = float(os.environ.get(name, "")) / per_second
        except ValueError:
            continue
        if value > 0:
            return value
    return SHUTDOWN_SECONDS


def _resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = {}
    if settings.service_name:
        attributes[SERVICE_NAME] = settings.service_name
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
    return Resource.create(attributes)


def _is_unset(provider: object) -> bool:
    # The API hands out proxies until the application installs a real provider.
    return type(provider).__name__ in ("ProxyTracerProvider", "_ProxyMeterProvider", "ProxyMeterProvider")


def span_processor(settings: Settings, budget: ExportBudget | None = None) -> SpanProcessor | None:
    """The processor for the configured exporter, or None for ``exporter="none"``."""
    if settings.exporter == "console":
        return SimpleSpanProcessor(TreeConsoleExporter())
    if settings.exporter == "otlp":
        from llmtrace import _lazy_export, _reliable_export

        # Bounded queue, export off the caller's thread, retries, counted drops (_reliable_export.py);
        # the OTLP exporter is built at the first export (_lazy_export.py: startup time).
        return _reliable_export.span_processor(_lazy_export.span_exporter(), budget)
    if settings.exporter.startswith("file"):
        from llmtrace import _file_export

        return _file_export.span_processor(settings)
    return None


def tracer_provider(settings: Settings, explicit: Any, *, budget: ExportBudget) -> tuple[Any, bool]:
    """(provider, created_by_us). An explicit or already-installed global provider is used as is; one
    we create is shut down within ``budget`` at exit."""
    if explicit is not None:
        return explicit, False
    current = trace.get_tracer_provider()
    if not _is_unset(current):
        return current, False
    provider = TracerProvider(resource=_resource(settings))
    processor = span_processor(settings, budget)
    if processor is not None:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    budget.providers.append(provider)
    return trace.get_tracer_provider(), True


def meter_provider(
    settings: Settings, explicit: Any, *, budget: ExportBudget, readers: Sequence[Any] | None = None
) -> tuple[Any, bool, Histograms | None]:
    """(provider or None when metrics are off, created_by_us, llmtrace's own histograms for it or None).
    With `readers`, a provider of llmtrace's own, not installed globally, is built with them."""
    if explicit is not None:
        return explicit, False, None
    if readers is not None:
        key = tuple(readers)  # a reader registers with one provider only: the same ones get the same
        built = _for_readers.get(key)
        if built is None:
            built = _for_readers[key] = _meter_provider(settings, readers)
            budget.providers.append(built[0])
        return built[0], True, built[1]
    current = metrics.get_meter_provider()
    if not _is_unset(current):
        # One llmtrace built before (instrument() again after uninstrument()): it still aggregates.
        return current, False, _built.get(current)
    chosen = settings.metrics_exporter
    if chosen is None:
        env_off = os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none"
        chosen = "otlp" if settings.exporter == "otlp" and not env_off else "none"
    if chosen == "none":
        return None, False, None
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    exporter: MetricExporter | BoundedMetricExporter
    if chosen == "console":
        exporter = ConsoleMetricExporter(out=sys.stderr)
    else:
        from llmtrace._lazy_export import LazyMetricExporter
        from llmtrace._reliable_export import BoundedMetricExporter

        exporter = BoundedMetricExporter(LazyMetricExporter(settings.metrics_endpoint), budget)
    reader = PeriodicExportingMetricReader(exporter)  # type: ignore[arg-type]  # the wrapper is duck-typed
    provider, histograms = _meter_provider(settings, [reader])
    metrics.set_meter_provider(provider)
    if histograms is not None:
        _built[provider] = histograms
    budget.providers.append(provider)
    return metrics.get_meter_provider(), True, histograms


_built: weakref.WeakKeyDictionary[Any, Histograms] = weakref.WeakKeyDictionary()
"""The global MeterProvider llmtrace built, and its histograms."""
_for_readers: dict[tuple[Any, ...], tuple[Any, Histograms | None]] = {}
"""The MeterProviders llmtrace built for instrument(metric_readers=...), by their readers."""


def _meter_provider(settings: Settings, readers: Sequence[Any]) -> tuple[Any, Histograms | None]:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from llmtrace import _histograms
    from llmtrace._version import __version__

    scope = InstrumentationScope("llmtrace", __version__, sc.SCHEMA_URL)
    return _histograms.provider(readers, _resource(settings), scope)


def logger_provider(
    settings: Settings, explicit: Any, create: bool, *, budget: ExportBudget
) -> tuple[Any, bool]:
    """(provider for evaluation events or None, created_by_us). One is created only alongside a
    TracerProvider llmtrace created (`create`): an application with its own telemetry gets no exporter
    it did not configure."""
    if explicit is not None:
        return explicit, False
    from opentelemetry import _logs

    current = _logs.get_logger_provider()
    if type(current).__name__ != "ProxyLoggerProvider":
        return current, False
    if settings.exporter == "none" or settings.exporter.startswith("file") or not create:
        return None, False
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=_resource(settings))
    if settings.exporter == "console":
        provider.add_log_record_processor(_ConsoleEvents())
    else:
        from llmtrace._lazy_export import log_exporter
        from llmtrace._reliable_export import BoundedLogExporter

        exporter: Any = BoundedLogExporter(log_exporter(), budget)  # duck-typed
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    _logs.set_logger_provider(provider)
    budget.providers.append(provider)
    return _logs.get_logger_provider(), True


def _console_events_base() -> Any:
    from opentelemetry.sdk._logs import LogRecordProcessor

    return LogRecordProcessor


class _ConsoleEvents(_console_events_base()):  # type: ignore[misc]
    """Prints each evaluation event on one line of stderr (the console exporter's logs)."""

    def on_emit(self, log_record: Any) -> None:
        record = getattr(log_record, "log_record", log_record)
        attrs = dict(getattr(record, "attributes", None) or {})
        name = attrs.get(sc.GEN_AI_EVALUATION_NAME, getattr(record, "event_name", "event"))
        bits = [f"evaluation {name}"]
        for key in (sc.GEN_AI_EVALUATION_SCORE_VALUE, sc.GEN_AI_EVALUATION_SCORE_LABEL):
            if key in attrs:
                bits.append(str(attrs[key]))
        span_id = getattr(record, "span_id", 0) or 0
        bits.append(f"on span {span_id:016x}")
        sys.stderr.write("  ".join(bits) + "\n")

    def emit(self, log_record: Any) -> None:  # older SDKs call emit()
        self.on_emit(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class TreeConsoleExporter(SpanExporter):
    """Prints each finished trace as a tree on stderr: names, durations, tokens, cost, errors."""

    _MAX_PENDING = 10_000

    def __init__(self, out: Any = None) -> None:
        self._out = out
        self._pending: dict[int, list[ReadableSpan]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id if span.context else 0
                bucket = self._pending.setdefault(trace_id, [])
                bucket.append(span)
                self._count += 1
                if span.parent is None or span.parent.is_remote:
                    ready.append(self._pending.pop(trace_id))
                    self._count -= len(ready[-1])
            if self._count > self._MAX_PENDING:  # roots that never come: print rather than grow
                ready.extend(self._pending.values())
                self._pending.clear()
                self._count = 0
        for group in ready:
            self._print(group)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            leftover = list(self._pending.values())
            self._pending.clear()
        for group in leftover:
            self._print(group)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _print(self, spans: list[ReadableSpan]) -> None:
        out = self._out or sys.stderr
        out.write("\n".join(render_tree([TreeSpan.of(s) for s in spans])) + "\n")
        out.flush()


@dataclass(frozen=True, slots=True)
class TreeSpan:
    """What the tree needs of a span; made from a ReadableSpan or from a stored OTLP/JSON span."""

    trace_id: int
    span_id: int
    parent_id: int | None
    remote_parent: bool
    name: str
    start: int
    end: int
    attributes: Mapping[str, Any]

    @classmethod
    def of(cls, span: ReadableSpan) -> TreeSpan:
        context, parent = span.context, span.parent
        return cls(
            context.trace_id if context else 0,
            context.span_id if context else 0,
            parent.span_id if parent else None,
            bool(parent and parent.is_remote),
            span.name,
            span.start_time or 0,
            span.end_time or 0,
            span.attributes or {},
        )


def render_tree(spans: Sequence[TreeSpan]) -> list[str]:
    """The lines of one trace drawn as a tree: children by start time, cost totals on parents."""
    by_id = {s.span_id: s for s in spans}
    children: dict[int | None, list[TreeSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in by_id else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start)
    lines = [f"trace {spans[0].trace_id if spans else 0:032x}"]

    def total(span: TreeSpan) -> float:
        own = span.attributes.get(sc.GEN_AI_USAGE_COST_AMOUNT)
        kids = children.get(span.span_id, [])
        return (own if isinstance(own, (int, float)) else 0.0) + sum(total(k) for k in kids)

    def walk(span: TreeSpan, prefix: str, last: bool) -> None:
        kids = children.get(span.span_id, [])
        line = describe(span)
        if kids and sc.GEN_AI_USAGE_COST_AMOUNT not in span.attributes:
            line += f"  total {usd(total(span))}"
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{line}")
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    roots = children.get(None, [])
    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return lines


def usd(amount: float) -> str:
    """Dollars with as many decimals as a sub-cent LLM call needs."""
    return "$" + (f"{amount:.8f}".rstrip("0").rstrip(".") if amount else "0")


def describe(span: TreeSpan) -> str:
    """One line about a span: name, duration, tokens, cost, error."""
    attrs = span.attributes
    duration = (span.end - span.start) / 1e6
    bits = [span.name, f"{duration:.1f} ms"]
    ttfc = attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    if isinstance(ttfc, (int, float)):
        bits.append(f"first chunk {ttfc * 1000:.1f} ms")
    tokens = [(label, attrs.get(key)) for label, key in (("in", sc.GEN_AI_USAGE_INPUT_TOKENS),
                                                         ("out", sc.GEN_AI_USAGE_OUTPUT_TOKENS))]  # fmt: skip
    shown = " ".join(f"{label}={n}" for label, n in tokens if n is not None)
    if shown:
        bits.append(f"tokens {shown}" + (" (est.)" if attrs.get(sc.LLMTRACE_USAGE_ESTIMATED) else ""))
    cost = attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT)
    if isinstance(cost, (int, float)):
        bits.append(usd(cost))
    prompt = attrs.get(sc.GEN_AI_PROMPT_NAME)
    if prompt is not None:
        bits.append(f"prompt {prompt}@{attrs.get(sc.GEN_AI_PROMPT_VERSION, '?')}")
    count = attrs.get(sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT)
    if count is not None:
        low, high = attrs.get(sc.LLMTRACE_RETRIEVAL_SCORE_MIN), attrs.get(sc.LLMTRACE_RETRIEVAL_SCORE_MAX)
        scores = f" score {low:.2f}..{high:.2f}" if isinstance(low, float) and isinstance(high, float) else ""
        bits.append(f"docs={count}{scores}")
    reasons = attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS)
    if reasons:
        bits.append("finish=" + ",".join(str(r) for r in reasons))
    error = attrs.get(sc.ERROR_TYPE)
    if error is not None:
        bits.append(f"ERROR {error}")
    if span.parent_id is None or span.remote_parent:
        bits.extend(f"{label}={attrs[key]!s}" for key, label in _WHO.items() if key in attrs)
    return "  ".join(bits)


_WHO = {sc.LLMTRACE_TENANT_ID: "tenant", sc.USER_ID: "user", sc.LLMTRACE_FEATURE: "feature"}
