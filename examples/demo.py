"""llmtrace demo: a small support agent, traced end to end, with no API key and no internet.

The real `openai` client talks to a local OpenAI-compatible stand-in (examples/standin.py) on
127.0.0.1. The agent asks the model, which calls a tool; the tool result goes back and the final
answer streams. llmtrace turns every model call into a GenAI span with tokens and cost, and the
console exporter prints the trace as a tree on stderr.

    python examples/demo.py                                   # trace printed to the terminal
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/demo.py   # sent over OTLP
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from opentelemetry import trace

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def get_weather(city: str) -> dict[str, object]:
    return {"city": city, "temperature_c": 14, "conditions": "light rain"}


def answer(client, question: str) -> str:
    """One agent turn: the model picks a tool, we run it, the model answers (streamed)."""
    tracer = trace.get_tracer("demo")
    with tracer.start_as_current_span("support-agent"):
        messages: list[dict] = [
            {"role": "system", "content": "You are a concise travel assistant."},
            {"role": "user", "content": question},
        ]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
        message = first.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls or []:
            with tracer.start_as_current_span(f"tool {call.function.name}"):
                result = get_weather(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        text = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
                print(chunk.choices[0].delta.content, end="", flush=True)
        print(flush=True)
        client.embeddings.create(model="text-embedding-3-small", input="".join(text))
        return "".join(text)


def main() -> None:
    exporter = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
    handle = llmtrace.instrument(exporter=exporter, service_name="llmtrace-demo")

    import openai  # imported after instrument() on purpose: patching waits for the import

    with serve() as standin:
        client = openai.OpenAI(base_url=standin.base_url, api_key="not-needed")
        print("Q: What's the weather in Paris?\nA: ", end="", flush=True)
        answer(client, "What's the weather in Paris?")
    handle.force_flush()
    if exporter == "otlp":
        print(f"Trace exported to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}", file=sys.stderr)


if __name__ == "__main__":
    main()
