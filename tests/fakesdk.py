"""A minimal fake provider SDK and its instrumentor, for the core's lifecycle tests only.

Provider behaviour is tested against the real SDKs; this exercises what no recording can:
streams broken, closed, dropped, cancelled, failing mid-way, and llmtrace's own failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Usage


class ProviderError(Exception):
    """What the fake SDK raises."""


class Stream:
    def __init__(self, items: list[str], fail_at: int | None) -> None:
        self.items = list(items)
        self.fail_at = fail_at
        self.position = 0
        self.closed = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        if self.fail_at is not None and self.position == self.fail_at:
            raise ProviderError("connection reset mid-stream")
        if self.position >= len(self.items):
            raise StopIteration
        self.position += 1
        return self.items[self.position - 1]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncStream:
    def __init__(self, items: list[str], fail_at: int | None, delay: float) -> None:
        self.sync = Stream(items, fail_at)
        self.delay = delay

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            return next(self.sync)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self.sync.closed = True

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class Client:
    def create(self, *, model: str, stream: bool = False, items: Any = ("a", "b", "c"), fail_at: Any = None,
               error: Exception | None = None, prompt: str = "hi", usage: bool = True) -> Any:  # fmt: skip
        if error is not None:
            raise error
        if stream:
            return Stream(list(items), fail_at)
        return {"id": "r-1", "model": model, "text": "".join(items), "usage": usage}


class AsyncClient:
    async def create(self, *, model: str, stream: bool = False, items: Any = ("a", "b", "c"),
                     fail_at: Any = None, delay: float = 0.0) -> Any:  # fmt: skip
        await asyncio.sleep(0)
        if stream:
            return AsyncStream(list(items), fail_at, delay)
        return {"id": "r-1", "model": model, "text": "".join(items)}


# --- its instrumentor --------------------------------------------------------------------------


def request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    prompt = kwargs.get("prompt", "hi")
    return LLMRequest(
        operation="chat",
        provider="fake",
        model=kwargs.get("model"),
        stream=bool(kwargs.get("stream")),
        prompt_texts=lambda: [prompt],
    )


def response(result: Any, capture: bool) -> LLMResponse:
    if not result.get("usage", True):
        return LLMResponse(response_id=result["id"], model=result["model"], output_texts=[result["text"]])
    return LLMResponse(
        response_id=result["id"],
        model=result["model"],
        usage=Usage(input_tokens=3, output_tokens=len(result["text"])),
    )


class Accumulator:
    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self.text: list[str] = []

    def add(self, chunk: str) -> None:
        self.text.append(chunk)

    def result(self) -> LLMResponse:
        return LLMResponse(response_id="r-1", usage=Usage(input_tokens=3, output_tokens=len(self.text)))


# Late-bound so tests can make a mapper fail with monkeypatch.


def _request(*args: Any) -> LLMRequest:
    return request(*args)


def _response(*args: Any) -> LLMResponse:
    return response(*args)


def _accumulator(*args: Any) -> Accumulator:
    return Accumulator(*args)


ENDPOINT = Endpoint(_request, _response, _accumulator)
PATCHES = (
    Patch(__name__, "Client.create", ENDPOINT),
    Patch(__name__, "AsyncClient.create", ENDPOINT),
)
