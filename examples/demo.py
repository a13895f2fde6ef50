"""llmtrace demo: a small tool-using RAG support agent, traced end to end, no API key, no internet.

The real `openai` client talks to a local OpenAI-compatible stand-in (examples/standin.py) on
127.0.0.1. The agent retrieves help-center articles, asks the model (prompt "support-answer", versioned),
which calls a tool; the tool result goes back and the final answer streams. A grader then scores the
answer. llmtrace turns it all into GenAI spans with tokens and cost, tagged with the tenant and user,
and the console exporter prints the trace as a tree on stderr.

    python examples/demo.py                                   # trace printed to the terminal
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/demo.py   # sent over OTLP
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

ARTICLES = [
    {"id": "kb-101", "text": "Refunds are issued within 5 business days.", "vector": (0.9, 0.1)},
    {"id": "kb-207", "text": "Orders ship from Paris and Lyon warehouses.", "vector": (0.2, 0.95)},
    {"id": "kb-311", "text": "Rain delays deliveries by one day.", "vector": (0.4, 0.7)},
]

ANSWER = llmtrace.Prompt(
    "support-answer",
    "Answer the customer using these articles:\n{articles}\n\nQuestion: {question}",
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@llmtrace.retriever(data_source="help-center")
def search_articles(query: str, k: int = 2) -> list[dict[str, Any]]:
    """Rank articles by a toy similarity (a real app would query its vector store)."""
    wants_shipping = 1.0 if "deliver" in query or "weather" in query else 0.0
    scored = [
        {**a, "score": round(a["vector"][1] * wants_shipping + a["vector"][0] * 0.2, 3)} for a in ARTICLES
    ]
    return sorted(scored, key=lambda d: d["score"], reverse=True)[:k]


@llmtrace.tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city."""
    return {"city": city, "temperature_c": 14, "conditions": "light rain"}


@llmtrace.agent(name="support-agent", description="Answers delivery questions with help-center articles.")
def answer(client: Any, question: str) -> tuple[str, str]:
    articles = search_articles(question)
    prompt = ANSWER.format(articles="\n".join(a["text"] for a in articles), question=question)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a concise support assistant."},
        {"role": "user", "content": prompt},  # a Prompt's text: the call is linked to its version
    ]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        result = get_weather(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

    with llmtrace.prompt("support-answer", version=ANSWER.version):
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        text = []
        for chunk in stream:
            response_id = chunk.id
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
                print(chunk.choices[0].delta.content, end="", flush=True)
    print(flush=True)
    return "".join(text), response_id


@llmtrace.step
def grade(client: Any, question: str, reply: str, response_id: str) -> float:
    """A cheap relevance check, recorded as a GenAI evaluation of the answer's model call."""
    vectors = client.embeddings.create(model="text-embedding-3-small", input=[question, reply]).data
    score = round(sum(a * b for a, b in zip(vectors[0].embedding, vectors[1].embedding, strict=True)), 3)
    label = "pass" if score > 0.2 else "fail"
    llmtrace.record_evaluation("relevance", score=score, label=label, response_id=response_id)
    return score


@llmtrace.workflow(name="support-ticket")
def handle_ticket(client: Any, question: str) -> None:
    reply, response_id = answer(client, question)
    grade(client, question, reply, response_id)


def main() -> None:
    exporter = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
    handle = llmtrace.instrument(exporter=exporter, service_name="llmtrace-demo")

    import openai  # imported after instrument() on purpose: patching waits for the import

    with serve() as standin:
        client = openai.OpenAI(base_url=standin.base_url, api_key="not-needed")
        question = "Will the weather in Paris delay my delivery?"
        print(f"Q: {question}\nA: ", end="", flush=True)
        with llmtrace.attributes(tenant_id="acme", user_id="user-42", feature="support-chat"):
            handle_ticket(client, question)
    handle.force_flush()
    if exporter == "otlp":
        print(f"Trace exported to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}", file=sys.stderr)


if __name__ == "__main__":
    main()
