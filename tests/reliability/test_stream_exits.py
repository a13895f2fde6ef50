"""Every way a real SDK stream can end closes its span exactly once, with the right status, and llmtrace
causes no ResourceWarning.

tests/core/test_stream.py covers these exits on a fake SDK and test_openai_lifecycle.py a few on openai;
this adds them on the real openai and anthropic streams (``create(stream=True)`` and anthropic's
``messages.stream()`` helper), and the exits not covered there: an exception in the user's loop body,
consumption from another thread, ``with`` left early, and cancellation of the consuming task.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from figures import FIGURES
from fuzz_bodies import recorded_body, seed
from opentelemetry.trace import StatusCode

from replay import anthropic_httpx_module, openai_httpx_module

OPENAI_BODY = recorded_body(seed("openai/chat_stream_gpt-4_include_usage.yaml")).content
ANTHROPIC_BODY = recorded_body(seed("anthropic/messages_stream_claude-3-haiku_sdk0.36.yaml")).content
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "Say this is a test"}], "stream": True}
CLAUDE = {
    "model": "claude-3-haiku-20240307",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


class UserBug(Exception):
    """Raised by the user's loop body."""


def _events(body: bytes, cut_after: int | None, hx: Any) -> Callable[[], Iterator[bytes]]:
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e.strip()]

    def produce() -> Iterator[bytes]:
        for i, event in enumerate(events):
            if i == cut_after:
                raise hx.RemoteProtocolError("peer closed connection without sending complete message body")
            yield event

    return produce


def _client(sdk: str, cut_after: int | None, is_async: bool) -> Any:
    hx = openai_httpx_module() if sdk == "openai" else anthropic_httpx_module()
    produce = _events(OPENAI_BODY if sdk == "openai" else ANTHROPIC_BODY, cut_after, hx)

    async def aproduce() -> Any:
        for piece in produce():
            await asyncio.sleep(0.002)  # a network's pace: a cancellation lands while a chunk is awaited
            yield piece

    def handler(request: Any) -> Any:
        content = aproduce() if is_async else produce()
        return hx.Response(200, content=content, headers={"content-type": "text/event-stream"})

    http = (hx.AsyncClient if is_async else hx.Client)(transport=hx.MockTransport(handler))
    if sdk == "openai":
        cls: Any = openai.AsyncOpenAI if is_async else openai.OpenAI
        return cls(api_key="test", base_url="https://api.openai.com/v1", max_retries=0, http_client=http)
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(api_key="test", base_url="https://api.anthropic.com", max_retries=0, http_client=http)


def _open(sdk: str, client: Any) -> Any:
    if sdk == "openai":
        return client.chat.completions.create(**CHAT)
    return client.messages.create(**CLAUDE, stream=True)


# --- the exits of a sync stream -------------------------------------------------------------------


def exhausted(stream: Any) -> None:
    for _ in stream:
        pass


def break_and_close(stream: Any) -> None:
    for _ in stream:
        break
    stream.close()


def break_and_drop(stream: Any) -> None:
    for _ in stream:
        break


def user_body_raises(stream: Any) -> None:
    with pytest.raises(UserBug):
        for _ in stream:
            raise UserBug


def with_left_early(stream: Any) -> None:
    with stream as s:
        next(iter(s))


def with_user_raises(stream: Any) -> None:
    with pytest.raises(UserBug), stream as s:
        next(iter(s))
        raise UserBug


def other_thread(stream: Any) -> None:
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.extend(stream))
    worker.start()
    worker.join()
    assert seen


SYNC_EXITS = {
    exhausted: StatusCode.UNSET,
    break_and_close: StatusCode.UNSET,
    break_and_drop: StatusCode.UNSET,
    user_body_raises: StatusCode.UNSET,  # the call itself succeeded; the user's bug is not the model's
    with_left_early: StatusCode.UNSET,
    with_user_raises: StatusCode.UNSET,
    other_thread: StatusCode.UNSET,
}


def ended_once(t: Any, status: StatusCode) -> Any:
    gc.collect()
    spans = t.spans()
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].status.status_code is status
    FIGURES["stream exits checked"] += 1
    return spans[0]


