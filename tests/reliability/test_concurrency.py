"""Concurrency: 100 threads and 1,000 asyncio tasks make calls at once through one shared real openai
client (over an in-process transport), each under its own parent span, context attributes and prompt
version. Every llmtrace span must have its caller's parent and its caller's attributes: none crossed over.

The transport answers each request with a response id naming the caller (taken from the request body),
so a span that got another caller's response would show it too.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Any

import openai
from figures import FIGURES
from fuzz_bodies import seed
from opentelemetry.trace import SpanKind

import llmtrace
from llmtrace import _semconv as sc
from replay import openai_httpx_module

THREADS = 100
TASKS = 1_000
COMPLETION = seed("openai/chat_nonstream_n2_multiple_choices.yaml").document
CALLER = re.compile(r"caller-(\d+)")


def _answer(request: Any) -> Any:
    caller = CALLER.search(json.loads(request.content)["messages"][0]["content"]).group(1)  # type: ignore[union-attr]
    body = {**COMPLETION, "id": f"chatcmpl-{caller}"}
    return openai_httpx_module().Response(200, json=body)


def _params(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"caller-{i}"}]}


def _scopes(i: int) -> tuple[Any, Any]:
    return llmtrace.attributes(tenant_id=f"tenant-{i}", user_id=f"user-{i}"), llmtrace.prompt(
        "answer", version=f"v{i}"
    )


def assert_no_crossover(t: Any, callers: int) -> None:
    spans = t.spans()
    parents = {s.context.span_id: s for s in spans if s.name.startswith("request ")}
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(parents) == callers
    assert len(calls) == callers
    for span in calls:
        parent = parents[span.parent.span_id]  # the caller's own span
        i = parent.name.removeprefix("request ")
        attributes = span.attributes
        assert span.context.trace_id == parent.context.trace_id
        assert attributes[sc.LLMTRACE_TENANT_ID] == f"tenant-{i}"
        assert attributes[sc.USER_ID] == f"user-{i}"
        assert attributes[sc.GEN_AI_PROMPT_NAME] == "answer"
        assert attributes[sc.GEN_AI_PROMPT_VERSION] == f"v{i}"
        assert attributes[sc.GEN_AI_RESPONSE_ID] == f"chatcmpl-{i}"
        assert parent.attributes[sc.LLMTRACE_TENANT_ID] == f"tenant-{i}"  # on the caller's span too


def test_100_threads_keep_their_own_parent_and_attributes(instrument):
    t = instrument(providers=["openai"])
    tracer = t.tracer_provider.get_tracer("app")
    httpx = openai_httpx_module()
    client = openai.OpenAI(
        api_key="test",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(_answer)),
    )
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def caller(i: int) -> None:
        try:
            start.wait()
            attributes, prompt = _scopes(i)
            with attributes, prompt, tracer.start_as_current_span(f"request {i}"):
                client.chat.completions.create(**_params(i))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert_no_crossover(t, THREADS)
    FIGURES["concurrent threads (one call each, all checked)"] = THREADS


def test_1000_asyncio_tasks_keep_their_own_parent_and_attributes(instrument):
    t = instrument(providers=["openai"])
    tracer = t.tracer_provider.get_tracer("app")
    httpx = openai_httpx_module()

    async def answer(request: Any) -> Any:
        await asyncio.sleep(0)  # let the other tasks run mid-call
        return _answer(request)

    async def main() -> None:
        client = openai.AsyncOpenAI(
            api_key="test",
            base_url="https://api.openai.com/v1",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
        )

        async def caller(i: int) -> None:
            attributes, prompt = _scopes(i)
            with attributes, prompt, tracer.start_as_current_span(f"request {i}"):
                await asyncio.sleep(0)
                await client.chat.completions.create(**_params(i))

        await asyncio.gather(*(caller(i) for i in range(TASKS)))
        await client.close()

    asyncio.run(main())
    assert_no_crossover(t, TASKS)
    FIGURES["concurrent asyncio tasks (one call each, all checked)"] = TASKS
