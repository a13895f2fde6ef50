"""Shared test helpers: span and metric assertions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan

ANY = object()
"""Expected-value wildcard: the attribute must be present, any value."""


def assert_attributes(span: ReadableSpan, expected: Mapping[str, Any]) -> None:
    """Every attribute of `span` is expected, and every expected one is there with that value.

    JSON-string attributes may be given as the decoded structure.
    """
    actual = dict(span.attributes or {})
    for key, want in expected.items():
        assert key in actual, f"{span.name}: missing attribute {key!r}; has {sorted(actual)}"
        got = actual.pop(key)
        if want is ANY:
            continue
        if isinstance(got, tuple):
            got = list(got)
        if isinstance(got, str) and not isinstance(want, str):
            got = json.loads(got)
        if isinstance(want, float):
            assert got == pytest_approx(want), f"{span.name}: {key} = {got!r}, want {want!r}"
        else:
            assert got == want, f"{span.name}: {key} = {got!r}, want {want!r}"
    assert not actual, f"{span.name}: unexpected attributes {actual}"


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=1e-9, abs=1e-12)


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Metric name -> its data points, from one collection."""
    data = reader.get_metrics_data()
    points: dict[str, list[Any]] = {}
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points
