"""llmtrace's own histogram aggregation (when it builds the MeterProvider) exports what the SDK's would.

Each scenario runs twice: with a MeterProvider the application built (the SDK aggregates) and with
``metric_readers=`` (llmtrace builds the provider and aggregates its histograms itself). The collected
data must be the same, point for point, apart from timestamps and the ids of the spans that exemplars
point to (each run makes its own spans)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import Histogram as SDKHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    InMemoryMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from helpers import metric_points
from llmtrace import _core, _histograms, decorators
from llmtrace._histograms import FastHistogram
from replay import openai_client
from scenarios import SCRIPT, run_script

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "openai"
CHAT = CASSETTES / "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
STREAM = CASSETTES / "chat_stream_gpt-4_include_usage.yaml"
NOT_FOUND = CASSETTES / "chat_error_404_model_not_found.yaml"
MESSAGES = [{"role": "user", "content": "hi"}]
DELTA = {SDKHistogram: AggregationTemporality.DELTA}


def scenario(tracer: Any) -> None:
    """Chats (sampled and not), a stream, a failed call and decorated steps."""

    @llmtrace.tool
    def lookup(city: str) -> str:
        return city.upper()

    @llmtrace.agent(name="planner")
    def plan() -> None:
        for interaction in range(3):
            client, _ = openai_client(CHAT, interactions=[interaction])
            client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
        lookup("paris")
        client, _ = openai_client(STREAM)
        for _chunk in client.chat.completions.create(
            model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            pass
        client, _ = openai_client(NOT_FOUND)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-9", messages=MESSAGES)

    with tracer.start_as_current_span("request"):
        plan()
    with llmtrace.attributes(tenant_id="acme", feature="search"), llmtrace.prompt("ask", version="v2"):
        plan()  # business labels: tenant, feature, prompt


class Clock:
    """llmtrace's perf_counter, ticking 7 ms a reading: the same durations in both runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.007
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def run(ours: bool, reader: InMemoryMetricReader, body: Callable[[Any], None] = scenario) -> list[Any]:
    """The collections (one after each call of `body`) with llmtrace aggregating (`ours`) or the SDK."""
    with pytest.MonkeyPatch.context() as patch:
        clock = Clock()
        patch.setattr(_core, "time", clock)
        patch.setattr(decorators, "time", clock)
        return _run(ours, reader, body)


def _run(ours: bool, reader: InMemoryMetricReader, body: Callable[[Any], None]) -> list[Any]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    provider = None if ours else MeterProvider(metric_readers=[reader])
    llmtrace.instrument(
        tracer_provider=tracer_provider,
        meter_provider=provider,
        metric_readers=[reader] if ours else None,
        providers=["openai"],
        raise_internal_errors=True,
    )
    try:
        runtime = _core.RUNTIME
        assert runtime is not None and runtime.metrics is not None
        assert isinstance(runtime.metrics.duration, FastHistogram) is ours
        tracer = tracer_provider.get_tracer("app")
        collections = []
        for _ in range(2):
            body(tracer)
            collections.append(normalized(reader.get_metrics_data(), spans))
        return collections
    finally:
        llmtrace.uninstrument()
        tracer_provider.shutdown()
        if provider is not None:
            provider.shutdown()


def normalized(data: Any, spans: InMemorySpanExporter) -> dict[str, Any]:
    """Metric name -> description, unit, temporality and points, without timestamps; an exemplar's span
    is replaced by the name of the span it points to."""
    names = {span.context.span_id: span.name for span in spans.get_finished_spans()}
    metrics: dict[str, Any] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert (scope_metrics.scope.name, scope_metrics.scope.version) == (
                "llmtrace",
                llmtrace.__version__,
            )
            for metric in scope_metrics.metrics:
                points = sorted(
                    (
                        sorted(point.attributes.items()),
                        point.count,
                        point.sum,
                        list(point.bucket_counts),
                        [float(b) for b in point.explicit_bounds],
                        point.min,
                        point.max,
                        [(e.value, e.filtered_attributes, names.get(e.span_id)) for e in point.exemplars],
                        point.start_time_unix_nano <= point.time_unix_nano,
                    )
                    for point in metric.data.data_points
                )
                metrics[metric.name] = (
                    metric.description,
                    metric.unit,
                    metric.data.aggregation_temporality,
                    points,
                )
    return metrics


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_llmtrace_aggregates_exactly_as_the_sdk(temporality):
    preferred = DELTA if temporality == "delta" else None
    by_sdk = run(False, InMemoryMetricReader(preferred_temporality=preferred))
    by_llmtrace = run(True, InMemoryMetricReader(preferred_temporality=preferred))
    assert by_llmtrace == by_sdk
    first, second = by_sdk
    # The scenario exercised what it should: every histogram, errors, exemplars, both tenants.
    assert set(first) == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.operation.cost",
        "gen_ai.invoke_agent.duration",
        "gen_ai.execute_tool.duration",
    }
    durations = first["gen_ai.client.operation.duration"][3]
    assert any(("error.type", "NotFoundError") in attributes for attributes, *_ in durations)
    assert any(exemplars for *_, exemplars, _ in durations)
    assert any(("llmtrace.tenant.id", "acme") in attributes for attributes, *_ in durations)
    counts = [{tuple(a): c for a, c, *_ in run["gen_ai.client.token.usage"][3]} for run in (first, second)]
    times = 1 if temporality == "delta" else 2  # the same calls again: counted afresh, or added up
    assert counts[1] == {attributes: times * count for attributes, count in counts[0].items()}


