"""Shared test helpers: span and metric assertions, expected attributes and costs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from llmtrace import _semconv as sc

ANY = object()
"""Expected-value wildcard: the attribute must be present, any value."""

TTFC = sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
CHUNKS = sc.LLMTRACE_STREAM_CHUNKS
INPUT = sc.GEN_AI_INPUT_MESSAGES
OUTPUT = sc.GEN_AI_OUTPUT_MESSAGES
SYSTEM = sc.GEN_AI_SYSTEM_INSTRUCTIONS
TOOL_DEFINITIONS = sc.GEN_AI_TOOL_DEFINITIONS
CONTENT_KEYS = (INPUT, OUTPUT, SYSTEM, TOOL_DEFINITIONS)
"""The attributes that carry content (off by default)."""
CACHE_READ = sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
CACHE_WRITE = sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS
REASONING = sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
METRIC_LABELS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
)
"""The span attributes a call's metrics are labelled with (``error.type`` too, for a failed call)."""


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


def metric_labels(expected: Mapping[str, Any]) -> dict[str, Any]:
    """The metric labels of a call whose span has the `expected` attributes: its ``METRIC_LABELS``."""
    return {key: expected[key] for key in METRIC_LABELS if key in expected}


def assert_token_usage(
    points: Mapping[str, list[Any]], labels: Mapping[str, Any], input_tokens: int, output_tokens: int
) -> dict[str, Any]:
    """The token usage metric (of ``metric_points()``) has an input and an output point, labelled `labels`
    and their type, summing to `input_tokens` and `output_tokens`; returns them by type."""
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points[sc.METRIC_TOKEN_USAGE]}
    assert {kind: (dict(p.attributes), p.sum) for kind, p in tokens.items()} == {
        "input": ({**labels, "gen_ai.token.type": "input"}, input_tokens),
        "output": ({**labels, "gen_ai.token.type": "output"}, output_tokens),
    }
    return tokens


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


# --- spans -----------------------------------------------------------------------------------------


def the_span(t: Any, name: str, status: StatusCode = StatusCode.UNSET) -> Any:
    """The one finished span: a CLIENT span from llmtrace named `name`."""
    span = t.span()
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is status
    assert span.instrumentation_scope.name == "llmtrace"
    return span


def duration(span: Any) -> float:
    return (span.end_time - span.start_time) / 1e9


def assert_sane_ttfc(span: Any) -> None:
    """time_to_first_chunk is measured, so only its range can be checked."""
    ttfc = span.attributes[TTFC]
    assert isinstance(ttfc, float)
    assert 0 < ttfc <= duration(span)


def assert_no_content(span: Any) -> None:
    """`span` carries no content attribute (content capture is off)."""
    assert not any(key in span.attributes for key in CONTENT_KEYS)


def assert_streamed(span: Any, expected: Mapping[str, Any], chunks: int) -> None:
    """``assert_attributes()`` for a streamed call: `expected`, plus its chunk count and a time to first
    chunk in range."""
    assert_attributes(span, {**expected, TTFC: ANY, CHUNKS: chunks})
    assert_sane_ttfc(span)


def assert_error_recorded(t: Any, span: Any, error: Exception, labels: Mapping[str, Any]) -> None:
    """`span` holds `error` as its exception event; the call's only metric is its duration, labelled
    with `labels` and the error's type."""
    kind = type(error).__name__
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == kind
    assert event.attributes["exception.message"] == str(error)
    assert kind in event.attributes["exception.stacktrace"]
    points = metric_points(t.reader)
    [point] = points[sc.METRIC_OPERATION_DURATION]
    assert dict(point.attributes) == {**labels, "error.type": kind}
    assert sc.METRIC_TOKEN_USAGE not in points
    assert sc.METRIC_COST not in points


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("llmtrace bug")


def assert_logged(caplog: Any, what: str) -> None:
    """llmtrace logged that its `what` failed, with the RuntimeError of ``boom``."""
    failures = [
        r for r in caplog.records if r.name == "llmtrace" and r.getMessage() == f"llmtrace: {what} failed"
    ]
    assert failures, [r.getMessage() for r in caplog.records]
    assert isinstance(failures[0].exc_info[1], RuntimeError)


# --- expected content ------------------------------------------------------------------------------


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [text_part(text)]}


def output_message(*parts: dict[str, Any], finish_reason: str = "stop") -> dict[str, Any]:
    return {"role": "assistant", "parts": list(parts), "finish_reason": finish_reason}


def output_text(text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return output_message(text_part(text), finish_reason=finish_reason)


def tool_call(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def tool_result(call_id: str | None, response: Any) -> dict[str, Any]:
    """The part answering the tool call `call_id`."""
    return {"type": "tool_call_response", "id": call_id, "response": response}


def replayed(reply: dict[str, Any]) -> dict[str, Any]:
    """The output message `reply` as the next request sends it back: its parts, no finish reason."""
    return {"role": "assistant", "parts": reply["parts"]}


# --- prices (USD per 1M tokens, from the table llmtrace ships) -----------------------------------

PRICES: dict[str, dict[str, float]] = json.loads(
    resources.files("llmtrace").joinpath("prices.json").read_text("utf-8")
)["models"]


def cost(
    price_key: str, *, input_tokens: int, output_tokens: int = 0, cache_read: int = 0, cache_write: int = 0
) -> dict[str, float]:
    """The three llmtrace.cost.* attributes at ``PRICES[price_key]``.

    input_usd  = (input_tokens * input + cache_read * cache_read price + cache_write * cache_write price) / 1M
                 (input_tokens: the uncached ones; a missing cache price is the input price)
    output_usd = output_tokens * output price / 1M   (reasoning and thinking tokens are part of the output)
    """
    price = PRICES[price_key]
    input_usd = (
        input_tokens * price["input"]
        + cache_read * price.get("cache_read", price["input"])
        + cache_write * price.get("cache_write", price["input"])
    ) / 1_000_000
    output_usd = output_tokens * price["output"] / 1_000_000
    return {
        sc.GEN_AI_USAGE_COST_AMOUNT: input_usd + output_usd,
        sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
        sc.GEN_AI_USAGE_COST_SOURCE: "local",
        sc.LLMTRACE_COST_INPUT_USD: input_usd,
        sc.LLMTRACE_COST_OUTPUT_USD: output_usd,
    }
