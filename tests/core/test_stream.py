"""Stream lifecycle: the span ends exactly once, with the right status, however the stream ends."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from opentelemetry.trace import StatusCode

import fakesdk
from llmtrace._stream import StreamProxy
from llmtrace.instrumentors import REGISTRY


@pytest.fixture
def fake(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    return instrument(providers=["fake"])


def ended_once(t):
    spans = t.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_stream_exhausted_ends_ok_with_folded_usage(fake):
    stream = fakesdk.Client().create(model="m", stream=True, items=["a", "b", "c"])
    assert fake.spans() == []  # open while the stream is
    assert list(stream) == ["a", "b", "c"]  # chunks unchanged, in order
    span = ended_once(fake)
    assert span.status.status_code == StatusCode.UNSET
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert span.attributes["llmtrace.stream.chunks"] == 3
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    list(stream)  # iterating again ends nothing twice
    assert len(fake.spans()) == 1


def test_stream_error_mid_way_ends_error_and_reraises_same_exception(fake):
    stream = fakesdk.Client().create(model="m", stream=True, fail_at=2)
    got = []
    with pytest.raises(fakesdk.ProviderError, match="connection reset"):
        for chunk in stream:
            got.append(chunk)
    assert got == ["a", "b"]
    span = ended_once(fake)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ProviderError"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2  # what arrived before the error
    assert [e.name for e in span.events] == ["exception"]


def test_stream_close_ends_span_and_closes_sdk_stream(fake):
    stream = fakesdk.Client().create(model="m", stream=True)
    assert next(stream) == "a"
    stream.close()
    assert stream.__wrapped__.closed
    span = ended_once(fake)
    assert span.status.status_code == StatusCode.UNSET
    assert span.attributes["llmtrace.stream.chunks"] == 1
    stream.close()
    assert len(fake.spans()) == 1


def test_stream_context_manager_returns_proxy_and_ends_on_exit(fake):
    with fakesdk.Client().create(model="m", stream=True) as stream:
        assert isinstance(stream, StreamProxy)  # the SDK stream cannot escape the proxy
        assert next(stream) == "a"
    assert stream.__wrapped__.closed
    assert ended_once(fake).attributes["llmtrace.stream.chunks"] == 1


def test_stream_user_exception_in_with_block_propagates_and_span_ends_ok(fake):
    with pytest.raises(KeyError), fakesdk.Client().create(model="m", stream=True) as stream:
        next(stream)
        raise KeyError("user bug")
    span = ended_once(fake)
    assert span.status.status_code == StatusCode.UNSET  # the model call itself succeeded


def test_stream_broken_out_of_and_dropped_ends_as_abandoned(fake):
    stream = fakesdk.Client().create(model="m", stream=True)
    for _chunk in stream:
        break
    assert fake.spans() == []
    del stream
    gc.collect()
    span = ended_once(fake)
    assert span.attributes["llmtrace.stream.abandoned"] is True
    assert span.attributes["llmtrace.stream.chunks"] == 1


def test_stream_never_consumed_and_dropped_still_ends(fake):
    fakesdk.Client().create(model="m", stream=True)
    gc.collect()
    span = ended_once(fake)
    assert span.attributes["llmtrace.stream.abandoned"] is True
    assert span.attributes["llmtrace.stream.chunks"] == 0
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes


def test_stream_consumed_from_another_thread(fake):
    stream = fakesdk.Client().create(model="m", stream=True)
    out = []
    worker = threading.Thread(target=lambda: out.extend(stream))
    worker.start()
    worker.join()
    assert out == ["a", "b", "c"]
    assert ended_once(fake).attributes["llmtrace.stream.chunks"] == 3


def test_async_stream_exhausted_and_closed(fake):
    async def main():
        stream = await fakesdk.AsyncClient().create(model="m", stream=True)
        got = [chunk async for chunk in stream]
        second = await fakesdk.AsyncClient().create(model="m", stream=True)
        async with second as s:
            await s.__anext__()
        return got, second

    got, second = asyncio.run(main())
    assert got == ["a", "b", "c"]
    assert second.__wrapped__.sync.closed
    assert sorted(s.attributes["llmtrace.stream.chunks"] for s in fake.spans()) == [1, 3]


def test_async_stream_task_cancelled_ends_span_once_with_error(fake):
    async def consume(started):
        stream = await fakesdk.AsyncClient().create(model="m", stream=True, items=list("abcdef"), delay=0.05)
        async for _chunk in stream:
            started.set()

    async def main():
        started = asyncio.Event()
        task = asyncio.create_task(consume(started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = ended_once(fake)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "CancelledError"


def test_async_non_stream_call_cancelled_ends_span(fake):
    async def main():
        task = asyncio.create_task(fakesdk.AsyncClient().create(model="m"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert ended_once(fake).attributes["error.type"] == "CancelledError"


def test_accumulator_failure_is_contained_and_chunks_pass_unchanged(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    t = instrument(providers=["fake"], raise_internal_errors=False)

    def boom(self, chunk):
        raise RuntimeError("accumulator bug")

    monkeypatch.setattr(fakesdk.Accumulator, "add", boom)
    assert list(fakesdk.Client().create(model="m", stream=True)) == ["a", "b", "c"]
    assert len(t.spans()) == 1


def test_accumulator_failure_raises_in_test_mode(fake, monkeypatch):
    monkeypatch.setattr(fakesdk.Accumulator, "add", lambda self, chunk: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        list(fakesdk.Client().create(model="m", stream=True))
