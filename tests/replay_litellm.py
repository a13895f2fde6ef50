"""Driving LiteLLM offline: its calls replayed from the openai, anthropic and groq recordings, and the
provider contract's scenarios.

LiteLLM takes the client it talks through as ``client=``: an ``openai.OpenAI``/``AsyncOpenAI`` for the
providers it reaches through the openai SDK, and its own ``HTTPHandler``/``AsyncHTTPHandler`` (built here
over httpx's ``MockTransport``) for the providers it speaks HTTP to itself (Anthropic, Groq, ...).

``LITELLM_LOCAL_MODEL_COST_MAP`` is set before LiteLLM is imported: LiteLLM otherwise fetches its model
map from the network when it is imported. ``HF_HUB_OFFLINE`` too: older LiteLLM releases count a
stream's tokens with a tokenizer they download from Hugging Face (with retries and back-off, which a
test without network would sit through).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# litellm pins openai < 3, so it cannot share an environment with the newest openai: where it is not
# installed, the tests that drive it skip (nox runs them in a session of their own).
pytest.importorskip("litellm", reason="litellm is not installed here (it requires openai<3)")

from replay import ReplayTransport, load_cassette, openai_client

CASSETTES = Path(__file__).resolve().parent / "cassettes"


def openai_route(
    cassette: Path, *, is_async: bool = False, interactions: Sequence[int] | None = None
) -> tuple[dict[str, Any], ReplayTransport]:
    """``completion()`` keywords that send an openai-SDK route through a replayed openai client."""
    client, transport = openai_client(cassette, is_async=is_async, interactions=interactions)
    return {"client": client, "api_key": "test"}, transport


def http_route(
    cassette: Path, *, is_async: bool = False, interactions: Sequence[int] | None = None
) -> tuple[dict[str, Any], ReplayTransport]:
    """``completion()`` keywords that send a route LiteLLM speaks HTTP to itself through a replay."""
    import httpx

    transport = load_cassette(cassette).transport(httpx, interactions=interactions, is_async=is_async)
    return {"client": _handler(httpx, transport, is_async), "api_key": "test"}, transport


def _handler(httpx: Any, transport: Any, is_async: bool) -> Any:
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler

    if not is_async:
        return HTTPHandler(client=httpx.Client(transport=transport))
    handler = AsyncHTTPHandler()  # its client is settable on every release (a constructor argument is not)
    handler.client = httpx.AsyncClient(transport=transport)
    return handler


def mock_route(status: int, body: dict[str, Any], *, is_async: bool = False) -> dict[str, Any]:
    """``completion()`` keywords for a hand-made HTTP answer (no recording of an Anthropic error exists)."""
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return {"client": _handler(httpx, transport, is_async), "api_key": "test"}


def run(is_async: bool, function: str, **params: Any) -> Any:
    """``litellm.<function>(**params)``, or ``await litellm.a<function>(**params)`` when `is_async`."""
    import litellm

    if is_async:
        return asyncio.run(getattr(litellm, f"a{function}")(**params))
    return getattr(litellm, function)(**params)


def stream(is_async: bool, *, stop_after: int | None = None, **params: Any) -> list[Any]:
    """Call ``completion``/``acompletion`` with ``stream=True`` and read the chunks (`stop_after` of them,
    then leave the loop without closing)."""
    import litellm

    params["stream"] = True

    def read(chunks: list[Any], chunk: Any) -> bool:
        chunks.append(chunk)
        return len(chunks) == stop_after

    if not is_async:
        chunks: list[Any] = []
        for chunk in litellm.completion(**params):
            if read(chunks, chunk):
                break
        return chunks

    async def main() -> list[Any]:
        chunks: list[Any] = []
        async for chunk in await litellm.acompletion(**params):
            if read(chunks, chunk):
                break
        return chunks

    return asyncio.run(main())


def raises(is_async: bool, function: str, **params: Any) -> BaseException:
    """The exception ``run(is_async, function, **params)`` raised."""
    try:
        run(is_async, function, **params)
    except Exception as exc:
        return exc
    raise AssertionError("the call was expected to raise")


# --- the provider contract: calls LiteLLM routes to Anthropic, which it speaks HTTP to itself -------

ANTHROPIC = CASSETTES / "anthropic"
_JOKE = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]
_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def contract_nonstream(is_async: bool) -> Any:
    route, _ = http_route(ANTHROPIC / "messages_nonstream_claude-3-opus_sdk0.21.yaml", is_async=is_async)
    return run(
        is_async,
        "completion",
        model="anthropic/claude-3-opus-20240229",
        max_tokens=1024,
        messages=_JOKE,
        **route,
    )


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    route, _ = http_route(ANTHROPIC / "messages_stream_claude-3-haiku_sdk0.36.yaml", is_async=is_async)
    chunks = stream(
        is_async,
        stop_after=1 if leave_early else None,
        model="anthropic/claude-3-haiku-20240307",
        max_tokens=1024,
        messages=_JOKE,
        **route,
    )
    return chunks[0] if leave_early else chunks


def contract_tool_call(is_async: bool) -> Any:
    route, _ = http_route(ANTHROPIC / "messages_tool_use_claude-3-5-sonnet_sdk0.36.yaml", is_async=is_async)
    question = "What is the weather like right now in New York? Also what time is it there now?"
    return run(
        is_async,
        "completion",
        model="anthropic/claude-3-5-sonnet-20240620",
        max_tokens=1024,
        messages=[{"role": "user", "content": question}],
        tools=[_WEATHER_TOOL],
        **route,
    )


def contract_error(is_async: bool) -> BaseException:
    envelope = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: invalid"}}
    route = mock_route(400, envelope, is_async=is_async)
    return raises(
        is_async, "completion", model="anthropic/claude-sonnet-4-6", max_tokens=1, messages=_JOKE, **route
    )


def contract_error_type() -> type[BaseException]:
    import litellm

    return litellm.BadRequestError
