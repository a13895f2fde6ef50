"""Real ``ollama.Client`` / ``AsyncClient`` whose HTTP replays a recorded cassette or answers with the shapes
Ollama's API documents, and the provider-contract scenarios for ollama (tests/contract/cases.py).

The client passes extra keyword arguments to its httpx client, so the replay is its ``transport=``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from replay import load_cassette
from scenarios import Closing, call, drive, first_then, raised, resolve, stream_all

OLLAMA = Path(__file__).resolve().parent / "cassettes" / "ollama"
STREAM = "chat_stream_ndjson_llama3.yaml"
THINKING = "chat_nonstream_qwen3_thinking_headers_stripped.yaml"
TOOLS = "chat_tool_call_callable_qwen3.yaml"
HOST = "http://127.0.0.1:11434"


# --- cassette contents (the oracle) --------------------------------------------------------------


def recorded(name: str) -> tuple[dict[str, Any], Any]:
    """The recorded request body and the response body (one JSON object, or NDJSON lines as a list)."""
    interaction = load_cassette(OLLAMA / name).interactions[0]
    text = interaction.response.text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return interaction.request.json(), lines if len(lines) > 1 else lines[0]


# --- clients ---------------------------------------------------------------------------------------


def ollama_client(transport: Any, is_async: bool = False) -> Any:
    """A real Client / AsyncClient whose HTTP goes to `transport`."""
    import ollama

    return (ollama.AsyncClient if is_async else ollama.Client)(host=HOST, transport=transport)


def closing(client: Any) -> Closing:
    """What ``drive()`` closes: the client's httpx client (ollama < 0.4 clients have no close())."""
    return Closing(client._client)


def replay(name: str, is_async: bool = False, **options: Any) -> tuple[Any, Closing, Any]:
    transport = load_cassette(OLLAMA / name).transport(httpx, is_async=is_async, **options)
    client = ollama_client(transport, is_async)
    return client, closing(client), transport


def answering(body: Any, status: int = 200) -> Any:
    """A transport answering every request with `body` (a list: NDJSON lines); requests are kept."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        if isinstance(body, list):
            lines = "".join(json.dumps(line) + "\n" for line in body)
            return httpx.Response(
                status, content=lines.encode(), headers={"content-type": "application/x-ndjson"}
            )
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handler)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def run(closing: Closing, method: Any, *args: Any, **params: Any) -> Any:
    """``method(*args, **params)`` to completion; a stream is read to its end (for tests/privacy)."""
    return (stream_all if params.get("stream") else call)(closing, method, *args, **params)


# --- the provider contract (tests/contract/cases.py) ----------------------------------------------

# Ollama's documented error answer (no error was recorded).
MISSING = {"error": 'model "llama-9000" not found, try pulling it first'}


def contract_nonstream(is_async: bool) -> Any:
    params, _ = recorded(THINKING)
    client, closes, _ = replay(THINKING, is_async)
    return call(closes, client.chat, params["model"], params["messages"])


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    params, _ = recorded(STREAM)
    client, closes, _ = replay(STREAM, is_async)
    if not leave_early:
        return stream_all(closes, client.chat, params["model"], params["messages"], stream=True)

    async def scenario() -> Any:
        return await first_then(await resolve(client.chat(params["model"], params["messages"], stream=True)))

    return drive(closes, scenario)


def contract_tool_call(is_async: bool) -> Any:
    params, _ = recorded(TOOLS)
    client, closes, _ = replay(TOOLS, is_async)
    return call(closes, client.chat, params["model"], params["messages"], tools=params["tools"])


def contract_error(is_async: bool) -> BaseException:
    client = ollama_client(answering(MISSING, status=404), is_async)
    hi = [{"role": "user", "content": "Hi"}]
    return raised(lambda: call(closing(client), client.chat, "llama-9000", hi))


def contract_error_type() -> type[BaseException]:
    import ollama

    return ollama.ResponseError  # type: ignore[no-any-return]
