"""Writes a synthetic trace file shaped like llmtrace's own output, for tests and the report benchmark.

    python tests/cli/make_spans.py traces.jsonl 1000000

Spans are real SDK ``ReadableSpan`` objects encoded by the file exporter, 512 to a line (the
BatchSpanProcessor's batch size): traces of an agent span with two chat calls, an embeddings call and a
tool call, across 4 models, 50 tenants, 3 features and 2 prompt versions; 2% of the calls fail.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from llmtrace import _semconv as sc
from llmtrace._file_export import encode_line

MODELS = {"gpt-4o-mini": (0.15, 0.6), "gpt-4o": (2.5, 10.0), "claude-sonnet-4-5": (3.0, 15.0),
          "text-embedding-3-small": (0.02, 0.0)}  # fmt: skip
RESOURCE = Resource.create({"service.name": "support-bot"})
SCOPE = InstrumentationScope("llmtrace", "0.1.0", sc.SCHEMA_URL)
START = 1_750_000_000 * 10**9  # 2025-06-15T15:06:40Z
OK = Status(StatusCode.UNSET)


def spans(count: int, seed: int = 7) -> Iterator[ReadableSpan]:
    """`count` spans in traces of five: agent, chat, embeddings, tool, chat."""
    rng = random.Random(seed)
    made = 0
    trace = 0
    while made < count:
        trace += 1
        trace_id = rng.getrandbits(128) | 1
        root = SpanContext(trace_id, rng.getrandbits(64) | 1, False, TraceFlags(1))
        begin = START + trace * 2_000_000_000
        who = {
            sc.LLMTRACE_TENANT_ID: f"tenant-{rng.randrange(50)}",
            sc.LLMTRACE_FEATURE: rng.choice(("chat", "search", "summary")),
            sc.USER_ID: f"user-{rng.randrange(1000)}",
        }
        prompt = {sc.GEN_AI_PROMPT_NAME: "answer", sc.GEN_AI_PROMPT_VERSION: rng.choice(("v1", "v2"))}
        steps = [("chat", rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"]))]
        steps += [("embeddings", "text-embedding-3-small"), ("tool", None), ("chat", steps[0][1])]
        at = begin + 1_000_000
        children = []
        for kind, model in steps:
            context = SpanContext(trace_id, rng.getrandbits(64) | 1, False, TraceFlags(1))
            took = int(rng.lognormvariate(6.0, 0.8) * 1_000_000)  # ~400 ms median
            attributes: dict[str, object] = dict(who)
            status = OK
            if kind == "tool":
                name = "execute_tool lookup"
                attributes |= {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: "lookup"}
            else:
                assert model is not None
                name = f"{kind} {model}"
                tokens_in, tokens_out = (
                    rng.randrange(50, 4000),
                    (rng.randrange(5, 800) if kind == "chat" else 0),
                )
                price_in, price_out = MODELS[model]
                cost_in, cost_out = tokens_in * price_in / 1e6, tokens_out * price_out / 1e6
                attributes |= {
                    sc.GEN_AI_OPERATION_NAME: kind,
                    sc.GEN_AI_PROVIDER_NAME: "anthropic" if model.startswith("claude") else "openai",
                    sc.GEN_AI_REQUEST_MODEL: model,
                    sc.SERVER_ADDRESS: "api.openai.com",
                    sc.SERVER_PORT: 443,
                    sc.GEN_AI_RESPONSE_MODEL: model + "-2025-01-01",
                    sc.GEN_AI_RESPONSE_ID: f"resp-{rng.getrandbits(48):x}",
                    sc.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
                    sc.GEN_AI_USAGE_COST_AMOUNT: cost_in + cost_out,
                    sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
                    sc.GEN_AI_USAGE_COST_SOURCE: "local",
                    sc.LLMTRACE_COST_INPUT_USD: cost_in,
                }
                if kind == "chat":
                    attributes |= prompt | {
                        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
                        sc.GEN_AI_REQUEST_MAX_TOKENS: 1024,
                        sc.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
                        sc.LLMTRACE_COST_OUTPUT_USD: cost_out,
                        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                    }
                if rng.random() < 0.02:
                    attributes[sc.ERROR_TYPE] = "RateLimitError"
                    status = Status(StatusCode.ERROR, "rate limited")
            children.append(_span(name, context, root, at, at + took, attributes, status, SpanKind.CLIENT))
            at += took + 1_000_000
        agent = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: "support", **who}
        for span in [_span("invoke_agent support", root, None, begin, at, agent, OK, SpanKind.INTERNAL)]:
            children.append(span)
        for span in children[: count - made]:
            yield span
            made += 1


def _span(name, context, parent, start, end, attributes, status, kind) -> ReadableSpan:
    return ReadableSpan(
        name=name, context=context, parent=parent, resource=RESOURCE, attributes=attributes,
        kind=kind, status=status, start_time=start, end_time=end, instrumentation_scope=SCOPE,
    )  # fmt: skip


def write(path: str, count: int, batch: int = 512) -> None:
    """`count` spans to `path`, one OTLP/JSON line per `batch`."""
    with open(path, "wb") as out:
        pending: list[ReadableSpan] = []
        for span in spans(count):
            pending.append(span)
            if len(pending) == batch:
                out.write(encode_line(pending))
                pending.clear()
        if pending:
            out.write(encode_line(pending))


if __name__ == "__main__":
    write(sys.argv[1], int(sys.argv[2]))
