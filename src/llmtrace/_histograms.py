"""llmtrace's histograms, aggregated here when llmtrace builds the MeterProvider.

Through the SDK, each measurement is a `Measurement` whose attributes are cleaned and hashed recursively,
then offered to an exemplar reservoir: ~13 µs a point, four points a call, more than the span costs.
Here a point is a dict lookup on a frozenset of the attributes and a few additions. The points are
handed to each reader of that provider at its collection, merged into what the SDK collected, in the
SDK's own data types, with the SDK's semantics: explicit buckets (upper bounds inclusive), min and max,
the reader's temporality, the ``OTEL_METRICS_EXEMPLAR_FILTER`` exemplars (the last one per bucket), and
the overflow point past 2,000 attribute sets.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.sdk.metrics import Histogram as SDKHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import DefaultAggregation, ExplicitBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import INVALID_SPAN_CONTEXT
from opentelemetry.trace import propagation as trace_propagation
from opentelemetry.util.types import AttributeValue

from llmtrace._safety import internal_error

_logger = logging.getLogger(__name__)

CARDINALITY_LIMIT = 2000
"""Attribute sets per histogram and reader before the overflow point (the SDK's default)."""
_OVERFLOW: dict[str, AttributeValue] = {"otel.metric.overflow": True}
_OVERFLOW_KEY = frozenset(_OVERFLOW.items())
_INF = math.inf
# The key under which the API keeps the current span (private; get_current_span() if it goes).
_SPAN_KEY: str | None = getattr(trace_propagation, "_SPAN_KEY", None)

Attributes = Mapping[str, AttributeValue]


class _Point:
    __slots__ = ("attributes", "buckets", "count", "exemplars", "max", "min", "start", "sum")

    def __init__(self, attributes: dict[str, AttributeValue], start: int, buckets: int) -> None:
        self.attributes = attributes
        self.start = start
        self.count = 0
        self.sum: float = 0
        self.min = _INF
        self.max = -_INF
        self.buckets = [0] * buckets
        # bucket index -> (value, time, measurement attributes, span context)
        self.exemplars: dict[int, tuple[float, int, Attributes | None, Any]] | None = None


class _Series:
    """One histogram's points for one reader."""

    __slots__ = ("delta", "last_collection", "points")

    def __init__(self, delta: bool) -> None:
        self.delta = delta
        self.points: dict[frozenset[Any], _Point] = {}
        self.last_collection = 0


class FastHistogram:
    """A histogram with ``record(amount, attributes, context)`` as the API's, aggregated in place."""

    __slots__ = (
        "__weakref__",
        "_always",
        "_lock",
        "_offer",
        "_series",
        "bounds",
        "description",
        "name",
        "unit",
    )

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        bounds: Sequence[float],
        *,
        deltas: Sequence[bool],
        exemplars: str,
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.bounds = tuple(float(b) for b in bounds)
        self._series = tuple(_Series(delta) for delta in deltas)
        self._offer = exemplars != "always_off"  # OTEL_METRICS_EXEMPLAR_FILTER: trace_based by default
        self._always = exemplars == "always_on"
        self._lock = threading.Lock()
        _alive.add(self)

    def record(
        self, amount: float, attributes: Attributes | None = None, context: Context | None = None
    ) -> None:
        """Add one measurement (non-negative and finite, as the SDK requires)."""
        if not 0 <= amount < _INF:  # also false for NaN
            _logger.warning(
                "llmtrace: %r ignored on histogram %s (negative or not finite)", amount, self.name
            )
            return
        try:
            key = frozenset(attributes.items()) if attributes else frozenset()
        except TypeError:  # a list value: the SDK keeps it as a tuple
            attributes = {k: tuple(v) if isinstance(v, list) else v for k, v in (attributes or {}).items()}
            key = frozenset(attributes.items())
        index = bisect_left(self.bounds, amount)
        exemplar = None
        if self._offer:
            span: Any = (
                (context or get_current()).get(_SPAN_KEY) if _SPAN_KEY else trace.get_current_span(context)
            )
            span_context = span.get_span_context() if span is not None else INVALID_SPAN_CONTEXT
            if span_context.trace_flags & 1 or self._always:  # 1: sampled
                exemplar = (amount, time_ns(), attributes, span_context if span_context.is_valid else None)
        with self._lock:
            for series in self._series:
                point = series.points.get(key)
                if point is None:
                    point = self._new_point(series, key, attributes)
                point.count += 1
                point.sum += amount
                point.min = min(point.min, amount)
                point.max = max(point.max, amount)
                point.buckets[index] += 1
                if exemplar is not None:
                    if point.exemplars is None:
                        point.exemplars = {}
                    point.exemplars[index] = exemplar

    def _new_point(self, series: _Series, key: frozenset[Any], attributes: Attributes | None) -> _Point:
        points = series.points
        if len(points) >= CARDINALITY_LIMIT:
            point = points.get(_OVERFLOW_KEY)
            if point is None:
                point = points[_OVERFLOW_KEY] = _Point(
                    dict(_OVERFLOW), self._start(series), len(self.bounds) + 1
                )
            return point
        point = points[key] = _Point(dict(attributes or {}), self._start(series), len(self.bounds) + 1)
        return point

    @staticmethod
    def _start(series: _Series) -> int:
        # As the SDK: a point first seen after a collection starts at that collection.
        return series.last_collection or time_ns()

    def collect(self, reader: int, now: int) -> Metric | None:
        """The metric as reader number `reader` sees it at `now`, or None when it has no point."""
        series = self._series[reader]
        data: list[HistogramDataPoint] = []
        with self._lock:
            points = series.points
            if series.delta:
                series.points = {}
            for point in points.values():
                data.append(
                    HistogramDataPoint(
                        attributes=point.attributes,
                        start_time_unix_nano=point.start,
                        time_unix_nano=now,
                        count=point.count,
                        sum=point.sum,
                        bucket_counts=tuple(point.buckets),
                        explicit_bounds=self.bounds,
                        min=point.min,
                        max=point.max,
                        exemplars=_exemplars(point),
                    )
                )
                point.exemplars = None
            series.last_collection = now
        if not data:
            return None
        temporality = AggregationTemporality.DELTA if series.delta else AggregationTemporality.CUMULATIVE
        return Metric(
            name=self.name,
            description=self.description,
            unit=self.unit,
            data=Histogram(data_points=data, aggregation_temporality=temporality),
        )


_alive: weakref.WeakSet[FastHistogram] = weakref.WeakSet()


def _after_fork() -> None:
    # A lock held by another thread at fork time stays held in the child: its first record would hang.
    for histogram in list(_alive):
        histogram._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _exemplars(point: _Point) -> list[Any]:
    if not point.exemplars:
        return []
    from opentelemetry.sdk.metrics import Exemplar

    kept = []
    for _, (value, time, attributes, span_context) in sorted(point.exemplars.items()):
        filtered = {k: v for k, v in attributes.items() if k not in point.attributes} if attributes else None
        kept.append(
            Exemplar(
                filtered,
                value,
                time,
                span_context.span_id if span_context else None,
                span_context.trace_id if span_context else None,
            )
        )
    return kept


class Histograms:
    """The histograms of one MeterProvider llmtrace built, and the readers they are collected by."""

    def __init__(
        self, readers: Sequence[MetricReader], resource: Resource, scope: InstrumentationScope
    ) -> None:
        self._deltas = [_temporality(reader) is AggregationTemporality.DELTA for reader in readers]
        self._resource = resource
        self._scope = scope
        self._exemplars = os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based").strip().lower()
        self.histograms: list[FastHistogram] = []
        for number, reader in enumerate(readers):
            inner: Callable[..., MetricsData | None] = reader._collect  # type: ignore[assignment]
            reader._collect = self._collector(number, inner)  # type: ignore[assignment]

    def create(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> FastHistogram:
        """The histogram `name` collected by every reader of the provider (the same one each time: after
        uninstrument() and instrument() again, its points go on)."""
        for histogram in self.histograms:
            if histogram.name == name:
                return histogram
        histogram = FastHistogram(
            name, unit, description, bounds, deltas=self._deltas, exemplars=self._exemplars
        )
        self.histograms.append(histogram)
        return histogram

    def _collector(
        self, number: int, inner: Callable[..., MetricsData | None]
    ) -> Callable[..., MetricsData | None]:
        def collect(reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
            collected = inner(reader, timeout_millis=timeout_millis)
            try:
                return self._merge(collected, number)
            except Exception:
                internal_error("metrics collection")
                return collected

        return collect

    def _merge(self, collected: MetricsData | None, number: int) -> MetricsData | None:
        now = time_ns()
        ours = [m for m in (h.collect(number, now) for h in self.histograms) if m is not None]
        if not ours:
            return collected
        scope = ScopeMetrics(scope=self._scope, metrics=ours, schema_url=self._scope.schema_url or "")
        resources = list(collected.resource_metrics) if collected is not None else []
        for i, resource_metrics in enumerate(resources):
            if resource_metrics.resource is self._resource:
                resources[i] = ResourceMetrics(
                    resource=resource_metrics.resource,
                    scope_metrics=[*resource_metrics.scope_metrics, scope],
                    schema_url=resource_metrics.schema_url,
                )
                break
        else:
            resources.append(
                ResourceMetrics(
                    resource=self._resource, scope_metrics=[scope], schema_url=self._resource.schema_url
                )
            )
        return MetricsData(resource_metrics=resources)


def _for_histograms(preferences: Mapping[type, Any]) -> Any:
    # Keyed by the SDK's private instrument classes (_Histogram), subclasses of the public ones.
    return next((v for k, v in preferences.items() if issubclass(k, SDKHistogram)), None)


def _temporality(reader: MetricReader) -> AggregationTemporality:
    chosen = _for_histograms(getattr(reader, "_instrument_class_temporality", {}))
    return chosen if isinstance(chosen, AggregationTemporality) else AggregationTemporality.CUMULATIVE


def supported(readers: Sequence[MetricReader]) -> bool:
    """Whether llmtrace can aggregate for these readers itself: each asks for explicit-bucket histograms
    (not exponential ones), and the SDK lets its collection be extended."""
    for reader in readers:
        aggregation = _for_histograms(getattr(reader, "_instrument_class_aggregation", {}))
        if isinstance(aggregation, ExplicitBucketHistogramAggregation):
            # Boundaries of the reader's own replace the instruments' advice; no min/max changes the points.
            if aggregation._boundaries is not None or not aggregation._record_min_max:
                return False
        elif not isinstance(aggregation, DefaultAggregation):
            return False
        if not callable(getattr(reader, "_collect", None)):
            return False
    return True


def provider(
    readers: Sequence[MetricReader], resource: Resource, scope: InstrumentationScope
) -> tuple[MeterProvider, Histograms | None]:
    """A MeterProvider with `readers`, and llmtrace's histograms for it (None: use the SDK's)."""
    meter_provider = MeterProvider(resource=resource, metric_readers=list(readers))
    if not supported(readers):
        return meter_provider, None
    return meter_provider, Histograms(readers, resource, scope)
