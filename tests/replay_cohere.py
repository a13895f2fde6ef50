"""Real cohere clients (``ClientV2``, ``AsyncClientV2``, v1 ``Client``, ``AsyncClient``) whose HTTP replays a
recorded cassette or answers with the shapes Cohere documents, and the provider-contract scenarios for
cohere (tests/contract/cases.py).

cohere takes an ``httpx_client=``; its clients have no close() of their own, so the scenarios close the
httpx client they made (``scenarios.Closing``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from replay import load_cassette
from scenarios import Closing, call, drive, first_then, raised, stream_all

COHERE = Path(__file__).resolve().parent / "cassettes" / "cohere"
V1_CHAT = "chat_v1_command_httpx-ua.yaml"
V2_CHAT = "chat_v2_command.yaml"
V2_STREAM = "chat_v2_stream.yaml"
V2_TOOLS = "chat_v2_tool_calls_two_turns.yaml"
V2_EMBED = "embed_v2_embed-english-light-v3.yaml"


def recorded_request(name: str, index: int = 0) -> dict[str, Any]:
    """The recorded request as SDK arguments (chat / chat_stream set ``stream`` themselves)."""
    body: dict[str, Any] = load_cassette(COHERE / name).interactions[index].request.json()
    body.pop("stream", None)
    return body


# --- clients ---------------------------------------------------------------------------------------


def cohere_client(
    transport: Any, is_async: bool = False, v2: bool = True, **kwargs: Any
) -> tuple[Any, Closing]:
    """A real ClientV2 / AsyncClientV2 (or v1 Client / AsyncClient) whose HTTP goes to `transport`."""
    http = (httpx.AsyncClient if is_async else httpx.Client)(transport=transport)
    import cohere

    names = {(True, False): "ClientV2", (True, True): "AsyncClientV2", (False, False): "Client"}
    cls = getattr(cohere, names.get((v2, is_async), "AsyncClient"))
    kwargs = {"api_key": "test", "base_url": "https://api.cohere.com", **kwargs}
    return cls(httpx_client=http, **kwargs), Closing(http)


def replay(name: str, is_async: bool = False, v2: bool = True, **options: Any) -> tuple[Any, Closing, Any]:
    """A client replaying the recording `name`, what to close, and the transport."""
    transport = load_cassette(COHERE / name).transport(httpx, is_async=is_async, **options)
    client, closing = cohere_client(transport, is_async, v2)
    return client, closing, transport


def answering(body: Any, status: int = 200) -> Any:
    """A transport answering every request with `body` (or ``body(request)``); requests are kept."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        answer = body(request) if callable(body) else body
        return httpx.Response(status, json=answer)

    transport = httpx.MockTransport(handler)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


# tests/privacy's names for them
run = call
read_stream = stream_all


# --- the provider contract (tests/contract/cases.py) ----------------------------------------------

# Cohere's documented error envelope (no error was recorded).
INVALID = {"id": "err-1", "message": "invalid request: model 'command-x' not found"}


def contract_nonstream(is_async: bool) -> Any:
    client, closing, _ = replay(V2_CHAT, is_async)
    return call(closing, client.chat, **recorded_request(V2_CHAT))


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    client, closing, _ = replay(V2_STREAM, is_async)
    params = recorded_request(V2_STREAM)
    if leave_early:
        return drive(closing, lambda: first_then(client.chat_stream(**params)))
    return stream_all(closing, client.chat_stream, **params)


def contract_tool_call(is_async: bool) -> Any:
    client, closing, _ = replay(V2_TOOLS, is_async, interactions=[0])
    return call(closing, client.chat, **recorded_request(V2_TOOLS))


def contract_error(is_async: bool) -> BaseException:
    client, closing = cohere_client(answering(INVALID, status=400), is_async)
    hi = [{"role": "user", "content": "Hi"}]
    return raised(lambda: call(closing, client.chat, model="command-x", messages=hi))


def contract_error_type() -> type[BaseException]:
    import cohere

    return cohere.BadRequestError  # type: ignore[no-any-return]
