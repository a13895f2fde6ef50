"""Every program in examples/ runs as a user would run it (a subprocess, the real openai client against the
local stand-in model) and its output and spans are checked, so the examples never rot.

Spans are read back from a local OTLP/HTTP sink on 127.0.0.1 that the examples export to through the
standard OTEL_EXPORTER_OTLP_ENDPOINT variable.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmtrace.pricing import default_prices
from otlp_sink import Sink

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Span:
    name: str
    span_id: bytes
    parent_id: bytes
    start: int
    end: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def decode_spans(requests: Iterable[ExportTraceServiceRequest]) -> list[Span]:
    spans = []
    for request in requests:
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            spans += [
                Span(
                    s.name,
                    s.span_id,
                    s.parent_span_id,
                    s.start_time_unix_nano,
                    s.end_time_unix_nano,
                    {a.key: _value(a.value) for a in s.attributes},
                    resource,
                )
                for ss in rs.scope_spans
                for s in ss.spans
            ]
    return spans


def received_spans(sink: Sink) -> list[Span]:
    """The spans sent to the sink over OTLP/HTTP protobuf."""
    return decode_spans(
        ExportTraceServiceRequest.FromString(body) for path, _, body in sink.received if path == "/v1/traces"
    )


def stored_spans(path: Path) -> list[Span]:
    """The spans in an OTLP/JSON lines file written by the file exporter."""
    lines = path.read_text().splitlines()
    return decode_spans(json_format.Parse(line, ExportTraceServiceRequest()) for line in lines)


def children(spans: list[Span], parent: Span) -> list[Span]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start)


def named(spans: list[Span], name: str) -> list[Span]:
    return [s for s in spans if s.name == name]


def run_example(script: str, *args: str, sink: Sink | None = None) -> subprocess.CompletedProcess[str]:
    """Run examples/<script> with a clean environment; export to `sink` if given, else to the console."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_", "OPENAI_"))}
    env["LLMTRACE_RAISE_INTERNAL_ERRORS"] = "true"  # llmtrace's own bugs fail the example
    if sink is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def assert_priced_call(span: Span, model: str = "gpt-4o-mini") -> None:
    """A model call with provider-reported tokens and the cost the shipped prices give for them."""
    attrs = span.attributes
    price = default_prices()[model]
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == model
    assert attrs["server.address"] == "127.0.0.1"
    tokens_in = attrs["gen_ai.usage.input_tokens"]
    tokens_out = attrs.get("gen_ai.usage.output_tokens", 0)
    assert tokens_in > 0
    assert "llmtrace.usage.estimated" not in attrs
    expected = (tokens_in * price.input + tokens_out * (price.output or 0)) / 1e6
    assert attrs["gen_ai.usage.cost.amount"] == pytest.approx(expected)


def test_quickstart_prints_the_calls_as_trees():
    result = run_example("quickstart.py")
    assert 'Stand-in reply to "Say hello to OpenTelemetry."' in result.stdout
    assert "embedding of 8 dimensions" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("└─ ")]
    assert [line.split("  ")[0] for line in lines] == [
        "└─ chat gpt-4o-mini",
        "└─ chat gpt-4o-mini",
        "└─ embeddings text-embedding-3-small",
    ]
    assert all(re.search(r"tokens in=\d+ .*\$0\.\d+", line) for line in lines[:2]), lines
    assert "first chunk" in lines[1]  # the streamed call


def test_quickstart_exports_over_otlp(sink):
    run_example("quickstart.py", sink=sink)
    spans = received_spans(sink)
    assert [s.name for s in spans] == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
    ]
    assert {s.resource["service.name"] for s in spans} == {"llmtrace-quickstart"}
    plain, streamed, embedding = spans
    for span in spans:
        assert_priced_call(span, span.attributes["gen_ai.request.model"])
    assert "gen_ai.request.stream" not in plain.attributes
    assert streamed.attributes["gen_ai.request.stream"] is True
    assert streamed.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert embedding.attributes["gen_ai.operation.name"] == "embeddings"
    assert not any(k.startswith("gen_ai.input") for s in spans for k in s.attributes)  # content off


