"""Groq instrumentation end to end: the real groq SDK, its HTTP replayed from the recorded stream or, for
what no recording shows, answered by a transport with the shapes Groq documents (tests/replay_groq.py).

Every test here follows the rules listed in test_openai.py's docstring. The only Groq recording is a
stream (groq 0.10.0, llama3-8b-8192, usage under ``x_groq.usage`` in the last chunk); the non-streamed
completion, the tool call, the reasoning reply and the error are built from Groq's documented response
objects (``GROQ_COMPLETION`` and friends in replay_groq.py), and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from helpers import (
    INPUT,
    OUTPUT,
    assert_attributes,
    assert_error_recorded,
    assert_logged,
    assert_streamed,
    assert_token_usage,
    boom,
    cost,
    metric_points,
    output_message,
    output_text,
    text_message,
    text_part,
    the_span,
    tool_call,
)
from llmtrace import _semconv as sc
from replay_groq import (
    GROQ,
    GROQ_COMPLETION,
    NOT_FOUND,
    QUESTION,
    REASONING_COMPLETION,
    STREAM,
    TOOL_COMPLETION,
    WEATHER_TOOL,
    answering,
    groq_client,
    replay,
    streaming,
)
from scenarios import (
    CAPTURE,
    MODES,
    Recordings,
    assert_restored,
    assert_wrapped_once,
    call,
    drive,
    first_then,
    patch_targets,
    resolve,
    sdk_kwargs,
    stream_all,
    streamed_text,
)

groq = pytest.importorskip("groq")
from llmtrace.instrumentors import groq as groq_instrumentor  # noqa: E402

pytestmark = pytest.mark.usefixtures("spans_end_once")

RECORDINGS = Recordings(GROQ)
recorded_request = RECORDINGS.request
recorded_sse = RECORDINGS.sse


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(model: str, **extra: Any) -> dict[str, Any]:
    """What a Groq span carries from the request alone: no openai.* attributes."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": model,
        "server.address": "api.groq.com",
        "server.port": 443,
        **extra,
    }