def no_resource_warning(run: Callable[[], None]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        run()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [
        str(w.message) for w in caught
    ]


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("leave", list(SYNC_EXITS), ids=lambda f: f.__name__)
def test_sync_stream_exit_ends_span_once(sdk, leave, instrument, spans_end_once):
    t = instrument(providers=[sdk])

    def run() -> None:
        client = _client(sdk, None, False)
        leave(_open(sdk, client))
        client.close()

    no_resource_warning(run)
    span = ended_once(t, SYNC_EXITS[leave])
    assert span.attributes["llmtrace.stream.chunks"] >= 1
    # a stream the user's code let go of without closing ends when it is collected, marked abandoned
    assert span.attributes.get("llmtrace.stream.abandoned", False) is (
        leave in (break_and_drop, user_body_raises)
    )


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_sync_stream_provider_error_mid_stream_ends_span_with_error(sdk, instrument, spans_end_once):
    t = instrument(providers=[sdk])
    client = _client(sdk, 2, False)
    received = []
    # openai wraps the transport's error in its APIConnectionError; anthropic lets it through
    with pytest.raises((openai.APIConnectionError, anthropic_httpx_module().RemoteProtocolError)) as caught:
        for chunk in _open(sdk, client):
            received.append(chunk)
    assert len(received) == 2
    span = ended_once(t, StatusCode.ERROR)
    assert span.attributes["error.type"] == type(caught.value).__qualname__


@pytest.mark.parametrize("leave", ["exhausted", "user_raises", "break", "provider_error", "other_thread"])
def test_anthropic_stream_helper_exit_ends_span_once(leave, instrument, spans_end_once):
    t = instrument(providers=["anthropic"])

    def run() -> None:
        client = _client("anthropic", 2 if leave == "provider_error" else None, False)
        manager = client.messages.stream(**CLAUDE)
        if leave == "user_raises":
            with pytest.raises(UserBug), manager as stream:
                next(iter(stream))
                raise UserBug
        elif leave == "provider_error":
            with pytest.raises(anthropic_httpx_module().RemoteProtocolError), manager as stream:
                stream.get_final_message()
        elif leave == "other_thread":
            with manager as stream:
                worker = threading.Thread(target=stream.get_final_message)
                worker.start()
                worker.join()
        else:
            with manager as stream:
                for _ in stream:
                    if leave == "break":
                        break
        client.close()

    no_resource_warning(run)
    ended_once(t, StatusCode.ERROR if leave == "provider_error" else StatusCode.UNSET)


# --- async ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["openai", "anthropic", "anthropic-helper"])
@pytest.mark.parametrize("leave", ["exhausted", "async_with_left_early", "user_raises", "cancelled"])
def test_async_stream_exit_ends_span_once(sdk, leave, instrument, spans_end_once):
    t = instrument(providers=["anthropic" if sdk.startswith("anthropic") else "openai"])

    async def consume(started: asyncio.Event) -> None:
        client = _client(sdk.split("-")[0], None, True)
        try:
            if sdk == "anthropic-helper":
                async with client.messages.stream(**CLAUDE) as stream:
                    await read(stream, started)
            elif leave == "async_with_left_early":
                async with await _open(sdk, client) as stream:
                    await stream.__anext__()
            else:
                await read(await _open(sdk, client), started)
        finally:
            await client.close()

    async def read(stream: Any, started: asyncio.Event) -> None:
        async for _ in stream:
            started.set()
            if leave == "user_raises":
                raise UserBug
            if leave == "async_with_left_early":
                break

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(consume(started))
        if leave == "cancelled":
            await started.wait()
            task.cancel()
        with (
            pytest.raises((asyncio.CancelledError, UserBug))
            if leave in ("cancelled", "user_raises")
            else _nothing()
        ):
            await task

    no_resource_warning(lambda: asyncio.run(main()))
    span = ended_once(t, StatusCode.ERROR if leave == "cancelled" else StatusCode.UNSET)
    if leave == "cancelled":
        assert span.attributes["error.type"] == "CancelledError"


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
