"""Real ``Groq`` / ``AsyncGroq`` clients whose HTTP replays the recorded cassette or answers with the
shapes Groq documents, and the provider-contract scenarios for groq (tests/contract/cases.py).

The only Groq recording is a stream (groq 0.10.0, llama3-8b-8192, usage under ``x_groq.usage`` in its last
chunk). The non-streamed completion, the tool call, the reasoning reply and the error are built here from
Groq's documented response objects (``GROQ_COMPLETION`` and friends): no recording of them exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from replay import ReplayTransport, load_cassette
from scenarios import call, collect, drive, first_then, raised, resolve

GROQ = Path(__file__).resolve().parent / "cassettes" / "groq"
STREAM = "chat_stream_llama3-8b.yaml"


# --- clients ---------------------------------------------------------------------------------------


def groq_client(transport: Any, is_async: bool = False, **kwargs: Any) -> Any:
    """A real Groq/AsyncGroq whose HTTP goes to `transport` (default base URL, no retries)."""
    import groq

    kwargs = {"api_key": "test", "max_retries": 0, "base_url": "https://api.groq.com", **kwargs}
    http = (httpx.AsyncClient if is_async else httpx.Client)(transport=transport)
    return (groq.AsyncGroq if is_async else groq.Groq)(http_client=http, **kwargs)


def replay(name: str, is_async: bool = False) -> tuple[Any, ReplayTransport]:
    transport = load_cassette(GROQ / name).transport(httpx, is_async=is_async)
    return groq_client(transport, is_async), transport


def answering(body: dict[str, Any], status: int = 200) -> Any:
    """A transport answering every request with `body`; the requests are kept on it."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return httpx.Response(status, json=body, headers={"x-request-id": "req_test"})

    transport = httpx.MockTransport(handler)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def streaming(events: list[dict[str, Any]]) -> Any:
    """A transport answering with `events` as an OpenAI-style event stream."""
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    headers = {"content-type": "text/event-stream"}
    return httpx.MockTransport(lambda request: httpx.Response(200, content=body.encode(), headers=headers))


# --- Groq's documented shapes (no recording exists for these) ------------------------------------

QUESTION = [{"role": "user", "content": "Explain the importance of fast language models"}]
GROQ_COMPLETION = {
    "id": "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22",
    "object": "chat.completion",
    "created": 1730241104,
    "model": "llama-3.3-70b-versatile",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Fast language models are important because ..."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "queue_time": 0.037493756,
        "prompt_tokens": 18,
        "prompt_time": 0.000680594,
        "completion_tokens": 556,
        "completion_time": 0.463333333,
        "total_tokens": 574,
        "total_time": 0.464013927,
    },
    "system_fingerprint": "fp_179b0f92c9",
    "service_tier": "on_demand",
    "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"},
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
TOOL_COMPLETION = {
    **GROQ_COMPLETION,
    "id": "chatcmpl-tool",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_d5wg",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "New York, NY"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 224, "completion_tokens": 18, "total_tokens": 242},
}
REASONING_COMPLETION = {
    **GROQ_COMPLETION,
    "id": "chatcmpl-reasoning",
    "model": "openai/gpt-oss-20b",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "391",
                "reasoning": "17 * 23 = 17 * 20 + 17 * 3 = 391.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 80,
        "completion_tokens": 60,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 41},
    },
}
NOT_FOUND = {
    "error": {
        "message": "The model `llama-9000` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "code": "model_not_found",
    }
}


# --- the provider contract (tests/contract/cases.py) ----------------------------------------------


def contract_nonstream(is_async: bool) -> Any:
    client = groq_client(answering(GROQ_COMPLETION), is_async)
    params = {"model": "llama-3.3-70b-versatile", "messages": QUESTION}
    return call(client, client.chat.completions.create, **params)


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    client, _ = replay(STREAM, is_async)
    params = load_cassette(GROQ / STREAM).interactions[0].request.json()

    async def scenario() -> Any:
        stream = await resolve(client.chat.completions.create(**params))
        return await (first_then(stream) if leave_early else collect(stream))

    return drive(client, scenario)


def contract_tool_call(is_async: bool) -> Any:
    client = groq_client(answering(TOOL_COMPLETION), is_async)
    params = {
        "model": "llama-3.3-70b-versatile",
        "messages": [{"role": "user", "content": "What is the weather in New York?"}],
        "tools": [WEATHER_TOOL],
    }
    return call(client, client.chat.completions.create, **params)


def contract_error(is_async: bool) -> BaseException:
    client = groq_client(answering(NOT_FOUND, status=404), is_async)
    return raised(lambda: call(client, client.chat.completions.create, model="llama-9000", messages=QUESTION))


def contract_error_type() -> type[BaseException]:
    import groq

    return groq.NotFoundError
