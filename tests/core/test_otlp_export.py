"""The default pipeline: OTLP/HTTP protobuf to the endpoint from the standard variables, never blocking."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_sink import Sink, running

TESTS = Path(__file__).resolve().parent.parent

SCRIPT = """
import time, llmtrace, fakesdk
from llmtrace.instrumentors import REGISTRY
REGISTRY["fake"] = "fakesdk"
llmtrace.instrument(providers=["fake"])
start = time.perf_counter()
for _ in range(3):
    fakesdk.Client().create(model="gpt-4o-mini")
print(f"{(time.perf_counter() - start) * 1000:.1f}")
llmtrace.record_evaluation("relevance", score=0.9, label="pass", response_id="r-1")
"""


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running() as server:
        yield server


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    full.update(env, PYTHONPATH=str(TESTS))
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], check=False, env=full, capture_output=True, text=True, timeout=60
    )


def test_spans_and_metrics_reach_the_otlp_endpoint_on_exit(sink):
    endpoint = f"http://127.0.0.1:{sink.server_port}"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer sekrit",
    }
    result = run(env)
    assert result.returncode == 0, result.stderr
    paths = [path for path, _, _ in sink.received]
    assert "/v1/traces" in paths and "/v1/metrics" in paths
    spans, resource = [], {}
    for path, headers, body in sink.received:
        assert headers["content-type"] == "application/x-protobuf"
        assert headers["authorization"] == "Bearer sekrit"  # standard header variable honoured
        if path == "/v1/traces":
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                spans += [s for ss in rs.scope_spans for s in ss.spans]
    assert resource["service.name"] == "checkout"
    assert resource["deployment.environment"] == "test"
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    attributes = {a.key: a for a in spans[0].attributes}
    assert attributes["gen_ai.usage.output_tokens"].value.int_value == 3
    assert attributes["gen_ai.usage.cost.amount"].value.double_value > 0
    names = set()
    for path, _, body in sink.received:
        if path == "/v1/metrics":
            for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                names |= {m.name for sm in rm.scope_metrics for m in sm.metrics}
    assert {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.cost",
    } <= names
    # the evaluation event went out as an OTLP log record, parented to the evaluated call's span
    records = [
        record
        for path, _, body in sink.received
        if path == "/v1/logs"
        for rl in ExportLogsServiceRequest.FromString(body).resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    [event] = records
    assert event.event_name == "gen_ai.evaluation.result"
    assert {a.key: a.value for a in event.attributes}["gen_ai.evaluation.score.value"].double_value == 0.9
    assert (event.trace_id, event.span_id) == (spans[-1].trace_id, spans[-1].span_id)


def test_metrics_can_go_elsewhere_or_nowhere(sink):
    endpoint = f"http://127.0.0.1:{sink.server_port}"
    result = run({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "LLMTRACE_METRICS_EXPORTER": "none"})
    assert result.returncode == 0, result.stderr
    assert {path for path, _, _ in sink.received} == {"/v1/traces", "/v1/logs"}  # no /v1/metrics


def test_backend_down_never_blocks_the_calls():
    with Sink() as closed:  # bound then closed: nothing listens on this port
        port = closed.server_port
    started = time.perf_counter()
    result = run(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    )
    assert result.returncode == 0, result.stderr
    calls_ms = float(result.stdout.strip())
    assert calls_ms < 500, "calls must not wait for the exporter"
    assert time.perf_counter() - started < 30