def response_attributes(body: dict[str, Any], price_key: str, finish: str = "stop") -> dict[str, Any]:
    """The response side of a span of the completion `body` (its usage is OpenAI's)."""
    usage = body["usage"]
    return {
        "gen_ai.response.id": body["id"],
        "gen_ai.response.model": body["model"],
        "gen_ai.response.finish_reasons": [finish],
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        **cost(price_key, input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
    }


def streamed_usage() -> dict[str, Any]:
    """The recorded stream's usage: in the last chunk, under x_groq (its ``usage`` field is empty)."""
    last = recorded_sse(STREAM)[-1]
    assert "usage" not in last
    usage: dict[str, Any] = last["x_groq"]["usage"]
    return usage


STREAM_REQUEST = request_attributes("llama3-8b-8192", **{"gen_ai.request.stream": True})
JOKE_PROMPT = [text_message("user", "Tell me a joke about opentelemetry")]


# === 1. chat.completions.create(stream=True): the recording =======================================


@CAPTURE
@MODES
def test_groq_chat_stream_usage_from_x_groq(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(STREAM)
    payloads = recorded_sse(STREAM)
    usage = streamed_usage()
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (18, 73)
    client, transport = replay(STREAM, is_async)

    chunks = stream_all(client, client.chat.completions.create, **params)

    transport.assert_all_played()
    assert [c.id for c in chunks] == [p["id"] for p in payloads]  # delivered unchanged, in order
    assert chunks[-1].x_groq.usage.completion_tokens == 73
    span = the_span(t, "chat llama3-8b-8192")
    content = {INPUT: JOKE_PROMPT, OUTPUT: [output_text(streamed_text(payloads)[0])]}
    assert_streamed(
        span,
        {
            **STREAM_REQUEST,
            **(content if capture_content else {}),
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "llama3-8b-8192",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 18,
            "gen_ai.usage.output_tokens": 73,
            # 0.05 / 0.08 USD per 1M tokens; no openai.response.system_fingerprint although the
            # chunks carry one: Groq has no provider attributes
            **cost("llama3-8b-8192", input_tokens=18, output_tokens=73),
        },
        chunks=len(payloads),
    )


def estimated_prompt(texts: list[str]) -> dict[str, Any]:
    """A chat prompt llmtrace counted itself: llama models have no tiktoken encoding, so characters / 4
    per message, plus 4 per message and 3 to prime the reply."""
    tokens = sum(-(-len(t) // 4) for t in texts) + 4 * len(texts) + 3
    return {
        "gen_ai.usage.input_tokens": tokens,
        sc.LLMTRACE_USAGE_ESTIMATED: True,
        sc.LLMTRACE_USAGE_TOKENIZER: "chars/4",
        **cost("llama3-8b-8192", input_tokens=tokens),
    }


@pytest.mark.parametrize("how", ["close", "drop"])
@MODES
def test_groq_chat_stream_left_early_ends_span_once(instrument, is_async, how):
    t = instrument()
    payloads = recorded_sse(STREAM)
    client, _ = replay(STREAM, is_async)

    async def scenario() -> Any:
        stream = await resolve(client.chat.completions.create(**recorded_request(STREAM)))
        return await first_then(stream, how, aclose=False)  # "drop": the stream goes out of scope unread

    first = drive(client, scenario)

    assert first.id == payloads[0]["id"]
    span = the_span(t, "chat llama3-8b-8192")
    expected = {
        **STREAM_REQUEST,
        "gen_ai.response.id": payloads[0]["id"],
        "gen_ai.response.model": "llama3-8b-8192",
        "gen_ai.response.finish_reasons": [""],  # one per choice; this one never finished
        # no usage arrived: the prompt is counted (flagged as an estimate)
        **estimated_prompt(["Tell me a joke about opentelemetry"]),
    }
    if how == "drop":
        expected[sc.LLMTRACE_STREAM_ABANDONED] = True
    assert_streamed(span, expected, chunks=1)


# === 2. non-streamed, tool calls, reasoning: Groq's documented shapes =============================


@CAPTURE
@MODES
def test_groq_chat_nonstream(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    transport = answering(GROQ_COMPLETION)
    client = groq_client(transport, is_async)

    completion = call(
        client, client.chat.completions.create, model="llama-3.3-70b-versatile", messages=QUESTION, seed=7
    )

    extra = completion.x_groq  # a dict on SDKs older than the field
    assert (extra["id"] if isinstance(extra, dict) else extra.id) == "req_01jbd6g2qdfw2adyrt2az8hz4w"
    [request] = transport.seen
    assert request.url.path == "/openai/v1/chat/completions"
    content = {
        INPUT: [text_message("user", QUESTION[0]["content"])],
        OUTPUT: [output_text(GROQ_COMPLETION["choices"][0]["message"]["content"])],
    }
    assert_attributes(
        the_span(t, "chat llama-3.3-70b-versatile"),
        {
            **request_attributes("llama-3.3-70b-versatile", **{"gen_ai.request.seed": 7}),
            **(content if capture_content else {}),
            # service_tier and system_fingerprint are in the body, but not openai.* attributes
            **response_attributes(GROQ_COMPLETION, "llama-3.3-70b-versatile"),
        },
    )


@MODES
def test_groq_chat_tool_call(instrument, is_async):
    t = instrument(capture_content=True)
    client = groq_client(answering(TOOL_COMPLETION), is_async)

    completion = call(
        client,
        client.chat.completions.create,
        model="llama-3.3-70b-versatile",
        messages=[{"role": "user", "content": "What is the weather in New York?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )

    [called] = completion.choices[0].message.tool_calls
    assert_attributes(
        the_span(t, "chat llama-3.3-70b-versatile"),
        {
            **request_attributes("llama-3.3-70b-versatile"),
            INPUT: [text_message("user", "What is the weather in New York?")],
            sc.GEN_AI_TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],
            OUTPUT: [
                output_message(
                    tool_call(called.id, "get_weather", {"location": "New York, NY"}),
                    finish_reason="tool_call",
                )
            ],
            **response_attributes(TOOL_COMPLETION, "llama-3.3-70b-versatile", finish="tool_calls"),
        },
    )


def reasoning_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage attributes of a reply with cached prompt tokens and reasoning tokens (both subsets)."""
    return {
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage["prompt_tokens_details"]["cached_tokens"],
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage["completion_tokens_details"]["reasoning_tokens"],
        # gpt-oss-20b on Groq: 0.075 / 0.30 USD per 1M, cached input at the input price (none listed)
        **cost(
            "openai/gpt-oss-20b",
            input_tokens=usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"],
            cache_read=usage["prompt_tokens_details"]["cached_tokens"],
            output_tokens=usage["completion_tokens"],
        ),
    }


@MODES
def test_groq_chat_reasoning_part_and_tokens(instrument, is_async):
    t = instrument(capture_content=True)
    client = groq_client(answering(REASONING_COMPLETION), is_async)
    question = [{"role": "user", "content": "What is 17 * 23?"}]

    create = client.chat.completions.create
    call(
        client,
        create,
        **sdk_kwargs(create, model="openai/gpt-oss-20b", messages=question, reasoning_effort="low"),
    )

    message = REASONING_COMPLETION["choices"][0]["message"]
    assert_attributes(
        the_span(t, "chat openai/gpt-oss-20b"),
        {
            **request_attributes("openai/gpt-oss-20b", **{"gen_ai.request.reasoning.level": "low"}),
            INPUT: [text_message("user", "What is 17 * 23?")],
            # message.reasoning, ahead of the answer
            OUTPUT: [
                output_message({"type": "reasoning", "content": message["reasoning"]}, text_part("391"))
            ],
            "gen_ai.response.id": "chatcmpl-reasoning",
            "gen_ai.response.model": "openai/gpt-oss-20b",
            "gen_ai.response.finish_reasons": ["stop"],
            **reasoning_usage(REASONING_COMPLETION["usage"]),
        },
    )


def reasoning_chunks() -> list[dict[str, Any]]:
    """A streamed reasoning reply in Groq's chunk shape: reasoning deltas, then content, then the usage
    under x_groq in the last chunk."""
    base = {
        "id": "chatcmpl-rs",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "openai/gpt-oss-20b",
    }
    deltas = [
        {"role": "assistant", "reasoning": "17 * 23 = 17 * 20"},
        {"reasoning": " + 17 * 3 = 391."},
        {"content": "3"},
        {"content": "91"},
    ]
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks[0]["x_groq"] = {"id": "req_rs"}
    usage = REASONING_COMPLETION["usage"]
    chunks.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "x_groq": {"id": "req_rs", "usage": usage},
        }
    )
    return chunks


@MODES
def test_groq_chat_stream_reasoning_deltas(instrument, is_async):
    t = instrument(capture_content=True)
    client = groq_client(streaming(reasoning_chunks()), is_async)

    chunks = stream_all(
        client,
        client.chat.completions.create,
        model="openai/gpt-oss-20b",
        messages=[{"role": "user", "content": "What is 17 * 23?"}],
        stream=True,
    )

    assert len(chunks) == 5
    assert_streamed(
        the_span(t, "chat openai/gpt-oss-20b"),
        {
            **request_attributes("openai/gpt-oss-20b", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "What is 17 * 23?")],
            OUTPUT: [
                output_message(
                    {"type": "reasoning", "content": "17 * 23 = 17 * 20 + 17 * 3 = 391."}, text_part("391")
                )
            ],
            "gen_ai.response.id": "chatcmpl-rs",
            "gen_ai.response.model": "openai/gpt-oss-20b",
            "gen_ai.response.finish_reasons": ["stop"],
            **reasoning_usage(REASONING_COMPLETION["usage"]),
        },
        chunks=5,
    )


# === 3. errors ====================================================================================


@MODES
def test_groq_error_reraised_unchanged(instrument, is_async):
    params = {"model": "llama-9000", "messages": QUESTION}

    def attempt() -> Any:
        client = groq_client(answering(NOT_FOUND, status=404), is_async)
        with pytest.raises(groq.NotFoundError) as caught:
            call(client, client.chat.completions.create, **params)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) and str(error) == str(bare)
    assert (error.status_code, error.body) == (404, bare.body)
    span = the_span(t, "chat llama-9000", StatusCode.ERROR)
    assert_attributes(span, {**request_attributes("llama-9000"), "error.type": "NotFoundError"})
    assert_error_recorded(t, span, error, request_attributes("llama-9000"))


# === 4. provider, metrics, raw responses ==========================================================


def test_groq_provider_whatever_the_base_url(instrument):
    t = instrument()
    # behind a proxy: still Groq's SDK, so still groq, and still no openai.* attribute
    client = groq_client(answering(GROQ_COMPLETION), base_url="http://llm-proxy.internal:8080")

    call(client, client.chat.completions.create, model="llama-3.3-70b-versatile", messages=QUESTION)

    assert_attributes(
        the_span(t, "chat llama-3.3-70b-versatile"),
        {
            **request_attributes("llama-3.3-70b-versatile"),
            "server.address": "llm-proxy.internal",
            "server.port": 8080,
            **response_attributes(GROQ_COMPLETION, "llama-3.3-70b-versatile"),
        },
    )


def test_groq_metrics(instrument):
    t = instrument()
    client, _ = replay(STREAM)
    stream_all(client, client.chat.completions.create, **recorded_request(STREAM))

    points = metric_points(t.reader)

    labels = {**request_attributes("llama3-8b-8192"), "gen_ai.response.model": "llama3-8b-8192"}
    assert_token_usage(points, labels, 18, 73)
    [spent] = points[sc.METRIC_COST]
    assert spent.sum == pytest.approx(
        cost("llama3-8b-8192", input_tokens=18, output_tokens=73)[sc.GEN_AI_USAGE_COST_AMOUNT]
    )
    [durations] = points[sc.METRIC_OPERATION_DURATION]
    assert dict(durations.attributes) == labels


async def parse_raw(client: Any, params: dict[str, Any]) -> Any:
    raw = await resolve(client.chat.completions.with_raw_response.create(**params))
    return await resolve(raw.parse())


@MODES
def test_groq_with_raw_response_parsed_is_traced(instrument, is_async):
    t = instrument()
    client = groq_client(answering(GROQ_COMPLETION), is_async)
    params = {"model": "llama-3.3-70b-versatile", "messages": QUESTION}

    completion = drive(client, lambda: parse_raw(client, params))

    assert completion.id == GROQ_COMPLETION["id"]
    assert_attributes(
        the_span(t, "chat llama-3.3-70b-versatile"),
        {
            **request_attributes("llama-3.3-70b-versatile"),
            **response_attributes(GROQ_COMPLETION, "llama-3.3-70b-versatile"),
        },
    )


# === 5. uninstrument, containment =================================================================


def test_groq_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(groq_instrumentor.PATCHES)
    assert set(before) == {
        "groq.resources.chat.completions:Completions.create",
        "groq.resources.chat.completions:AsyncCompletions.create",
    }
    t = instrument()
    assert_wrapped_once(before)

    t.handle.uninstrument()

    assert_restored(before)
    client, _ = replay(STREAM)
    stream_all(client, client.chat.completions.create, **recorded_request(STREAM))
    assert t.spans() == []


@pytest.mark.parametrize(
    ("target", "what"),
    [
        (lambda: (groq_instrumentor, "_as_groq"), "start"),
        (lambda: (groq_instrumentor.ChatAccumulator, "add"), "stream.add"),
        (lambda: (groq_instrumentor.ChatAccumulator, "result"), "stream.result"),
    ],
    ids=["request", "accumulator-add", "accumulator-result"],
)
def test_groq_containment(contained, monkeypatch, caplog, target: Callable[[], Any], what):
    t = contained()
    monkeypatch.setattr(*target(), boom)
    payloads = recorded_sse(STREAM)
    client, transport = replay(STREAM)

    chunks = stream_all(client, client.chat.completions.create, **recorded_request(STREAM))

    assert [c.id for c in chunks] == [p["id"] for p in payloads]  # the user's stream is untouched
    transport.assert_all_played()
    spans = t.spans()
    if what == "start":
        assert spans == []  # passed straight through
    elif what == "stream.add":
        # ended once; nothing was folded, so the prompt is counted as for a stream without usage
        assert_streamed(
            spans[0],
            {**STREAM_REQUEST, **estimated_prompt(["Tell me a joke about opentelemetry"])},
            len(payloads),
        )
    else:
        assert_streamed(spans[0], STREAM_REQUEST, chunks=len(payloads))  # ended once, request side only
    assert_logged(caplog, what)
