"""The OTLP/HTTP exporters of the default pipeline, built at their first export.

Importing them loads requests, urllib3, protobuf and the generated OTLP modules: about 100 ms, a third of
``import llmtrace; llmtrace.instrument()``. Built lazily, that cost is paid on an export thread once
there is something to send, and never by a process that exits without exporting anything.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from llmtrace import _safety

RETRY_SECONDS = 60.0
"""After a failed build, the next export that may try again waits this long."""

_TRACES = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
_METRICS = "opentelemetry.exporter.otlp.proto.http.metric_exporter"
_LOGS = "opentelemetry.exporter.otlp.proto.http._log_exporter"

_lock = threading.Lock()  # one for all: the builds import the same modules anyway


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a fork in the middle of a build would leave the child's copy held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)


class Unavailable(Exception):
    """The exporter could not be built: what this export carried is to be dropped, not retried."""


class LazyExporter:
    """Stands for ``module.name(**kwargs)``, built by the first `export` (once, whichever threads race
    to it); `force_flush` and `shutdown` before that build nothing.

    Retry policy: a build that raises (a missing or broken package) is logged once through
    `_safety.internal_error`, and that export raises `Unavailable`; so does every export for the next
    `RETRY_SECONDS`, at once, and the first export after that tries the build again. Such failures are
    nearly always permanent, so one attempt a minute costs nothing, yet one that heals (a package being
    replaced during a deploy) is picked up.
    """

    def __init__(self, module: str, name: str, **kwargs: Any) -> None:
        self.module = module
        """Where the exporter class lives; also the name of the logger it writes to."""
        self._name = name
        self._kwargs = kwargs
        self.built: Any = None
        self.on_build: list[Callable[[Any], object]] = []
        """Called with the exporter once it is built (before its first export)."""
        self._retry_at = 0.0
        self._logged = False

    def get(self) -> Any:
        """The exporter, built now if it is not yet; raises `Unavailable` if it cannot be."""
        if self.built is not None:
            return self.built
        with _lock:
            if self.built is None:
                if time.monotonic() < self._retry_at:
                    raise Unavailable(self._name)
                try:
                    exporter = getattr(importlib.import_module(self.module), self._name)(**self._kwargs)
                    for hook in self.on_build:
                        hook(exporter)
                except Exception as error:
                    self._retry_at = time.monotonic() + RETRY_SECONDS
                    if not self._logged:
                        self._logged = True
                        # Re-raised under raise_internal_errors; the export is dropped all the same.
                        with contextlib.suppress(Exception):
                            _safety.internal_error(f"building the {self._name}")
                    raise Unavailable(self._name) from error
                self.built = exporter
            return self.built

    def export(self, *args: Any, **kwargs: Any) -> Any:
        return self.get().export(*args, **kwargs)

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return True if self.built is None else bool(self.built.force_flush(timeout_millis))

    def shutdown(self) -> None:
        if self.built is not None:
            self.built.shutdown()


def span_exporter() -> LazyExporter:
    """``OTLPSpanExporter()``, built at its first export."""
    return LazyExporter(_TRACES, "OTLPSpanExporter")


def log_exporter() -> LazyExporter:
    """``OTLPLogExporter()``, built at its first export."""
    return LazyExporter(_LOGS, "OTLPLogExporter")


class LazyMetricExporter(LazyExporter):
    """``OTLPMetricExporter(endpoint=endpoint)``, built at its first export; the preferences the metric
    reader reads from its exporter at construction are known before (`metric_preferences`)."""

    def __init__(self, endpoint: str | None) -> None:
        super().__init__(_METRICS, "OTLPMetricExporter", endpoint=endpoint)
        self._preferred_temporality, self._preferred_aggregation = metric_preferences()


def metric_preferences() -> tuple[dict[type, Any], dict[type, Any]]:
    """(temporality, aggregation) by instrument class, as the OTLP metric exporter derives them from
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` (cumulative, delta or lowmemory, any case;
    else cumulative) and ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`` (exactly
    base2_exponential_bucket_histogram, else explicit buckets). The exporter warns about an unknown value
    when it is built."""
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import (
        ExplicitBucketHistogramAggregation,
        ExponentialBucketHistogramAggregation,
    )

    preference = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip().upper()
    delta = {"DELTA": (Counter, Histogram, ObservableCounter), "LOWMEMORY": (Counter, Histogram)}
    temporality: dict[type, Any] = {
        kind: AggregationTemporality.DELTA
        if kind in delta.get(preference, ())
        else AggregationTemporality.CUMULATIVE
        for kind in (
            Counter,
            UpDownCounter,
            Histogram,
            ObservableCounter,
            ObservableUpDownCounter,
            ObservableGauge,
        )
    }
    exponential = (
        os.environ.get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
        == "base2_exponential_bucket_histogram"
    )
    histogram = (
        ExponentialBucketHistogramAggregation() if exponential else ExplicitBucketHistogramAggregation()
    )
    return temporality, {Histogram: histogram}