def test_the_sdk_metrics_of_the_same_provider_are_kept_beside_ours():
    reader = InMemoryMetricReader()
    handle = llmtrace.instrument(metric_readers=[reader], providers=["openai"], raise_internal_errors=True)
    try:
        handle.meter_provider.get_meter("app").create_counter("requests").add(1)
        client, _ = openai_client(CHAT, interactions=[0])
        client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
        (resource_metrics,) = reader.get_metrics_data().resource_metrics
        scopes = {sm.scope.name: [m.name for m in sm.metrics] for sm in resource_metrics.scope_metrics}
        assert scopes["app"] == ["requests"]
        assert "gen_ai.client.operation.duration" in scopes["llmtrace"]
    finally:
        llmtrace.uninstrument()


def test_exponential_histograms_asked_by_the_reader_are_left_to_the_sdk():
    reader = InMemoryMetricReader(
        preferred_aggregation={SDKHistogram: ExponentialBucketHistogramAggregation()}
    )
    llmtrace.instrument(metric_readers=[reader], providers=["openai"], raise_internal_errors=True)
    try:
        runtime = _core.RUNTIME
        assert runtime is not None and runtime.metrics is not None
        assert not isinstance(runtime.metrics.duration, FastHistogram)
        client, _ = openai_client(CHAT, interactions=[0])
        client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
        data = reader.get_metrics_data()
        kinds = {type(m.data) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert kinds == {ExponentialHistogram}
    finally:
        llmtrace.uninstrument()


def test_boundaries_of_the_reader_own_are_left_to_the_sdk():
    custom = InMemoryMetricReader(
        preferred_aggregation={SDKHistogram: ExplicitBucketHistogramAggregation([1.0])}
    )
    no_min_max = InMemoryMetricReader(
        preferred_aggregation={SDKHistogram: ExplicitBucketHistogramAggregation(record_min_max=False)}
    )
    plain = InMemoryMetricReader(preferred_aggregation={SDKHistogram: ExplicitBucketHistogramAggregation()})
    MeterProvider(metric_readers=[custom, no_min_max, plain])  # registered: each has a collect callback
    assert not _histograms.supported([custom])
    assert not _histograms.supported([no_min_max])
    assert _histograms.supported([plain])


def test_metric_readers_and_meter_provider_together_are_refused():
    with pytest.raises(llmtrace.ConfigError, match="metric_readers"):
        llmtrace.instrument(metric_readers=[InMemoryMetricReader()], meter_provider=MeterProvider())


def fast(deltas: tuple[bool, ...] = (False,), exemplars: str = "trace_based") -> FastHistogram:
    return FastHistogram("h", "s", "d", (1, 10), deltas=deltas, exemplars=exemplars)


def test_points_count_exactly_under_concurrent_records():
    histogram = fast()

    def record() -> None:
        for i in range(2000):
            histogram.record(i % 20, {"k": "v"})

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metric = histogram.collect(0, 1)
    assert metric is not None
    (point,) = metric.data.data_points
    assert point.count == 16000
    assert point.sum == 8 * 100 * sum(range(20))
    assert list(point.bucket_counts) == [8 * 100 * 2, 8 * 100 * 9, 8 * 100 * 9]  # <=1, <=10, >10
    assert (point.min, point.max) == (0, 19)


def test_past_the_cardinality_limit_measurements_go_to_the_overflow_point(monkeypatch):
    monkeypatch.setattr(_histograms, "CARDINALITY_LIMIT", 3)
    histogram = fast()
    for i in range(6):
        histogram.record(1, {"n": i})
    metric = histogram.collect(0, 1)
    assert metric is not None
    points = {tuple(p.attributes.items()): p.count for p in metric.data.data_points}
    assert points == {(("n", 0),): 1, (("n", 1),): 1, (("n", 2),): 1, (("otel.metric.overflow", True),): 3}


@pytest.mark.parametrize("amount", [-1, math.inf, math.nan])
def test_values_the_sdk_refuses_are_ignored(amount):
    histogram = fast()
    histogram.record(amount, {"k": "v"})
    assert histogram.collect(0, 1) is None


def test_list_values_become_tuples_as_in_the_sdk():
    histogram = fast()
    histogram.record(2, {"k": ["a", "b"]})
    histogram.record(3, {"k": ("a", "b")})
    metric = histogram.collect(0, 1)
    assert metric is not None
    (point,) = metric.data.data_points
    assert point.attributes == {"k": ("a", "b")} and point.count == 2


def test_each_reader_has_its_own_delta_series():
    histogram = fast(deltas=(True, False))
    histogram.record(2, {"k": "v"})
    delta = histogram.collect(0, 1)
    cumulative = histogram.collect(1, 1)
    histogram.record(3, {"k": "v"})
    assert delta is not None and cumulative is not None
    assert delta.data.data_points[0].count == cumulative.data.data_points[0].count == 1
    again_delta, again_cumulative = histogram.collect(0, 2), histogram.collect(1, 2)
    assert again_delta is not None and again_cumulative is not None
    assert again_delta.data.data_points[0].count == 1
    assert again_delta.data.data_points[0].start_time_unix_nano == 1  # continues from the last collection
    assert again_cumulative.data.data_points[0].count == 2


AGAIN = """
import io
import llmtrace
from llmtrace import _core
from replay import openai_client
[cassette] = args

def chat():
    client, _ = openai_client(cassette, interactions=[0])
    client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])

real, sys.stderr = sys.stderr, io.StringIO()  # where the console metric exporter llmtrace builds writes
kinds = []
for _ in range(2):  # the MeterProvider llmtrace installs globally stays: the second run finds it
    handle = llmtrace.instrument(exporter="none", metrics_exporter="console", providers=["openai"])
    kinds.append(type(_core.RUNTIME.metrics.duration).__name__)
    chat()
    handle.uninstrument()  # the first flushes (llmtrace built the provider then)
from opentelemetry import metrics
metrics.get_meter_provider().force_flush()
written, sys.stderr = sys.stderr.getvalue(), real
decoder, at, collections, written = json.JSONDecoder(), 0, [], written.strip()
while at < len(written):  # one JSON document per collection
    document, end = decoder.raw_decode(written, at)
    at = len(written) - len(written[end:].lstrip())
    collections.append([
        point["count"]
        for rm in document["resource_metrics"] for sm in rm["scope_metrics"] for m in sm["metrics"]
        if m["name"] == "gen_ai.client.operation.duration" for point in m["data"]["data_points"]
    ])
print(json.dumps({"kinds": kinds, "collections": collections}))
"""


def test_instrument_again_goes_on_aggregating_in_the_provider_it_built():
    tests_dir = str(Path(__file__).resolve().parent.parent)
    found = run_script(SCRIPT + AGAIN, tests_dir, str(CHAT), drop_env=("OTEL_", "LLMTRACE_"))
    assert found["kinds"] == ["FastHistogram", "FastHistogram"]
    assert found["collections"] == [[1], [2]]  # one cumulative series across both runs, not two


def test_the_same_readers_given_again_keep_their_provider():
    reader = InMemoryMetricReader()
    providers = []
    for _ in range(2):
        handle = llmtrace.instrument(
            metric_readers=[reader], providers=["openai"], raise_internal_errors=True
        )
        providers.append(handle.meter_provider)
        client, _ = openai_client(CHAT, interactions=[0])
        client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
        llmtrace.uninstrument()
    assert providers[0] is providers[1]
    points = metric_points(reader)["gen_ai.client.operation.duration"]
    assert [p.count for p in points] == [2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_child_forked_while_a_lock_is_held_can_still_record():
    histogram = fast()
    with histogram._lock:  # another thread (the metric reader collecting) holds it at fork time
        pid = os.fork()
        if pid == 0:  # the child: a record that waited on the inherited lock would hang; alarm ends it
            signal.alarm(5)
            histogram.record(1, {"k": "v"})
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
