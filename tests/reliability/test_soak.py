"""Many streamed calls leave no live objects behind: llmtrace's per-call state goes with the call, and its
caches stay within their bounds (issue 7: no memory growth over many calls).

Real OpenAI SDK, SSE stream served by an httpx MockTransport with a fresh response id per call, content
capture on. ``sys.getallocatedblocks()`` counts live Python objects whatever the allocator keeps, so the
check does not depend on RSS.
"""

from __future__ import annotations

import gc
import itertools
import json
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import llmtrace
from llmtrace import _core
from replay import openai_httpx_module

KEPT = 50  # the response-id map's bound, made small so the warm-up fills it
WARMUP = 300  # what the SDK and httpx warm up (re and freelists) is done by then
CALLS = 500


class Dropping(SpanExporter):
    """Counts the spans and keeps none (an in-memory exporter would itself grow)."""

    def __init__(self) -> None:
        self.count = 0
        self.last: ReadableSpan | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        self.last = spans[-1]
        return SpanExportResult.SUCCESS


def _stream_client() -> openai.OpenAI:
    ids = itertools.count()

    def body() -> bytes:
        common = {"id": f"chatcmpl-{next(ids)}", "created": 1, "model": "gpt-4o-mini-2024-07-18"}
        common["object"] = "chat.completion.chunk"
        usage = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
        deltas = [{"role": "assistant", "content": ""}, *({"content": f"word{i} "} for i in range(8)), {}]
        events = [
            {**common, "choices": [{"index": 0, "delta": d, "finish_reason": None if d else "stop"}]}
            for d in deltas
        ]
        events.append({**common, "choices": [], "usage": usage})
        return ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()

    hx = openai_httpx_module()

    def handler(request: Any) -> Any:
        return hx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    http = hx.Client(transport=hx.MockTransport(handler))
    return openai.OpenAI(
        api_key="test", base_url="https://api.openai.com/v1", max_retries=0, http_client=http
    )


def _calls(client: openai.OpenAI) -> Callable[[int], None]:
    messages = [{"role": "user", "content": "Why is the sky blue?"}]

    def run(n: int) -> None:
        for _ in range(n):
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
            )
            for _ in stream:
                pass

    return run


def test_streamed_calls_leave_no_live_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "_responses", OrderedDict())
    monkeypatch.setattr(_core, "_RESPONSES_KEPT", KEPT)
    exporter = Dropping()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])  # never collected: no growth
    llmtrace.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=True,
        raise_internal_errors=True,
    )
    try:
        run = _calls(_stream_client())
        run(WARMUP)
        gc.collect()
        before = sys.getallocatedblocks()
        run(CALLS)
        gc.collect()
        growth = sys.getallocatedblocks() - before
    finally:
        llmtrace.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    assert exporter.count == WARMUP + CALLS
    last = exporter.last
    assert last is not None and last.attributes is not None
    assert last.attributes["gen_ai.response.id"] == f"chatcmpl-{WARMUP + CALLS - 1}"
    assert "word7" in str(last.attributes["gen_ai.output.messages"])  # content was captured
    assert len(_core._responses) == KEPT
    # One object kept per call would be 500 blocks; Python's free lists move the count by up to ~100
    # either way (seen here: -43 to +80).
    assert growth < 150, f"{growth} more live memory blocks after {CALLS} calls"
