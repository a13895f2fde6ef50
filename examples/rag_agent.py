"""A tool-using RAG agent (asyncio): embedding search over a small knowledge base, two tools run
concurrently, then the model's final answer.

The trace shows every step under one ``invoke_agent`` span: the ``retrieval`` span (with the query's
``embeddings`` call inside), the first ``chat`` call asking for tools, one ``execute_tool`` span per tool
call (running at the same time), and the ``chat`` call that answers. Tokens and cost are on each model
call and added up on the agent in the printed tree.

    python examples/rag_agent.py
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/rag_agent.py

Runs against the local stand-in model (examples/standin.py): no API key, no internet.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
MAX_TURNS = 4
KNOWLEDGE = [
    "Orders placed before noon leave the warehouse the same day.",
    "The Lyon warehouse closes on public holidays.",
    "Storms can delay road deliveries by up to two days.",
    "Refunds are issued within five business days.",
]


class KnowledgeBase:
    """An in-memory vector store over the provider's embeddings."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rows: list[tuple[str, list[float]]] = []

    async def add(self, texts: list[str]) -> None:
        result = await self.client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
        self.rows += [(text, item.embedding) for text, item in zip(texts, result.data, strict=True)]

    @llmtrace.retriever(data_source="logistics-kb")
    async def search(self, query: str, k: int = 2) -> list[dict[str, Any]]:
        """The `k` passages closest to the query (dot product of unit vectors)."""
        result = await self.client.embeddings.create(model=EMBEDDING_MODEL, input=query)
        q = result.data[0].embedding
        scored = [
            {"id": f"kb-{i}", "text": text, "score": round(sum(a * b for a, b in zip(q, v, strict=True)), 3)}
            for i, (text, v) in enumerate(self.rows)
        ]
        return sorted(scored, key=lambda d: d["score"], reverse=True)[:k]


@llmtrace.tool
async def get_weather(city: str) -> dict[str, Any]:
    """The weather forecast for a city."""
    await asyncio.sleep(0.02)  # a remote API
    return {"city": city, "forecast": "storm warning tomorrow"}


@llmtrace.tool
async def warehouse_status(city: str) -> dict[str, Any]:
    """Whether a city's warehouse is open and its backlog."""
    await asyncio.sleep(0.02)
    return {"city": city, "open": True, "backlog_orders": 12}


TOOLS = {fn.__name__: fn for fn in (get_weather, warehouse_status)}
TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": fn.__doc__,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    for name, fn in TOOLS.items()
]


@llmtrace.agent(name="logistics-agent", description="Answers delivery questions with a knowledge base.")
async def run_agent(client: Any, kb: KnowledgeBase, question: str) -> str:
    passages = await kb.search(question)
    context = "\n".join(f"- {p['text']}" for p in passages)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"Answer with these notes and the tools.\n{context}"},
        {"role": "user", "content": question},
    ]
    for _ in range(MAX_TURNS):
        completion = await client.chat.completions.create(
            model=CHAT_MODEL, messages=messages, tools=TOOL_SCHEMAS
        )
        message = completion.choices[0].message
        if not message.tool_calls:
            return str(message.content)
        messages.append(message.model_dump(exclude_none=True))
        results = await asyncio.gather(
            *(TOOLS[c.function.name](**json.loads(c.function.arguments)) for c in message.tool_calls)
        )
        messages += [
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            for call, result in zip(message.tool_calls, results, strict=True)
        ]
    return "No answer within the turn limit."


async def ask(base_url: str, question: str) -> str:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed")
    kb = KnowledgeBase(client)
    await kb.add(KNOWLEDGE)  # indexing: its own trace, before the question
    with llmtrace.attributes(session_id="session-1", feature="delivery-questions"):
        return await run_agent(client, kb, question)


def main() -> None:
    exporter = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
    handle = llmtrace.instrument(exporter=exporter, service_name="llmtrace-rag-agent")
    question = "Will the weather or the warehouse delay my order from Lyon?"
    with serve() as standin:
        print(f"Q: {question}\nA: {asyncio.run(ask(standin.base_url, question))}")
    handle.force_flush()


if __name__ == "__main__":
    main()
