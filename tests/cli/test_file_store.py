"""The file exporter: OTLP/JSON lines equal to what the OTLP exporter sends, size rotation, several
processes appending to one file, and the settings that choose it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import llmtrace
from helpers import cost
from llmtrace import _export, _file_export
from llmtrace import _semconv as sc
from llmtrace.config import ConfigError, load_settings
from replay import openai_client

TESTS = Path(__file__).resolve().parent.parent
CHAT = TESTS / "cassettes/openai/chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"


def finished_spans() -> list:
    """Spans of every shape the encoder handles: two scopes, events, links, error status, typed values."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ours = provider.get_tracer("llmtrace", "1.2", schema_url=sc.SCHEMA_URL)
    other = provider.get_tracer("app")
    attributes = {"s": 'é\n"x"', "i": 2**40, "f": 0.25, "b": True, "nan": float("nan"), "l": ["a", "b"]}
    with ours.start_as_current_span("invoke_agent a", kind=SpanKind.INTERNAL, attributes=attributes) as root:
        root.add_event("thought", {"n": 1})
        with other.start_as_current_span(
            "call", kind=SpanKind.CLIENT, links=[Link(root.get_span_context())]
        ) as c:
            c.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def as_protobuf(line: bytes) -> ExportTraceServiceRequest:
    """An OTLP/JSON line parsed into the protobuf message (ids hex -> bytes, as the spec says)."""

    def ids_to_base64(node):
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId")
                else ids_to_base64(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [ids_to_base64(v) for v in node]
        return node

    return json_format.ParseDict(ids_to_base64(json.loads(line)), ExportTraceServiceRequest())


def test_a_line_is_the_otlp_request_the_otlp_exporter_sends():
    spans = finished_spans()
    line = _file_export.encode_line(spans)

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    ours, official = as_protobuf(line), encode_spans(spans)
    # The official encoder leaves out the W3C trace flags (bits 0-7); the OTLP spec puts them there.
    trace_flags = {int(s.context.trace_flags) for s in spans}
    for resource_spans in ours.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                assert {span.flags & 0xFF} == trace_flags
                span.flags &= ~0xFF
                for link in span.links:
                    link.flags &= ~0xFF
    assert ours == official
    [decoded] = [s for ss in json.loads(line)["resourceSpans"][0]["scopeSpans"] for s in ss["spans"]
                 if s["name"] == "invoke_agent a"]  # fmt: skip
    assert decoded["traceId"] == f"{spans[-1].context.trace_id:032x}"  # hex, not base64
    assert {a["key"]: a["value"] for a in decoded["attributes"]}["nan"] == {"doubleValue": "NaN"}


def test_file_exporter_setting_writes_llmtrace_spans_from_a_background_thread(tmp_path, telemetry):
    path = tmp_path / "traces.jsonl"
    settings = load_settings({}, {"LLMTRACE_EXPORTER": f"file:{path}"})
    processor = _export.span_processor(settings)
    assert isinstance(processor, BatchSpanProcessor)  # export is off the caller's thread
    provider = TracerProvider()
    provider.add_span_processor(processor)
    llmtrace.instrument(providers=["openai"], tracer_provider=provider, raise_internal_errors=True)
    client, transport = openai_client(CHAT, interactions=[0])
    writers: list[object] = []
    real_export = _file_export.FileSpanExporter.export

    def spy(self, spans):
        writers.append(spans)
        return real_export(self, spans)

    _file_export.FileSpanExporter.export = spy
    try:
        client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hi"}])
        assert writers == []  # the call returned without writing: the batch goes out later
        provider.force_flush()
    finally:
        _file_export.FileSpanExporter.export = real_export
        provider.shutdown()
    transport.assert_all_played()

    assert writers
    [line] = path.read_bytes().splitlines()
    [span] = [s for r in as_protobuf(line).resource_spans for ss in r.scope_spans for s in ss.spans]
    assert span.name == "chat gpt-3.5-turbo"
    values = {a.key: a.value for a in span.attributes}
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS].int_value == 15
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS].int_value == 19
    expected = cost("gpt-3.5-turbo", input_tokens=15, output_tokens=19)[sc.GEN_AI_USAGE_COST_AMOUNT]
    assert values[sc.GEN_AI_USAGE_COST_AMOUNT].double_value == pytest.approx(expected)


