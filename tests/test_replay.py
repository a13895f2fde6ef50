"""Replay every recorded OpenAI cassette through the real (uninstrumented) openai SDK.

These tests check the replay helper in ``replay.py`` and pin down what the
cassettes contain, so instrumentation tests can rely on both. Each call sends
the parameters recorded in the cassette's request body. Scenarios are written
once as ``async def`` and run with both the sync and the async client (sync
calls simply return their result, see ``resolve`` in ``scenarios.py``).
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import CompletionUsage

from replay import ReplayTransport, load_cassette, openai_client, openai_httpx_module
from scenarios import (
    Recordings,
    answer_weather_calls,
    collect,
    drive,
    require_params,
    resolve,
    streamed_text,
)

CASSETTES = Path(__file__).parent / "cassettes" / "openai"
RECORDINGS = Recordings(CASSETTES)
recorded_request = RECORDINGS.request
recorded_sse_payloads = RECORDINGS.sse
MODES = ["sync", "async"]

Scenario = Callable[[Any, ReplayTransport], Awaitable[None]]


def require_model_field(model: type[Any], field: str) -> None:
    """Skip if this SDK's pydantic ``model`` has no typed ``field`` (e.g. newer usage details)."""
    if field not in getattr(model, "model_fields", {}):
        pytest.skip(f"openai {openai.__version__}: {model.__name__} has no field {field!r}")


def require_responses_api(client: Any) -> None:
    """Skip when this SDK has no Responses API (added in openai 1.66)."""
    if not hasattr(client, "responses"):
        pytest.skip(f"openai {openai.__version__} has no client.responses")


def replay(
    name: str,
    mode: str,
    scenario: Scenario,
    *,
    interactions: Sequence[int] | None = None,
    chunk_size: int | None = None,
) -> ReplayTransport:
    """Run ``scenario(client)`` against cassette ``name``; assert everything was played."""
    is_async = mode == "async"
    client, transport = openai_client(
        CASSETTES / name, is_async=is_async, interactions=interactions, chunk_size=chunk_size
    )
    drive(client, lambda: scenario(client, transport))
    transport.assert_all_played()
    assert transport.all_played
    assert len(transport.requests) == len(transport.indices)
    return transport


def assert_usage(usage: Any, prompt: int, completion: int, total: int) -> None:
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (prompt, completion, total)


# --- chat completions, non-streaming -------------------------------------------------

CHAT_GZIP = "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
CHAT_GZIP_EXPECTED = [
    ("chatcmpl-908MD9ivBBLb6EaIjlqwFokntayQK", (15, 19, 34), "baggage!"),
    ("chatcmpl-DPTBnLVEU6gLtntz301fthMFXeE4C", (15, 31, 46), "500 Internal Server Error!"),
    ("chatcmpl-DPTJXlkcmpT6VV9WWHVhx8U0phgjS", (15, 22, 37), "back to the source!"),
    ("chatcmpl-DPTMnBEiSFiGbsTeSSstpHetixHEm", (15, 19, 34), "track his expenses!"),
]


@pytest.mark.parametrize("mode", MODES)
def test_chat_nonstream_gzip_all_interactions(mode: str) -> None:
    async def scenario(client: Any, transport: ReplayTransport) -> None:
        for index, (response_id, usage, ending) in enumerate(CHAT_GZIP_EXPECTED):
            params = recorded_request(CHAT_GZIP, index)
            response = await resolve(client.chat.completions.create(**params))
            assert response.id == response_id
            assert response.model == "gpt-3.5-turbo-0125"
            assert_usage(response.usage, *usage)
            assert response.choices[0].message.content.endswith(ending)
            assert response.choices[0].finish_reason == "stop"
            assert transport.request_json() == params

    transport = replay(CHAT_GZIP, mode, scenario)
    assert transport.requests[0].headers["content-type"] == "application/json"
    assert transport.requests[0].headers["authorization"] == "Bearer test"


def test_chat_gzip_body_is_decompressed_by_the_client() -> None:
    recorded = load_cassette(CASSETTES / CHAT_GZIP).interactions[2].response
    assert recorded.header("Content-Encoding") == "gzip"
    assert recorded.body[:2] == b"\x1f\x8b"  # stored compressed, served compressed
    client, _ = openai_client(CASSETTES / CHAT_GZIP, interactions=[2])
    raw = client.chat.completions.with_raw_response.create(**recorded_request(CHAT_GZIP, 2))
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-length"] == str(len(recorded.body))
    assert raw.headers["x-request-id"] == "req_ff54b86a286644129cf3edf2b5c56887"
    assert raw.parse().id == "chatcmpl-DPTJXlkcmpT6VV9WWHVhx8U0phgjS"


