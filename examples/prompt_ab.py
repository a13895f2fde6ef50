"""Prompt A/B test with a cost report: two versions of one prompt, N calls each, then cost, tokens and
latency per version.

Each call's span carries ``gen_ai.prompt.name`` and ``gen_ai.prompt.version`` (the text of a
`llmtrace.Prompt` links the call to it), so the comparison is a group-by over spans. Here the spans are
kept in memory and grouped by this script; in a backend it is one query over the same attributes (and
the cost and token metrics carry the prompt version too). With OTEL_EXPORTER_OTLP_ENDPOINT set, the
spans are also sent there.

    python examples/prompt_ab.py --calls 20

Runs against the local stand-in model (examples/standin.py): no API key, no internet.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

MODEL = "gpt-4o-mini"
VERSIONS = [
    llmtrace.Prompt("ticket-summary", "Summarize this support ticket:\n{ticket}", version="A"),
    llmtrace.Prompt(
        "ticket-summary",
        "You are a senior support engineer. Summarize the ticket below for the on-call team in two"
        " sentences: the customer's problem first, then what they already tried.\n\nTicket:\n{ticket}",
        version="B",
    ),
]
TICKETS = [
    "My invoice shows the wrong VAT number since the last update.",
    "The export to CSV times out for reports longer than a year.",
    "I was charged twice for the March subscription.",
    "Password reset emails never arrive at our company domain.",
]


def run(client: Any, calls: int) -> None:
    for i in range(calls):
        for prompt in VERSIONS:  # interleaved, so both versions see the same conditions
            text = prompt.format(ticket=TICKETS[i % len(TICKETS)])
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def report(spans: Sequence[ReadableSpan]) -> str:
    """A table of calls, tokens, cost and latency per prompt name and version."""
    groups: dict[tuple[str, str], list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        attrs = span.attributes or {}
        if "gen_ai.prompt.name" in attrs:
            groups[(str(attrs["gen_ai.prompt.name"]), str(attrs.get("gen_ai.prompt.version")))].append(span)
    header = ["prompt", "version", "calls", "input tok", "output tok", "cost USD", "p50 ms", "p95 ms"]
    rows = [header]
    for (name, version), group in sorted(groups.items()):
        attrs = [s.attributes or {} for s in group]
        latency_ms = [((s.end_time or 0) - (s.start_time or 0)) / 1e6 for s in group]

        def total(key: str, attrs: list[Any] = attrs) -> float:
            return sum(a.get(key, 0) for a in attrs)

        rows.append(
            [
                name,
                version,
                str(len(group)),
                f"{total('gen_ai.usage.input_tokens'):.0f}",
                f"{total('gen_ai.usage.output_tokens'):.0f}",
                f"{total('gen_ai.usage.cost.amount'):.8f}",
                f"{statistics.median(latency_ms):.1f}",
                f"{_nearest_rank(latency_ms, 0.95):.1f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls per prompt version")
    args = parser.parse_args()

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    handle = llmtrace.instrument(tracer_provider=provider, metrics_exporter="none")

    import openai

    with serve() as standin:
        run(openai.OpenAI(base_url=standin.base_url, api_key="not-needed"), args.calls)
    handle.force_flush()
    print(report(memory.get_finished_spans()))
    provider.shutdown()


if __name__ == "__main__":
    main()
