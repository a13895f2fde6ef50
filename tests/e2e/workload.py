"""An instrumented application for the end-to-end tests, run as its own process.

The real openai client talks to the local stand-in model (examples/standin.py); llmtrace exports over
its default OTLP/HTTP pipeline, configured only by the standard OTEL_* variables the test sets. The app
has its own MeterProvider (an in-memory reader), so the ``llmtrace.export.dropped_spans`` counter can be
read back, and a log handler that keeps every warning.

Commands, one per line on stdin, each answered with one JSON line on stdout:

    ticket        one support ticket: workflow -> agent -> (retriever, chat with a tool call, tool,
                  streamed chat), then embeddings: {"trace_id", "spans", "ms": per-call durations,
                  "usage": per-call [input, output] tokens as the provider reported them}
    flush MS      handle.force_flush(MS): {"ok", "ms"}
    quit (or EOF) shut the tracer provider down: {"shutdown_ms", "dropped": {reason: n}, "warnings"}
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import llmtrace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from standin import serve

SPANS_PER_TICKET = 7
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"{record.name}: {record.getMessage()}")


class App:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.durations: list[float] = []
        self.usage: list[tuple[int, int]] = []

    def call(self, create: Any, **kwargs: Any) -> Any:
        """One SDK call, timed until its result (a stream: its last chunk) is in hand; keeps the usage
        the provider reported."""
        started = time.perf_counter()
        result = create(**kwargs)
        if kwargs.get("stream"):
            result = list(result)
        self.durations.append((time.perf_counter() - started) * 1000)
        usage = result[-1].usage if isinstance(result, list) else result.usage
        self.usage.append((usage.prompt_tokens, getattr(usage, "completion_tokens", 0)))
        return result


@llmtrace.retriever(data_source="help-center")
def search(query: str) -> list[dict[str, Any]]:
    return [
        {"id": "kb-207", "text": "Orders ship from Paris and Lyon warehouses.", "score": 0.91},
        {"id": "kb-311", "text": "Rain delays deliveries by one day.", "score": 0.72},
    ]


@llmtrace.tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city."""
    return {"city": city, "conditions": "light rain"}


@llmtrace.agent(name="support-agent")
def answer(app: App, question: str) -> str:
    articles = search(question)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Answer with these articles: " + " ".join(a["text"] for a in articles)},
        {"role": "user", "content": question},
    ]
    create = app.client.chat.completions.create
    first = app.call(create, model="gpt-4o-mini", messages=messages, tools=[WEATHER])
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for tool_call in message.tool_calls or []:
        result = get_weather(**json.loads(tool_call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": json.dumps(result)})
    chunks = app.call(
        create,
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@llmtrace.workflow(name="support-ticket")
def ticket(app: App, question: str) -> str:
    answer(app, question)
    app.call(app.client.embeddings.create, model="text-embedding-3-small", input=[question])
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


def dropped_metric(reader: InMemoryMetricReader) -> dict[str, int]:
    counts: dict[str, int] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "llmtrace.export.dropped_spans":
                    for point in metric.data.data_points:
                        counts[str(point.attributes["error.type"])] = int(point.value)
    return counts


def main() -> None:
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    warnings = Warnings()
    logging.getLogger().addHandler(warnings)
    handle = llmtrace.instrument(providers=["openai"], raise_internal_errors=True)
    import openai

    def reply(answer: dict[str, Any]) -> None:
        print(json.dumps(answer), flush=True)

    with serve(delay=0.001) as standin:
        app = App(openai.OpenAI(base_url=standin.base_url, api_key="not-needed", max_retries=0))
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "ticket":
                app.durations, app.usage = [], []
                with llmtrace.attributes(tenant_id="acme", user_id="user-42"):
                    trace_id = ticket(app, "Will the weather in Paris delay my delivery?")
                reply(
                    {"trace_id": trace_id, "spans": SPANS_PER_TICKET, "ms": app.durations, "usage": app.usage}
                )
            elif command == "flush":
                started = time.perf_counter()
                ok = handle.tracer_provider.force_flush(int(argument))
                reply({"ok": ok, "ms": (time.perf_counter() - started) * 1000})
            else:
                break
    started = time.perf_counter()
    handle.tracer_provider.shutdown()
    reply(
        {
            "shutdown_ms": (time.perf_counter() - started) * 1000,
            "dropped": dropped_metric(reader),
            "warnings": warnings.seen,
        }
    )


if __name__ == "__main__":
    main()


class Workload:
    """The test's side: runs this file as an application process and sends it commands."""

    def __init__(self, env: dict[str, str]) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
        full.update(env)
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by kill())
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=full,
        )
        self.tickets: list[dict[str, Any]] = []

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise AssertionError(f"the application died on {command!r}:\n{self.stderr.read()[-4000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ticket(self) -> dict[str, Any]:
        answer = self.ask("ticket")
        self.tickets.append(answer)
        return answer

    def flush(self, timeout_ms: int) -> dict[str, Any]:
        return self.ask(f"flush {timeout_ms}")

    def quit(self) -> dict[str, Any]:
        answer = self.ask("quit")
        self.process.wait(30)
        return answer

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stderr.close()