@pytest.mark.parametrize("mode", MODES)
def test_chat_gzip_chunked(mode: str) -> None:
    async def scenario(client: Any, transport: ReplayTransport) -> None:
        response = await resolve(client.chat.completions.create(**recorded_request(CHAT_GZIP, 0)))
        assert response.id == "chatcmpl-908MD9ivBBLb6EaIjlqwFokntayQK"

    replay(CHAT_GZIP, mode, scenario, interactions=[0], chunk_size=7)


@pytest.mark.parametrize("mode", MODES)
def test_chat_n2_multiple_choices(mode: str) -> None:
    name = "chat_nonstream_n2_multiple_choices.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = recorded_request(name)
        response = await resolve(client.chat.completions.create(**params))
        assert response.id == "chatcmpl-ASYMUBq69UHDarAz2fsd0O50rv0r1"
        assert [c.index for c in response.choices] == [0, 1]
        for choice in response.choices:
            assert choice.message.content == "This is a test. How can I assist you further?"
            assert choice.finish_reason == "stop"
        assert_usage(response.usage, 12, 24, 36)
        assert params == {
            "messages": [{"role": "user", "content": "Say this is a test"}],
            "model": "gpt-4o-mini",
            "n": 2,
            "stream": False,
        }
        assert transport.request_json() == params

    replay(name, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_chat_tool_calls_two_turns(mode: str) -> None:
    name = "chat_tool_calls_two_turns.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        first_params = require_params(client.chat.completions.create, recorded_request(name, 0))
        first = await resolve(client.chat.completions.create(**first_params))
        assert first.id == "chatcmpl-ASYMU9Ntix7ePttk0MSuerJstef6U"
        assert first.choices[0].finish_reason == "tool_calls"
        calls = first.choices[0].message.tool_calls
        assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            ("call_JpNb8OiAkbIbHzDggfpdDHpi", "get_current_weather", {"location": "Seattle, WA"}),
            ("call_vaFQc3zK6hHTRZKXRI5Eo2cJ", "get_current_weather", {"location": "San Francisco, CA"}),
        ]
        assert_usage(first.usage, 75, 51, 126)

        # Second turn: echo the tool calls and answer them, as the recording did.
        messages = answer_weather_calls(first_params["messages"], calls)
        second = await resolve(client.chat.completions.create(messages=messages, model="gpt-4o-mini"))
        assert transport.request_json() == recorded_request(name, 1)
        assert second.id == "chatcmpl-ASYMVzdmBGDbUoHFmt6R16tdtZUzR"
        assert second.choices[0].message.content == (
            "Today, the weather in Seattle is 50 degrees and raining, while in San Francisco, "
            "it's 70 degrees and sunny."
        )
        assert_usage(second.usage, 99, 25, 124)

    replay(name, mode, scenario)


LEGACY_FUNCTIONS = "chat_legacy_functions_function_call.yaml"


