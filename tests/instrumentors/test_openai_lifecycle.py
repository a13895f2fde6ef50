"""OpenAI call lifecycles through the real SDK: retries, streams cut short or broken on the wire."""

from __future__ import annotations

import gc
from pathlib import Path

import openai
import pytest
from opentelemetry.trace import StatusCode

from replay import load_cassette, openai_httpx_module

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "openai"
NONSTREAM = load_cassette(CASSETTES / "chat_nonstream_n2_multiple_choices.yaml").interactions[0].response
STREAM = load_cassette(CASSETTES / "chat_stream_gpt-4_include_usage.yaml").interactions[0].response
MESSAGES = [{"role": "user", "content": "Say this is a test"}]


def client_for(handler, **kwargs):
    httpx = openai_httpx_module()
    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        api_key="test", base_url="https://api.openai.com/v1", http_client=http_client, **kwargs
    )


def test_openai_chat_retries_are_inside_one_span(instrument):
    t = instrument()
    httpx = openai_httpx_module()
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(500, json={"error": {"message": "overloaded", "type": "server_error"}})
        return httpx.Response(200, content=NONSTREAM.content(), headers={"content-type": "application/json"})

    client = client_for(handler, max_retries=1)
    client.with_options(timeout=5).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
    assert len(calls) == 2
    span = t.span()
    assert span.status.status_code == StatusCode.UNSET
    assert span.attributes["gen_ai.usage.output_tokens"] == 24


def sse_handler(body_chunks):
    httpx = openai_httpx_module()

    def handler(request):
        return httpx.Response(200, content=body_chunks(), headers={"content-type": "text/event-stream"})

    return handler


def test_openai_chat_stream_broken_on_the_wire_ends_span_with_error(instrument):
    t = instrument()
    httpx = openai_httpx_module()
    events = STREAM.content().split(b"\n\n")

    def body():
        yield b"\n\n".join(events[:3]) + b"\n\n"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    client = client_for(sse_handler(body))
    stream = client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
    received = []
    # openai 3 wraps transport errors in APIConnectionError; 1.x lets the httpx error through
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    span = t.span()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == type(caught.value).__qualname__
    assert span.attributes["llmtrace.stream.chunks"] == 3
    assert span.attributes["gen_ai.response.id"] == received[0].id


def test_openai_chat_stream_break_then_drop_ends_once_as_abandoned(instrument):
    t = instrument()
    client = client_for(sse_handler(lambda: iter([STREAM.content()])))
    stream = client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
    for _chunk in stream:
        break
    assert t.spans() == []
    del stream
    gc.collect()
    span = t.span()
    assert span.attributes["llmtrace.stream.abandoned"] is True
    assert span.attributes["llmtrace.stream.chunks"] == 1


def test_openai_chat_stream_close_ends_span_and_releases_response(instrument):
    t = instrument()
    client = client_for(sse_handler(lambda: iter([STREAM.content()])))
    stream = client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
    next(stream)
    stream.close()
    assert stream.response.is_closed
    assert t.span().attributes["llmtrace.stream.chunks"] == 1


def test_openai_with_streaming_response_parsed_stream_is_traced_to_the_end(instrument):
    t = instrument()
    client = client_for(sse_handler(lambda: iter([STREAM.content()])))
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        assert t.spans() == []  # the body is not read yet
        chunks = list(response.parse())
    span = t.span()
    assert span.attributes["llmtrace.stream.chunks"] == len(chunks)
    assert span.attributes["gen_ai.response.id"] == chunks[0].id
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


def test_openai_with_streaming_response_read_raw_ends_span_on_close(instrument):
    t = instrument()
    client = client_for(sse_handler(lambda: iter([STREAM.content()])))
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4", messages=MESSAGES, stream=True
    ) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith("data: ") for line in lines)
    span = t.span()  # ended once, by the context manager's close()
    assert span.attributes["gen_ai.request.stream"] is True
    assert "gen_ai.response.id" not in span.attributes
