"""Exit with the default OTLP pipeline: prompt and quiet when the backend is down or slow (one budget,
shared by the traces, metrics and logs providers llmtrace created), and complete when it is up.

Each run is a new interpreter that makes a few calls with the real openai client (HTTP answered by an
in-process transport), records an evaluation, prints the monotonic clock and ends: no flush, no shutdown.
The exit time is from that print to the process being gone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from llmtrace import _export
from llmtrace._reliable_export import ReliableSpanProcessor
from llmtrace.config import ConfigError, load_settings
from otlp_sink import Sink, running

CALLS = 3
EXIT_BOUND = 6.0  # seconds; generous for a loaded CI machine (measured: well under 1 s, 2 s when slow)

SCRIPT = rf"""
import os, time
import httpx, openai, llmtrace

MESSAGE = {{"role": "assistant", "content": "hi"}}
BODY = {{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{{"index": 0, "message": MESSAGE, "finish_reason": "stop"}}],
        "usage": {{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}}}


def answer(request):
    return httpx.Response(200, json=BODY)


handle = llmtrace.instrument(providers=["openai"])
client = openai.OpenAI(api_key="test", base_url="https://api.openai.com/v1", max_retries=0,
                       http_client=httpx.Client(transport=httpx.MockTransport(answer)))
for i in range({CALLS}):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": f"q{{i}}"}}])
llmtrace.record_evaluation("relevance", score=0.9, response_id="chatcmpl-1")
if os.environ.get("FLUSH"):
    started = time.monotonic()
    handle.force_flush()
    print("flush", time.monotonic() - started)
print("end", time.monotonic(), flush=True)
"""


@dataclass
class Exit:
    returncode: int
    seconds: float
    """From the script's last line to the process being gone."""
    flush_seconds: float | None
    stderr_lines: list[str]


def run(endpoint: str, **env: str) -> Exit:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    full.update(env, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=120, check=False
    )
    gone = time.monotonic()
    assert done.returncode == 0, done.stderr
    marks = dict(line.split() for line in done.stdout.splitlines())
    flush = float(marks["flush"]) if "flush" in marks else None
    return Exit(done.returncode, gone - float(marks["end"]), flush, done.stderr.splitlines())


def closed_port() -> str:
    with Sink() as closed:  # bound, then closed: connections are refused
        return closed.endpoint


def assert_one_warning(lines: list[str]) -> None:
    """llmtrace's one drop warning and nothing else: no OTel exporter line, no traceback."""
    [line] = lines
    assert line.startswith("llmtrace: dropping "), line
    assert "Further drops are not logged" in line


@pytest.mark.parametrize("flush", [False, True], ids=["exit", "flush-then-exit"])
def test_backend_down_exit_is_prompt_and_logs_one_warning(flush: bool) -> None:
    result = run(closed_port(), **({"FLUSH": "1"} if flush else {}))
    print(f"backend down: exit {result.seconds:.2f} s, flush {result.flush_seconds}")
    # Before: ~12 s at exit (each signal's exporter retrying for up to its 10 s timeout), 9 log lines.
    assert result.seconds < EXIT_BOUND
    if flush:
        assert result.flush_seconds is not None
        assert result.flush_seconds < 3.0  # fails fast: one attempt per export, not the 5 s timeout
    assert_one_warning(result.stderr_lines)


def test_backend_up_everything_arrives_at_exit() -> None:
    with running() as sink:
        result = run(sink.endpoint)
        received = list(sink.received)
        spans = sink.spans()
    print(f"backend up: exit {result.seconds:.2f} s")
    assert result.seconds < EXIT_BOUND
    assert result.stderr_lines == []
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * CALLS
    counts: dict[str, int] = {}
    for path, _, body in received:
        if path == "/v1/metrics":
            for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                for metric in (m for sm in rm.scope_metrics for m in sm.metrics):
                    points = metric.histogram.data_points
                    counts[metric.name] = counts.get(metric.name, 0) + sum(p.count for p in points)
    assert counts["gen_ai.client.operation.duration"] == CALLS  # every call's measurement
    assert counts["gen_ai.client.token.usage"] == 2 * CALLS  # input and output
    assert counts["gen_ai.client.operation.cost"] == CALLS
    records = [
        record
        for path, _, body in received
        if path == "/v1/logs"
        for rl in ExportLogsServiceRequest.FromString(body).resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    assert [r.event_name for r in records] == ["gen_ai.evaluation.result"]


def test_slow_backend_exit_is_bounded_by_the_budget() -> None:
    with running() as sink:
        sink.delay = 4.0  # seconds per request: each of the three signals would hold the exit that long
        result = run(sink.endpoint)
        attempts = sink.requests
    print(f"slow backend (4 s/request): exit {result.seconds:.2f} s")
    assert attempts >= 1  # it was tried
    assert result.seconds < EXIT_BOUND  # the 2 s budget, not 3 x 4 s
    assert_one_warning(result.stderr_lines)


def test_the_budget_comes_from_the_setting_or_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLMTRACE_SHUTDOWN_TIMEOUT", "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)

    def budget(**kwargs: float) -> float:
        return _export.shutdown_seconds(load_settings(kwargs))

    assert budget() == 2.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")  # seconds, as the OTLP exporter reads it
    assert budget() == 7.0
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "3000")  # milliseconds
    assert budget() == 3.0
    monkeypatch.setenv("LLMTRACE_SHUTDOWN_TIMEOUT", "0.5")
    assert budget() == 0.5
    assert budget(shutdown_timeout=0) == 0.0  # leave at once: drop what is left
    with pytest.raises(ConfigError, match="shutdown_timeout"):
        budget(shutdown_timeout=-1)


def test_only_llmtrace_exports_are_kept_out_of_the_applications_log(caplog: pytest.LogCaptureFixture) -> None:
    """The application's own OTLP exporter, of the same class and in the same process, still logs."""
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("test").start_span("span")
    span.end()
    caplog.set_level(logging.DEBUG)
    with running() as sink:
        sink.status = 400  # refused for good: the exporter logs an error, whatever its version
        endpoint = f"{sink.endpoint}/v1/traces"
        ours = ReliableSpanProcessor(OTLPSpanExporter(endpoint=endpoint), export_timeout_millis=500)
        ours.on_end(span)  # type: ignore[arg-type]
        assert not ours.force_flush(2000)
        ours.shutdown()
        assert otel_warnings(caplog) == []
        assert any(r.name == "llmtrace" and "400" in r.getMessage() for r in caplog.records)  # at DEBUG

        app = OTLPSpanExporter(endpoint=endpoint)
        assert app.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert otel_warnings(caplog) != []


def otel_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.WARNING]