@pytest.mark.parametrize("mode", MODES)
def test_chat_legacy_functions(mode: str) -> None:
    expected = [
        ("chatcmpl-8wq4AUDD36geK9Za8cccowhObkV9H", "Boston", (82, 16, 98)),
        ("chatcmpl-8wq4BnjOJ2MMeHJlruDfeeBMdhomR", "Boston", (82, 16, 98)),
        ("chatcmpl-DPTDreURJooDVcZZ6Sbh6Fh0oCyz0", "Boston, MA", (82, 18, 100)),
        ("chatcmpl-DPTOg1hXffWqj28JBx2zQHGwgdbVn", "Boston", (82, 16, 98)),
    ]

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        for index, (response_id, location, usage) in enumerate(expected):
            params = recorded_request(LEGACY_FUNCTIONS, index)
            assert params["function_call"] == "auto"
            response = await resolve(client.chat.completions.create(**params))
            choice = response.choices[0]
            assert response.id == response_id
            assert choice.finish_reason == "function_call"
            assert choice.message.content is None
            assert choice.message.function_call.name == "get_current_weather"
            assert json.loads(choice.message.function_call.arguments) == {"location": location}
            assert_usage(response.usage, *usage)

    replay(LEGACY_FUNCTIONS, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_chat_error_404(mode: str) -> None:
    name = "chat_error_404_model_not_found.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        with pytest.raises(openai.NotFoundError) as excinfo:
            await resolve(client.chat.completions.create(**recorded_request(name)))
        error = excinfo.value
        assert error.status_code == 404
        assert error.code == "model_not_found"
        assert error.type == "invalid_request_error"
        assert "this-model-does-not-exist" in error.message
        assert error.response.headers["x-request-id"] == "req_c3e0f92d7b5426d1a4a17bb3d39953ea"

    replay(name, mode, scenario)


REASONING = "chat_reasoning_gpt-5-nano.yaml"


@pytest.mark.parametrize("mode", MODES)
def test_chat_reasoning_tokens(mode: str) -> None:
    expected = [
        ("chatcmpl-C6DUm0Lah8z5kRsRhhtk97oh5ey0B", (11, 228, 239), 192),
        ("chatcmpl-DPTCK253i6lgLWAYNGcPCKvwuZthn", (11, 202, 213), 192),
        ("chatcmpl-DPTNHVVTKaRSnC4yW1RxDaPLKtlbj", (11, 138, 149), 128),
    ]

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        for index, (response_id, usage, reasoning_tokens) in enumerate(expected):
            require_model_field(CompletionUsage, "completion_tokens_details")
            params = require_params(client.chat.completions.create, recorded_request(REASONING, index))
            response = await resolve(client.chat.completions.create(**params))
            assert response.id == response_id
            assert response.model == "gpt-5-nano-2025-08-07"
            assert response.choices[0].message.content.startswith("3")
            assert_usage(response.usage, *usage)
            assert response.usage.completion_tokens_details.reasoning_tokens == reasoning_tokens
            assert transport.request_json()["reasoning_effort"] == "low"

    replay(REASONING, mode, scenario)


PROMPT_CACHING = "chat_prompt_caching_cached_tokens.yaml"


@pytest.mark.parametrize("mode", MODES)
def test_chat_prompt_caching(mode: str) -> None:
    expected = [
        ("chatcmpl-BNi3xzj4EEAzo6vce1IwHwie9IRhH", (1149, 315, 1464), 0),
        ("chatcmpl-BNi420iFNtIOHzy8Gq2fVS5utTus7", (1149, 353, 1502), 1024),
        ("chatcmpl-DPTOzx6TaK1TmO5rGH15bxujDHfRD", (1149, 297, 1446), 0),
        ("chatcmpl-DPTP5Tqa7FwC2pSU9rDAjbDWzb8hl", (1149, 339, 1488), 0),
    ]

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        require_model_field(CompletionUsage, "prompt_tokens_details")
        for index, (response_id, usage, cached) in enumerate(expected):
            params = recorded_request(PROMPT_CACHING, index)
            response = await resolve(client.chat.completions.create(**params))
            assert response.id == response_id
            assert_usage(response.usage, *usage)
            assert response.usage.prompt_tokens_details.cached_tokens == cached

    replay(PROMPT_CACHING, mode, scenario)


# --- chat completions, streaming -----------------------------------------------------

STREAM_USAGE = "chat_stream_gpt-4_include_usage.yaml"


@pytest.mark.parametrize("chunk_size", [None, 7, 1])
@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_include_usage(mode: str, chunk_size: int | None) -> None:
    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = require_params(client.chat.completions.create, recorded_request(STREAM_USAGE))
        chunks = await collect(await resolve(client.chat.completions.create(**params)))
        assert len(chunks) == len(recorded_sse_payloads(STREAM_USAGE)) == 8
        assert {c.id for c in chunks} == {"chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl"}
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == '"This is a test."'
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == []
        assert_usage(chunks[-1].usage, 12, 5, 17)
        assert all(c.usage is None for c in chunks[:-1])
        assert transport.request_json() == params

    replay(STREAM_USAGE, mode, scenario, chunk_size=chunk_size)


STREAM_ASYNC = "chat_stream_async_gpt-3.5_sdk1.14-and-1.99.yaml"


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_without_usage(mode: str) -> None:
    expected = [
        (
            "chatcmpl-9AGW3t9akkLW9f5f93B7mOhiqhNMC",
            "Why did the developer break up with Opentelemetry? Because it couldn't handle the baggage "
            "of all their tracing requests!",
        ),
        (
            "chatcmpl-DPTC1rHeUCQ57Mrv1HvWByfPXivn9",
            "Why did the opentelemetry developer go broke? \n\n"
            "Because they spent all their time tracking down bugs!",
        ),
        (
            "chatcmpl-DPTMzvFhBZ1Ae3AK0REYr3BhLPCKj",
            "Why did the Opentelemetry developer break up with their debugger? Because it couldn't handle "
            "their tracing behavior!",
        ),
    ]

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        for index, (response_id, text) in enumerate(expected):
            params = recorded_request(STREAM_ASYNC, index)
            assert params["stream"] is True
            chunks = await collect(await resolve(client.chat.completions.create(**params)))
            assert len(chunks) == len(recorded_sse_payloads(STREAM_ASYNC, index))
            assert {c.id for c in chunks} == {response_id}
            assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
            assert chunks[-1].choices[0].finish_reason == "stop"
            assert all(getattr(c, "usage", None) is None for c in chunks)

    replay(STREAM_ASYNC, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_n2_multiple_choices(mode: str) -> None:
    name = "chat_stream_n2_multiple_choices.yaml"
    payloads = recorded_sse_payloads(name)
    expected_text = streamed_text(payloads)

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = require_params(client.chat.completions.create, recorded_request(name))
        chunks = await collect(await resolve(client.chat.completions.create(**params)))
        assert len(chunks) == len(payloads) == 109
        text = {0: "", 1: ""}
        finish = {}
        for chunk in chunks:
            for choice in chunk.choices:
                text[choice.index] += choice.delta.content or ""
                if choice.finish_reason:
                    finish[choice.index] = choice.finish_reason
        assert text == expected_text
        assert text[0].startswith("I'm unable to provide real-time weather updates.")
        assert text[1].startswith("I'm unable to provide real-time weather updates as")
        assert finish == {0: "stop", 1: "stop"}
        assert_usage(chunks[-1].usage, 26, 104, 130)

    replay(name, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_chat_stream_multiple_tool_calls(mode: str) -> None:
    name = "chat_stream_multiple_tool_calls.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = require_params(client.chat.completions.create, recorded_request(name))
        chunks = await collect(await resolve(client.chat.completions.create(**params)))
        calls: dict[int, dict[str, str]] = {}
        finish_reason = None
        for chunk in chunks:
            for choice in chunk.choices:
                finish_reason = choice.finish_reason or finish_reason
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += delta.id or ""
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
        assert calls == {
            0: {
                "id": "call_fHCjJqt9Pysde6vcJcvbXGBx",
                "name": "get_current_weather",
                "arguments": '{"location": "Seattle, WA"}',
            },
            1: {
                "id": "call_3J9foSw3CUb48lrqIXoTky6U",
                "name": "get_current_weather",
                "arguments": '{"location": "San Francisco, CA"}',
            },
        }
        assert finish_reason == "tool_calls"
        assert_usage(chunks[-1].usage, 75, 51, 126)

    replay(name, mode, scenario)


# --- embeddings and legacy completions ----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_dimensions(mode: str) -> None:
    name = "embeddings_dimensions.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = require_params(client.embeddings.create, recorded_request(name))
        response = await resolve(client.embeddings.create(**params))
        assert response.model == "text-embedding-3-small"
        assert len(response.data) == 1
        vector = response.data[0].embedding
        assert len(vector) == params["dimensions"] == 512
        assert vector[:2] == [pytest.approx(0.009219426), pytest.approx(-0.06619997)]
        assert (response.usage.prompt_tokens, response.usage.total_tokens) == (8, 8)
        # Newer SDKs add encoding_format="base64" when the caller did not ask for one.
        sent = transport.request_json()
        assert {k: sent[k] for k in params} == params

    replay(name, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_base64(mode: str) -> None:
    name = "embeddings_encoding_format_base64.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        params = recorded_request(name)
        assert params["encoding_format"] == "base64"
        response = await resolve(client.embeddings.create(**params))
        encoded = response.data[0].embedding
        assert isinstance(encoded, str)  # explicit base64 is passed through undecoded
        floats = array.array("f", base64.b64decode(encoded))
        assert len(floats) == 1536
        assert all(-1.0 <= f <= 1.0 for f in floats)
        assert (response.usage.prompt_tokens, response.usage.total_tokens) == (9, 9)
        assert transport.request_json() == params

    replay(name, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_legacy_completions(mode: str) -> None:
    name = "completions_legacy_davinci-002.yaml"
    expected = [
        ("cmpl-8wq42D1Socatcl1rCmgYZOFX7dFZw", "davinci-002", "-go library\nS-dmssea 2020-08-13: How"),
        ("cmpl-DPTCqSW5oGE1IAOmuxDfCvEbIdboc", "davinci:2023-07-21-v2", " metrics !\n\nCategories"),
        ("cmpl-DPTNj4qhfdIEjI1MpcgEB6PYMYwUa", "davinci:2023-07-21-v2", '?" I have to explain'),
    ]

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        for index, (response_id, model, text) in enumerate(expected):
            params = recorded_request(name, index)
            response = await resolve(client.completions.create(**params))
            assert response.id == response_id
            assert response.object == "text_completion"
            assert response.model == model
            assert response.choices[0].text.startswith(text)
            assert response.choices[0].finish_reason == "length"
            assert_usage(response.usage, 8, 16, 24)
            assert transport.request_json() == params

    replay(name, mode, scenario)


# --- Responses API -------------------------------------------------------------------


def _output_text(response: Any) -> str:
    return "".join(
        part.text
        for item in response.output
        if item.type == "message"
        for part in item.content
        if part.type == "output_text"
    )


@pytest.mark.parametrize("mode", MODES)
def test_responses_nonstream(mode: str) -> None:
    name = "responses_nonstream_basic.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        require_responses_api(client)
        params = require_params(client.responses.create, recorded_request(name))
        response = await resolve(client.responses.create(**params))
        assert response.id == "resp_0f4faba17dcd0f1e0069e2f3e4907881909179832ba1237025"
        assert response.status == "completed"
        assert response.model == "gpt-4o-mini-2024-07-18"
        assert _output_text(response) == "This is a test."
        usage = response.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (22, 6, 28)
        assert usage.output_tokens_details.reasoning_tokens == 0
        assert transport.request_json() == params

    replay(name, mode, scenario)


@pytest.mark.parametrize("chunk_size", [None, 7])
@pytest.mark.parametrize("mode", MODES)
def test_responses_stream(mode: str, chunk_size: int | None) -> None:
    name = "responses_stream.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        require_responses_api(client)
        params = require_params(client.responses.create, recorded_request(name))
        events = await collect(await resolve(client.responses.create(**params)))
        assert [e.type for e in events] == [p["type"] for p in recorded_sse_payloads(name)]
        assert [e.sequence_number for e in events] == list(range(13))
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "This is a test."
        completed = events[-1]
        assert completed.type == "response.completed"
        assert completed.response.id == "resp_0415a3de5d3015560069e2f3f4b3088192949253e91aff1eb3"
        assert _output_text(completed.response) == "This is a test."
        usage = completed.response.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (22, 6, 28)

    replay(name, mode, scenario, chunk_size=chunk_size)


@pytest.mark.parametrize("mode", MODES)
def test_responses_tool_call(mode: str) -> None:
    name = "responses_tool_call.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        require_responses_api(client)
        params = require_params(client.responses.create, recorded_request(name))
        response = await resolve(client.responses.create(**params))
        assert response.id == "resp_0bedf6e1ffba28050069e2f401ae1c8196be360fd5993c96de"
        [call] = response.output
        assert call.type == "function_call"
        assert call.name == "get_current_weather"
        assert call.call_id == "call_90uO5LcGP5vTBTCrjyhYtWsA"
        assert json.loads(call.arguments) == {"location": "Seattle, WA"}
        usage = response.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (72, 8, 80)

    replay(name, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_responses_reasoning_tokens(mode: str) -> None:
    name = "responses_reasoning_tokens_gpt-5.4.yaml"

    async def scenario(client: Any, transport: ReplayTransport) -> None:
        require_responses_api(client)
        params = require_params(client.responses.create, recorded_request(name))
        response = await resolve(client.responses.create(**params))
        assert response.id == "resp_05177a4994c7df3a0069e2f402f00881a1b9eda520cb779fef"
        assert [item.type for item in response.output] == ["reasoning", "message"]
        assert _output_text(response).startswith("```bash\n#!/usr/bin/env bash")
        usage = response.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (44, 288, 332)
        assert usage.output_tokens_details.reasoning_tokens == 9
        assert transport.request_json()["reasoning"] == {"effort": "low"}

    replay(name, mode, scenario)


# --- the replay helper itself ---------------------------------------------------------


def test_every_openai_cassette_loads() -> None:
    paths = sorted(CASSETTES.glob("*.yaml"))
    assert len(paths) == 18
    for path in paths:
        cassette = load_cassette(path)
        assert cassette.interactions, path.name
        for interaction in cassette.interactions:
            assert interaction.request.method == "POST"
            assert interaction.request.path.startswith("/v1/")
            assert isinstance(interaction.request.json(), dict)
            assert interaction.response.status_code in (200, 404)
            assert interaction.response.text()  # gzip bodies decode too


def test_bare_string_header_values_are_kept() -> None:
    response = load_cassette(CASSETTES / "chat_nonstream_n2_multiple_choices.yaml").interactions[0].response
    raw_values = [v for k, v in response.headers if k.lower() in ("set-cookie", "openai-organization")]
    assert raw_values and all(isinstance(v, str) for v in raw_values)


def _direct_transport(name: str, **kwargs: Any) -> tuple[Any, ReplayTransport]:
    module = openai_httpx_module()
    transport = load_cassette(CASSETTES / name).transport(module, **kwargs)
    return module.Client(transport=transport), transport


def test_mismatch_raises_clear_assertion() -> None:
    http, transport = _direct_transport(STREAM_USAGE)
    expected = r"does not match interaction #0:\n  expected POST https://api\.openai\.com/v1/chat/completions"
    with pytest.raises(AssertionError, match=expected):
        http.post("https://api.openai.com/v1/embeddings", json={})
    assert not transport.all_played
    with pytest.raises(AssertionError, match="interactions \\[0\\] were never requested"):
        transport.assert_all_played()


def test_exhausted_raises_clear_assertion() -> None:
    http, transport = _direct_transport(STREAM_USAGE)
    assert http.post("https://api.openai.com/v1/chat/completions", json={}).status_code == 200
    assert transport.all_played
    with pytest.raises(AssertionError, match="exhausted after 1 interaction"):
        http.post("https://api.openai.com/v1/chat/completions", json={})
    assert not transport.all_played  # the extra request is recorded as an error


def test_sdk_surfaces_replay_errors() -> None:
    # openai >= 3 lets the AssertionError through; 1.x wraps it in APIConnectionError.
    client, transport = openai_client(CASSETTES / STREAM_USAGE)
    with pytest.raises((AssertionError, openai.APIConnectionError)):
        client.embeddings.create(input="x", model="text-embedding-3-small")
    assert "does not match" in transport.errors[0]


def test_query_and_fragment_matching() -> None:
    http, transport = _direct_transport(STREAM_USAGE)
    with pytest.raises(AssertionError, match="does not match"):
        http.post("https://api.openai.com/v1/chat/completions?beta=true", json={})
    http, transport = _direct_transport(STREAM_USAGE, match_query=False)
    assert http.post("https://api.openai.com/v1/chat/completions?beta=true#frag", json={}).status_code == 200
    assert transport.all_played


def test_interaction_selection_and_recorded_requests() -> None:
    http, transport = _direct_transport(CHAT_GZIP, interactions=[3, 0])
    first = http.post("https://api.openai.com/v1/chat/completions", json={"n": 1})
    second = http.post("https://api.openai.com/v1/chat/completions", json={"n": 2})
    assert first.json()["id"] == "chatcmpl-DPTMnBEiSFiGbsTeSSstpHetixHEm"  # decompressed by the client
    assert second.json()["id"] == "chatcmpl-908MD9ivBBLb6EaIjlqwFokntayQK"
    assert transport.played == [3, 0]
    assert [transport.request_json(i) for i in (0, 1)] == [{"n": 1}, {"n": 2}]
    assert transport.all_played
    with pytest.raises(IndexError):
        load_cassette(CASSETTES / CHAT_GZIP).transport(openai_httpx_module(), interactions=[4])


def test_reason_phrase_and_dropped_headers() -> None:
    http, _ = _direct_transport("chat_error_404_model_not_found.yaml")
    response = http.post("https://api.openai.com/v1/chat/completions", json={})
    assert (response.status_code, response.reason_phrase) == (404, "Not Found")
    assert "transfer-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))  # not the stale '231'
    assert response.json()["error"]["code"] == "model_not_found"


def test_async_chunked_stream_yields_pieces() -> None:
    module = openai_httpx_module()
    transport = load_cassette(CASSETTES / STREAM_USAGE).transport(module, is_async=True, chunk_size=7)

    async def main() -> list[bytes]:
        url = "https://api.openai.com/v1/chat/completions"
        async with (
            module.AsyncClient(transport=transport) as http,
            http.stream("POST", url, json={}) as response,
        ):
            return [piece async for piece in response.aiter_raw()]

    pieces = asyncio.run(main())
    assert len(pieces) > 1 and all(len(p) <= 7 for p in pieces)
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n")
    assert transport.all_played