def test_rotation_keeps_the_newest_files(tmp_path):
    path = tmp_path / "t.jsonl"
    spans = finished_spans()
    exporter = _file_export.FileSpanExporter(path, max_bytes=4096, backups=2)
    line = _file_export.encode_line(spans)
    for _ in range(40):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl", "t.jsonl.1", "t.jsonl.2", "t.jsonl.lock"]
    per_file = -(-4096 // len(line))  # lines written before a file reaches max_bytes
    for rotated in (tmp_path / "t.jsonl.1", tmp_path / "t.jsonl.2"):
        assert rotated.read_bytes().splitlines() == [line.rstrip(b"\n")] * per_file
    assert 0 < len(path.read_bytes().splitlines()) < per_file


def test_no_backups_means_the_full_file_is_dropped(tmp_path):
    exporter = _file_export.FileSpanExporter(tmp_path / "t.jsonl", max_bytes=1024, backups=0)
    for _ in range(5):
        assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl.lock"]  # each line filled the file


WRITER = """
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from llmtrace._file_export import FileSpanExporter

memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": sys.argv[2]}))
provider.add_span_processor(SimpleSpanProcessor(memory))
with provider.get_tracer("t").start_as_current_span("s", attributes={"pad": "x" * 300}):
    pass
spans = list(memory.get_finished_spans()) * 3
exporter = FileSpanExporter(sys.argv[1], max_bytes=16384, backups=1000)
for _ in range(150):
    assert exporter.export(spans).name == "SUCCESS"
"""


def test_several_processes_append_whole_lines_and_rotate_safely(tmp_path):
    path = tmp_path / "shared.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"worker-{n}"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()

    files = [p for p in tmp_path.iterdir() if p.suffix != ".lock"]
    assert len(files) > 10  # it rotated, many times, with four writers
    per_service: dict[str, int] = {}
    longest = max(len(line) + 1 for file in files for line in file.read_bytes().splitlines())
    for file in files:
        # Rotated once full: at most one line past the limit from each writer that shared the lock.
        assert file.stat().st_size < 16384 + 4 * longest
        for line in file.read_bytes().splitlines():
            request = json.loads(line)  # never a torn or interleaved line
            for resource in request["resourceSpans"]:
                [service] = [a["value"]["stringValue"] for a in resource["resource"]["attributes"]
                             if a["key"] == "service.name"]  # fmt: skip
                count = sum(len(s["spans"]) for s in resource["scopeSpans"])
                per_service[service] = per_service.get(service, 0) + count
    assert per_service == {f"worker-{n}": 150 * 3 for n in range(4)}  # nothing lost


def test_an_unwritable_file_fails_the_export_quietly(tmp_path):
    (tmp_path / "file").write_text("")
    exporter = _file_export.FileSpanExporter(tmp_path / "file" / "t.jsonl")
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE


def test_exporter_setting_accepts_file_with_or_without_a_path(tmp_path):
    assert _file_export.file_path(load_settings({"exporter": "file"}).exporter) == Path("llmtrace.jsonl")
    named = load_settings(
        {}, {"LLMTRACE_EXPORTER": "file:/var/tmp/t.jsonl", "LLMTRACE_FILE_MAX_BYTES": "2048"}
    )
    assert _file_export.file_path(named.exporter) == Path("/var/tmp/t.jsonl")
    assert (named.file_max_bytes, named.file_backups) == (2048, 5)
    for bad in ("files", "file:", "otlp-http"):
        with pytest.raises(ConfigError, match="'exporter'"):
            load_settings({"exporter": bad})
    with pytest.raises(ConfigError, match="LLMTRACE_FILE_MAX_BYTES"):
        load_settings({}, {"LLMTRACE_FILE_MAX_BYTES": "10"})


@pytest.fixture(autouse=True)
def _no_stray_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default-path file would land here, not in the checkout
    yield
    assert not (Path(os.getcwd()) / "llmtrace.jsonl").exists()