def test_demo_trace_is_the_one_the_readme_shows(sink):
    result = run_example("demo.py", sink=sink)
    assert "A: Based on the tool results" in result.stdout
    spans = received_spans(sink)
    [root] = [s for s in spans if not s.parent_id]
    assert root.name == "invoke_workflow support-ticket"
    assert [s.name for s in children(spans, root)] == ["invoke_agent support-agent", "grade"]
    agent, grade = children(spans, root)
    assert [s.name for s in children(spans, agent)] == [
        "retrieval help-center",
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert [s.name for s in children(spans, grade)] == ["embeddings text-embedding-3-small"]
    for span in spans:
        assert span.attributes["llmtrace.tenant.id"] == "acme"
        assert span.attributes["user.id"] == "user-42"
    chats = named(spans, "chat gpt-4o-mini")
    assert [c.attributes["gen_ai.response.finish_reasons"] for c in chats] == [["tool_calls"], ["stop"]]
    for chat in chats:
        assert_priced_call(chat)
        assert chat.attributes["gen_ai.prompt.name"] == "support-answer"
    assert chats[0].attributes["gen_ai.prompt.version"] == chats[1].attributes["gen_ai.prompt.version"]
    logs = [
        ExportLogsServiceRequest.FromString(body) for path, _, body in sink.received if path == "/v1/logs"
    ]
    [evaluation] = [
        r for req in logs for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records
    ]
    assert evaluation.event_name == "gen_ai.evaluation.result"
    assert evaluation.span_id == chats[1].span_id  # the graded answer


def test_fastapi_service_tags_each_request_with_its_tenant(sink):
    result = run_example("fastapi_service.py", sink=sink)
    assert re.findall(r"^(\w+)/(u-\d): \d+ tokens: Stand-in reply", result.stdout, re.MULTILINE) == [
        ("acme", "u-1"),
        ("globex", "u-7"),
        ("acme", "u-2"),
    ]
    spans = received_spans(sink)
    chats = named(spans, "chat gpt-4o-mini")
    # the three requests ran concurrently; each call carries its own request's tenant, user and plan
    seen = sorted(
        (c.attributes["llmtrace.tenant.id"], c.attributes["user.id"], c.attributes["llmtrace.context.plan"])
        for c in chats
    )
    assert seen == [
        ("acme", "u-1", "enterprise"),
        ("acme", "u-2", "enterprise"),
        ("globex", "u-7", "starter"),
    ]
    for chat in chats:
        assert_priced_call(chat)
        assert chat.attributes["llmtrace.feature"] == "answer"
    assert {s.resource["service.name"] for s in spans} == {"support-api"}


def test_rag_agent_runs_tools_concurrently_under_one_agent_span(sink):
    result = run_example("rag_agent.py", sink=sink)
    assert "A: Based on the tool results" in result.stdout and "backlog_orders" in result.stdout
    spans = received_spans(sink)
    [agent] = named(spans, "invoke_agent logistics-agent")
    assert not agent.parent_id
    assert [s.name for s in children(spans, agent)] == [
        "retrieval logistics-kb",
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "execute_tool warehouse_status",
        "chat gpt-4o-mini",
    ]
    retrieval, ask_tools, weather, warehouse, final = children(spans, agent)
    assert [s.name for s in children(spans, retrieval)] == ["embeddings text-embedding-3-small"]
    assert retrieval.attributes["gen_ai.retrieval.top_k"] == 2
    assert retrieval.attributes["llmtrace.retrieval.documents.count"] == 2
    assert ask_tools.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert final.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert weather.start < warehouse.end and warehouse.start < weather.end  # gathered, not sequential
    for chat in (ask_tools, final):
        assert_priced_call(chat)
        assert chat.attributes["session.id"] == "session-1"
    [indexing] = [s for s in named(spans, "embeddings text-embedding-3-small") if not s.parent_id]
    assert "session.id" not in indexing.attributes  # made before the attributes block


def test_prompt_ab_reports_cost_tokens_and_latency_per_version(tmp_path):
    traces = tmp_path / "traces.jsonl"
    result = run_example("prompt_ab.py", "--calls", "3", "--traces", str(traces))
    lines = result.stdout.splitlines()
    assert lines[0] == f"$ llmtrace report {traces} --by prompt"
    assert lines[1].split() == [
        "prompt",
        "calls",
        "errors",
        "tokens",
        "in",
        "tokens",
        "out",
        "cost",
        "p50",
        "ms",
        "p95",
        "ms",
    ]
    rows = {cells[0]: cells[1:] for cells in map(str.split, lines) if cells[0].startswith("ticket-summary@")}
    assert sorted(rows) == ["ticket-summary@A", "ticket-summary@B"]
    price = default_prices()["gpt-4o-mini"]
    for calls, errors, tokens_in, tokens_out, cost, p50, p95 in rows.values():
        assert (calls, errors) == ("3", "0")
        expected = (int(tokens_in) * price.input + int(tokens_out) * (price.output or 0)) / 1e6
        assert float(cost.lstrip("$")) == pytest.approx(expected, abs=1e-8)
        assert 0 < float(p50) <= float(p95)
    assert int(rows["ticket-summary@B"][2]) > int(rows["ticket-summary@A"][2])  # B's longer template
    # the report adds up the spans the file exporter stored
    spans = stored_spans(traces)
    assert sorted(s.attributes["gen_ai.prompt.version"] for s in spans) == ["A"] * 3 + ["B"] * 3
    for version in "AB":
        group = [s for s in spans if s.attributes["gen_ai.prompt.version"] == version]
        tokens = sum(s.attributes["gen_ai.usage.input_tokens"] for s in group)
        assert str(tokens) == rows[f"ticket-summary@{version}"][2]


def test_export_to_phoenix_sends_traces_only_under_the_phoenix_project(sink):
    result = run_example("export_to_phoenix.py", sink=sink)
    assert f"Exporting to http://127.0.0.1:{sink.server_port}/v1/traces" in result.stderr
    assert {path for path, _, _ in sink.received} == {"/v1/traces"}  # no metrics, no logs
    spans = received_spans(sink)
    assert {s.resource["openinference.project.name"] for s in spans} == {"llmtrace-examples"}
    assert {s.resource["service.name"] for s in spans} == {"llmtrace-phoenix-example"}
    [agent] = named(spans, "invoke_agent support-agent")
    assert [s.name for s in children(spans, agent)][1:] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert all(s.attributes["llmtrace.tenant.id"] == "acme" for s in spans)
