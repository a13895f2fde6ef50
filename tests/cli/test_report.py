"""`llmtrace report` and `llmtrace tree` over files the file exporter wrote; expected figures are computed
from the source spans, never by reading the file back."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections import defaultdict
from datetime import datetime, timezone

import make_spans
import pytest
from chat_app import CASSETTE as CHAT
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmtrace
from llmtrace import _file_export, _report, cli
from llmtrace import _semconv as sc
from llmtrace._export import TreeConsoleExporter
from replay import openai_client

SPANS = 3000


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "traces.jsonl"
    make_spans.write(str(path), SPANS, batch=100)
    return path


def expected(by, since=None, until=None):
    """The report rows, computed from the generated spans themselves."""
    groups = defaultdict(list)
    for span in make_spans.spans(SPANS):
        attrs = span.attributes
        if attrs[sc.GEN_AI_OPERATION_NAME] not in _report.MODEL_OPERATIONS:
            continue
        if (since and span.start_time < since) or (until and span.start_time >= until):
            continue
        names = {
            "model": attrs.get(sc.GEN_AI_REQUEST_MODEL),
            "tenant": attrs.get(sc.LLMTRACE_TENANT_ID),
            "prompt": f"{attrs[sc.GEN_AI_PROMPT_NAME]}@{attrs[sc.GEN_AI_PROMPT_VERSION]}"
            if sc.GEN_AI_PROMPT_NAME in attrs
            else "-",
            "service": "support-bot",
        }
        groups[tuple(names[b] for b in by)].append(span)
    rows = {}
    for key, spans in groups.items():
        durations = sorted((s.end_time - s.start_time) / 1e6 for s in spans)
        rows[key] = {
            "calls": len(spans),
            "errors": sum(sc.ERROR_TYPE in s.attributes for s in spans),
            "input_tokens": sum(s.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in spans),
            "output_tokens": sum(s.attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) for s in spans),
            "cost_usd": sum(s.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] for s in spans),
            "p50_ms": nearest_rank(durations, 0.5),
            "p95_ms": nearest_rank(durations, 0.95),
        }
    return rows


def nearest_rank(ordered, q):
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_rows(got, want, by):
    assert {tuple(row[b] for b in by) for row in got} == set(want)
    for row in got:
        exact = want[tuple(row[b] for b in by)]
        for column in ("calls", "errors", "input_tokens", "output_tokens"):
            assert row[column] == exact[column], column
        assert row["cost_usd"] == pytest.approx(exact["cost_usd"], rel=1e-9)
        for column in ("p50_ms", "p95_ms"):  # the sketch's documented bound
            assert row[column] == pytest.approx(exact[column], rel=0.01), column


def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_report_json_by_model(traces, capsys):
    status, out, _ = run_cli(capsys, "report", str(traces), "--format", "json")
    assert status == 0
    document = json.loads(out)
    assert document["by"] == ["model"]
    assert_rows(document["rows"], expected(["model"]), ["model"])
    assert document["rows"][0]["model"] == "claude-sonnet-4-5"  # the costliest first
    assert document["total"]["calls"] == sum(r["calls"] for r in document["rows"])


def test_report_csv_by_tenant_and_prompt_version(traces, capsys):
    status, out, _ = run_cli(
        capsys, "report", str(traces), "--by", "tenant", "--by", "prompt", "--format", "csv"
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    typed = [
        {
            k: (v if k in ("tenant", "prompt") else float(v) if "." in v or "e" in v else int(v))
            for k, v in r.items()
        }
        for r in rows
    ]
    assert_rows(typed, expected(["tenant", "prompt"]), ["tenant", "prompt"])
    assert {r["prompt"] for r in rows} == {"answer@v1", "answer@v2", "-"}  # embeddings have no prompt


def test_report_time_window(traces, capsys):
    middle = make_spans.START + (SPANS // 10) * 2_000_000_000
    late = make_spans.START + (SPANS // 6) * 2_000_000_000
    iso = datetime.fromtimestamp(middle / 1e9, timezone.utc).isoformat()
    until = datetime.fromtimestamp(late / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, out, _ = run_cli(
        capsys,
        "report",
        str(traces),
        "--by",
        "model,service",
        "--since",
        iso,
        "--until",
        until,
        "--format",
        "json",
    )
    assert status == 0
    want = expected(["model", "service"], since=middle, until=late)
    assert 0 < sum(r["calls"] for r in want.values()) < SPANS / 2
    assert_rows(json.loads(out)["rows"], want, ["model", "service"])


def test_report_table_every_genai_span_by_operation(traces, capsys):
    status, out, _ = run_cli(capsys, "report", str(traces), "--by", "operation", "--all-spans")
    assert status == 0
    lines = out.splitlines()
    header = ["operation", "calls", "errors", "tokens in", "tokens out", "cost", "p50 ms", "p95 ms"]
    assert [cell.strip() for cell in lines[0].split("  ") if cell.strip()] == header
    operations = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines[2:-2]}
    # traces of five spans: agent, chat, embeddings, tool, chat
    assert operations == {"chat": 1200, "embeddings": 600, "invoke_agent": 600, "execute_tool": 600}
    assert lines[-1].split()[:2] == ["total", f"{SPANS:,}"]


def test_report_reads_pieces_in_parallel_exactly_once(traces, monkeypatch):
    query = _report.Query(("model", "tenant"))
    alone = _report.build_report([str(traces)], query, jobs=1)
    monkeypatch.setattr(_report, "CHUNK_BYTES", 50_000)  # cut mid-line, many times
    split = _report.build_report([str(traces)], query, jobs=2)
    assert split.total.calls == alone.total.calls == sum(r["calls"] for r in expected(["model"]).values())
    assert [{**r, "cost_usd": round(r["cost_usd"], 6)} for r in split.rows()] == [
        {**r, "cost_usd": round(r["cost_usd"], 6)} for r in alone.rows()
    ]


def test_report_counts_a_torn_line_and_goes_on(traces, tmp_path, capsys):
    torn = tmp_path / "torn.jsonl"
    odd = (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"},{"attributes":[{}]}]}]}]}\n'
    )
    torn.write_bytes(odd + traces.read_bytes() + b'{"resourceSpans":[{"resou')
    status, out, err = run_cli(capsys, "report", str(torn), "--format", "json")
    assert status == 0
    assert json.loads(out)["total"]["calls"] == sum(r["calls"] for r in expected(["model"]).values())
    assert "skipped 1 unreadable lines" in err and "skipped 2 unreadable spans" in err


def test_report_refuses_unknown_dimensions_and_times(traces, capsys):
    assert run_cli(capsys, "report", str(traces), "--by", "colour")[0] == 2
    status, _, err = run_cli(capsys, "report", str(traces), "--since", "yesterday")
    assert status == 2 and "not a time" in err


def test_relative_and_iso_times():
    now = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
    hour = 3600 * 10**9
    assert _report.parse_time("24h", now) == _report.parse_time("2025-06-14T12:00:00Z")
    assert _report.parse_time("7d", now) == _report.parse_time("2025-06-08T12:00:00+00:00")
    assert (
        _report.parse_time("90m", now)
        == _report.parse_time("2025-06-15T10:30:00")
        == (_report.parse_time("2025-06-15T12:30:00+02:00"))
    )
    assert _report.parse_time("2025-06-15T13:00:00+01:00") - _report.parse_time("2025-06-15") == 12 * hour


def test_quantiles_are_within_one_percent_and_bounded():
    rng = random.Random(3)
    values = [rng.lognormvariate(5, 2) for _ in range(20000)] + [0.0] * 50
    sketch = _report.Quantiles()
    for value in values:
        sketch.add(value)
    ordered = sorted(values)
    for q in (0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0):
        exact = nearest_rank(ordered, q)
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.01, abs=1e-12)
    wide = _report.Quantiles()
    for exponent in range(-3, 9):  # 1 µs to 11 days, in ms
        for step in range(1000):
            wide.add(10**exponent * (1 + step / 100))
    assert len(wide.buckets) < 1500


# --- tree ---------------------------------------------------------------------------------------------


def test_tree_from_the_file_matches_the_console_tree(tmp_path, telemetry, capsys):
    path = tmp_path / "t.jsonl"
    provider = TracerProvider()
    console = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(TreeConsoleExporter(console)))
    provider.add_span_processor(SimpleSpanProcessor(_file_export.FileSpanExporter(path)))
    llmtrace.instrument(providers=["openai"], tracer_provider=provider, raise_internal_errors=True)
    client, _ = openai_client(CHAT, interactions=[0])

    @llmtrace.agent(name="helper")
    def helper():
        with llmtrace.attributes(tenant_id="acme"):
            client.chat.completions.create(
                model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hi"}]
            )

    helper()
    provider.shutdown()
    trace_id = console.getvalue().split()[1]

    status, out, _ = run_cli(capsys, "tree", trace_id[:10], str(path))
    assert status == 0
    assert out == console.getvalue()
    assert "└─ chat gpt-3.5-turbo" in out and "tokens in=15 out=19" in out


def test_tree_names_a_missing_or_ambiguous_trace(traces, capsys):
    status, _, err = run_cli(capsys, "tree", "0" * 32, str(traces))
    assert status == 2 and "no trace" in err
    status, _, err = run_cli(capsys, "tree", "", str(traces))
    assert status == 2 and "not a hex trace id" in err
    first = json.loads(traces.read_bytes().splitlines()[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    status, out, _ = run_cli(capsys, "tree", first["traceId"], str(traces))
    assert status == 0 and out.splitlines()[1].startswith("└─ invoke_agent support")
