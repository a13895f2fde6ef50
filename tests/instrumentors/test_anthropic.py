"""Anthropic instrumentation end to end: the real anthropic SDK, with HTTP replayed from recorded cassettes.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* The same file runs against the newest SDK and the oldest supported one (anthropic 0.30): a test skips
  only where that SDK lacks the API (``needs()``), and parameters an SDK's signature lacks are sent
  through ``extra_body`` (``sdk_kwargs()``), as users of that SDK do.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

import llmtrace
from helpers import (
    CACHE_READ,
    CACHE_WRITE,
    INPUT,
    OUTPUT,
    SYSTEM,
    TOOL_DEFINITIONS,
    assert_attributes,
    assert_error_recorded,
    assert_logged,
    assert_no_content,
    assert_streamed,
    assert_token_usage,
    boom,
    cost,
    duration,
    metric_labels,
    metric_points,
    output_message,
    replayed,
    text_message,
    text_part,
    the_span,
    tool_call,
    tool_result,
)
from llmtrace import _semconv as sc
from replay import anthropic_client, anthropic_httpx_module
from scenarios import (
    CAPTURE,
    MODES,
    Consumed,
    Recordings,
    assert_restored,
    assert_wrapped_once,
    call,
    collect,
    consume_helper,
    drive,
    first_then,
    json_answer,
    needs,
    patch_targets,
    resolve,
    run_script,
    scopes_script,
    sdk_kwargs,
    stream_all,
    within,
)

anthropic = pytest.importorskip("anthropic")
from llmtrace.instrumentors import _anthropic_content as content  # noqa: E402
from llmtrace.instrumentors import anthropic as anthropic_instrumentor  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("spans_end_once"),
    # The SDK warns about the retired models these 2024-2025 recordings used; not our concern here.
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Using Claude with .*thinking:UserWarning"),
]

TESTS = Path(__file__).resolve().parent.parent
ANTHROPIC = TESTS / "cassettes" / "anthropic"

NONSTREAM_2024 = "messages_nonstream_claude-3-opus_sdk0.21.yaml"
NONSTREAM_NOW = "messages_nonstream_claude-sonnet-4-6_headers_stripped.yaml"
STREAM = "messages_stream_claude-3-haiku_sdk0.36.yaml"
TOOLS = "messages_tool_use_claude-3-5-sonnet_sdk0.36.yaml"
TOOLS_STREAM = "messages_stream_tool_use_sdk0.57.yaml"
THINKING = "messages_thinking_claude-3-7-sonnet.yaml"
THINKING_STREAM = "messages_stream_thinking_claude-3-7-sonnet.yaml"
CACHING = "messages_prompt_caching_write_then_read.yaml"
BETA = "messages_beta_structured_output_claude-sonnet-4-5_sdk0.74.yaml"


# anthropic >= 2 traces its own API calls (anthropic/_tracing.py); older releases do not.
NATIVE_TRACING = importlib.util.find_spec("anthropic._tracing") is not None


# --- cassette contents (the oracle) --------------------------------------------------------------

RECORDINGS = Recordings(ANTHROPIC)
recorded_request = RECORDINGS.request
recorded_response = RECORDINGS.response


def recorded_events(name: str) -> list[dict[str, Any]]:
    """The ``data:`` payloads of a recorded event stream that the SDK delivers (it drops ``ping``)."""
    return [p for p in RECORDINGS.sse(name) if p["type"] != "ping"]


def streamed_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a recorded event stream adds up to, as far as its id and usage go: message_start's,
    with message_delta's (cumulative) output count."""
    start = events[0]["message"]
    return {**start, "usage": {**start["usage"], "output_tokens": events[-2]["usage"]["output_tokens"]}}


def streamed_blocks(events: list[dict[str, Any]]) -> dict[int, str]:
    """Content block index -> its text, thinking or tool-input JSON, concatenated from the deltas."""
    pieces: dict[int, str] = {}
    for event in events:
        if event["type"] == "content_block_delta":
            delta = event["delta"]
            piece = delta.get("text", delta.get("thinking", delta.get("partial_json", "")))
            pieces[event["index"]] = pieces.get(event["index"], "") + piece
    return pieces


# --- expected attributes -------------------------------------------------------------------------


def usage_and_cost(price_key: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The usage attributes and cost of a recorded ``usage`` object.

    gen_ai.usage.input_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens;
    the two cache counts are reported on their own when the response has them (2025 shapes do, as 0).
    Anthropic's input_tokens exclude the cache reads and writes, as ``cost()``'s do.
    """
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": usage["input_tokens"] + (read or 0) + (write or 0),
        "gen_ai.usage.output_tokens": usage["output_tokens"],
    }
    if read is not None:
        attributes[CACHE_READ] = read
    if write is not None:
        attributes[CACHE_WRITE] = write
    return {
        **attributes,
        **cost(
            price_key,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_read=read or 0,
            cache_write=write or 0,
        ),
    }


def message_response(
    body: dict[str, Any], model: str, price_key: str, finish_reason: str = "end_turn"
) -> dict[str, Any]:
    """The response side of a span of the recorded Message `body`, priced at ``PRICES[price_key]``."""
    return {
        "gen_ai.response.id": body["id"],
        "gen_ai.response.model": model,
        "gen_ai.response.finish_reasons": [finish_reason],  # the raw stop_reason
        **usage_and_cost(price_key, body["usage"]),
    }


def request_attributes(model: str, max_tokens: int = 1024, **extra: Any) -> dict[str, Any]:
    """What an Anthropic span carries from the request alone (sampling attributes first)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": model,
        "server.address": "api.anthropic.com",
        "server.port": 443,
        "gen_ai.request.max_tokens": max_tokens,
        **extra,
    }


JOKE_REQUEST = request_attributes("claude-3-haiku-20240307", **{"gen_ai.request.stream": True})
"""What a span of the STREAM recording carries from the request alone."""
JOKE_PROMPT = [text_message("user", "Tell me a joke about OpenTelemetry")]


def joke_response(response_id: str) -> dict[str, Any]:
    """The response side of a span of the STREAM recording read to its end."""
    return {
        "gen_ai.response.id": response_id,
        "gen_ai.response.model": "claude-3-haiku-20240307",
        "gen_ai.response.finish_reasons": ["end_turn"],  # from message_delta
        # input from message_start, output from message_delta (cumulative)
        "gen_ai.usage.input_tokens": 17,
        "gen_ai.usage.output_tokens": 171,
        **cost("claude-3-haiku", input_tokens=17, output_tokens=171),
    }


# --- driving the SDK -------------------------------------------------------------------------------


def handler_client(
    handler: Callable[[Any], Any], *, is_async: bool = False, cls: Any = None, **kwargs: Any
) -> Any:
    """A real client (Anthropic/AsyncAnthropic, or `cls`) whose HTTP is answered by `handler`."""
    hx = anthropic_httpx_module()
    http = (hx.AsyncClient if is_async else hx.Client)(transport=hx.MockTransport(handler))
    if cls is None:
        cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        kwargs.setdefault("api_key", "test")
        kwargs.setdefault("base_url", "https://api.anthropic.com")
    return cls(http_client=http, max_retries=0, **kwargs)


def json_handler(body: dict[str, Any], status: int = 200) -> Callable[[Any], Any]:
    """A transport handler answering every request with `body`; the requests are kept on it."""
    return json_answer(anthropic_httpx_module(), body, status, headers={"request-id": "req_test"})


# === 1. messages.create, non-streaming ============================================================

NONSTREAM_SHAPES = [
    # 2024 (anthropic 0.21): usage has input_tokens and output_tokens only.
    pytest.param(NONSTREAM_2024, "claude-3-opus", id="2024-shape"),
    # 2026 (headers stripped): usage also has the cache counts (0), cache_creation, service_tier, ...
    pytest.param(NONSTREAM_NOW, "claude-sonnet-4-6", id="2026-shape"),
]


@CAPTURE
@pytest.mark.parametrize(("name", "price_key"), NONSTREAM_SHAPES)
@MODES
def test_anthropic_messages_nonstream(instrument, is_async, name, price_key, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(name)
    body = recorded_response(name)
    client, transport = anthropic_client(ANTHROPIC / name, is_async=is_async)

    message = call(client, client.messages.create, **params)

    assert isinstance(message, anthropic.types.Message)
    assert message.id == body["id"]
    transport.assert_all_played()
    span = the_span(t, f"chat {params['model']}")
    content = {
        INPUT: [text_message("user", params["messages"][0]["content"])],
        # end_turn is "stop" in the schema's vocabulary
        OUTPUT: [output_message(text_part(body["content"][0]["text"]))],
    }
    assert_attributes(
        span,
        {
            **request_attributes(params["model"]),
            **(content if capture_content else {}),
            **message_response(body, body["model"], price_key),
        },
    )
    if not capture_content:
        assert_no_content(span)
    assert span.events == ()


@MODES
def test_anthropic_messages_request_parameters(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(NONSTREAM_NOW)
    client, transport = anthropic_client(ANTHROPIC / NONSTREAM_NOW, is_async=is_async)
    # The replay matches method and path only, so the recorded answer serves these extra parameters.
    params = sdk_kwargs(
        client.messages.create,
        **recorded_request(NONSTREAM_NOW),
        system="Answer in one sentence.",
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop_sequences=["\n\nHuman:"],
        output_config={"effort": "low"},
    )

    call(client, client.messages.create, **params)

    sent = transport.request_json()
    assert (sent["top_k"], sent["output_config"], sent["system"]) == (
        40,
        {"effort": "low"},
        "Answer in one sentence.",
    )
    span = the_span(t, "chat claude-sonnet-4-6")
    assert_attributes(
        span,
        {
            **request_attributes(
                "claude-sonnet-4-6",
                **{
                    "gen_ai.request.temperature": 0.5,
                    "gen_ai.request.top_p": 0.9,
                    "gen_ai.request.top_k": 40,
                    "gen_ai.request.stop_sequences": ["\n\nHuman:"],
                    "gen_ai.request.reasoning.level": "low",  # output_config.effort
                },
            ),
            SYSTEM: [text_part("Answer in one sentence.")],  # the system prompt, apart from the history
            INPUT: [text_message("user", "What's the capital of France?")],
            OUTPUT: [output_message(text_part("The capital of France is **Paris**."))],
            **message_response(body, "claude-sonnet-4-6", "claude-sonnet-4-6"),
        },
    )
    assert isinstance(span.attributes["gen_ai.request.top_k"], int)  # an int, per the semconv


# === 2. messages.create(stream=True): the raw event stream ========================================


@MODES
def test_anthropic_messages_stream_raw_events(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(STREAM)
    payloads = recorded_events(STREAM)
    start, delta = payloads[0]["message"], payloads[-2]
    assert (start["usage"], delta["usage"]) == (
        {"input_tokens": 17, "output_tokens": 3},
        {"output_tokens": 171},
    )
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    events = stream_all(client, client.messages.create, **params)

    assert [e.to_dict() for e in events] == payloads  # delivered unchanged, in order
    span = the_span(t, "chat claude-3-haiku-20240307")
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            INPUT: JOKE_PROMPT,
            OUTPUT: [output_message(text_part(streamed_blocks(payloads)[0]))],
            **joke_response(start["id"]),
        },
        chunks=len(payloads),  # every event but the pings
    )


@MODES
def test_anthropic_messages_stream_raw_closed_early(instrument, is_async):
    t = instrument()
    payloads = recorded_events(STREAM)
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> Any:
        stream = await resolve(client.messages.create(**recorded_request(STREAM)))
        return await first_then(stream, "close", aclose=False)

    first = drive(client, scenario)

    assert first.type == "message_start"
    span = the_span(t, "chat claude-3-haiku-20240307")  # close() ended it, once
    usage = payloads[0]["message"]["usage"]  # the counts message_start reported so far
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            "gen_ai.response.id": payloads[0]["message"]["id"],
            "gen_ai.response.model": "claude-3-haiku-20240307",
            # no stop_reason arrived: no finish reason is claimed
            **usage_and_cost("claude-3-haiku", usage),
        },
        chunks=1,
    )


# === 3. the messages.stream(...) helper ===========================================================


def consume_messages(manager: Any, **options: Any) -> Awaitable[Consumed]:
    """``consume_helper()``, the final message fetched in the block once all was read."""
    return consume_helper(manager, final="get_final_message", **options)


def helper_params(name: str, client: Any) -> dict[str, Any]:
    """The recorded request as stream() arguments (the helper sets stream itself)."""
    params = recorded_request(name)
    params.pop("stream", None)
    return sdk_kwargs(client.messages.stream, **params)


@pytest.mark.parametrize("text_only", [False, True], ids=["events", "text_stream"])
@MODES
def test_anthropic_stream_helper_fully_consumed(instrument, is_async, text_only):
    t = instrument(capture_content=True)
    payloads = recorded_events(STREAM)
    joke = streamed_blocks(payloads)[0]
    client, transport = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> Any:
        manager = client.messages.stream(**helper_params(STREAM, client))
        assert t.spans() == []  # nothing is sent before the block is entered
        return await consume_messages(manager, text_only=text_only)

    read, _, final = drive(client, scenario)

    transport.assert_all_played()
    if text_only:
        assert "".join(read) == joke
    assert final.content[0].text == joke
    assert (final.usage.input_tokens, final.usage.output_tokens) == (17, 171)
    span = the_span(t, "chat claude-3-haiku-20240307")  # exactly one span, ended once
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            INPUT: JOKE_PROMPT,
            OUTPUT: [output_message(text_part(joke))],
            **joke_response(payloads[0]["message"]["id"]),
        },
        chunks=len(payloads),
    )


@MODES
def test_anthropic_stream_helper_exited_early(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_events(STREAM)
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> Any:
        return await consume_messages(client.messages.stream(**helper_params(STREAM, client)), stop_after=1)

    (event,), _, _ = drive(client, scenario)

    assert event.type == "message_start"
    span = the_span(t, "chat claude-3-haiku-20240307")  # leaving the block ended it, once
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            INPUT: JOKE_PROMPT,
            # Nothing of the reply had arrived and it never finished: no parts, no finish reason claimed.
            OUTPUT: [output_message(finish_reason="")],
            "gen_ai.response.id": payloads[0]["message"]["id"],
            "gen_ai.response.model": "claude-3-haiku-20240307",
            **usage_and_cost("claude-3-haiku", payloads[0]["message"]["usage"]),
        },
        chunks=1,
    )


@MODES
def test_anthropic_beta_stream_helper(instrument, is_async):
    t = instrument()
    payloads = recorded_events(STREAM)
    # beta requests go to /v1/messages?beta=true; this recording was made without the query
    client, transport = anthropic_client(ANTHROPIC / STREAM, is_async=is_async, match_query=False)
    stream = needs(client, "beta", "messages", "stream")

    async def scenario() -> Any:
        return await consume_messages(stream(**helper_params(STREAM, client)))

    final = drive(client, scenario).final

    transport.assert_all_played()
    assert final.id == payloads[0]["message"]["id"]
    assert_streamed(
        the_span(t, "chat claude-3-haiku-20240307"),
        {
            **JOKE_REQUEST,
            **joke_response(final.id),
        },
        chunks=len(payloads),
    )


# === 4. tool use ==================================================================================

WEATHER_TOOLS = [{"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_time"}]


@MODES
def test_anthropic_tool_use_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(TOOLS)
    body = recorded_response(TOOLS)
    calls = [b for b in body["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]  # two parallel tool_use blocks
    # There is no recorded second turn: the replay serves the first answer again, and what is checked
    # on the second span is how the request (tool calls and their results) is mapped.
    client, transport = anthropic_client(ANTHROPIC / TOOLS, is_async=is_async, interactions=[0, 0])
    results: dict[str, Any] = {
        "get_weather": "72°F and sunny",
        "get_time": [{"type": "text", "text": "It is "}, {"type": "text", "text": "3:04 PM EDT"}],
    }

    async def scenario() -> None:
        first = await resolve(client.messages.create(**params))
        answers = [
            {"type": "tool_result", "tool_use_id": b.id, "content": results[b.name]}
            for b in first.content
            if b.type == "tool_use"
        ]
        messages = [
            *params["messages"],
            {"role": "assistant", "content": first.content},  # the SDK's blocks, passed back as they are
            {"role": "user", "content": answers},
        ]
        await resolve(client.messages.create(**{**params, "messages": messages}))

    drive(client, scenario)

    sent = transport.request_json(1)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    first_span, second_span = t.spans()
    question = text_message("user", params["messages"][0]["content"])
    reply = output_message(
        text_part(body["content"][0]["text"]),
        *(tool_call(c["id"], c["name"], c["input"]) for c in calls),
        finish_reason="tool_call",
    )
    # tool_use is raw ("tool_call" in the output message); 514 / 152, no cache fields in 2024
    response = message_response(body, "claude-3-5-sonnet-20240620", "claude-3-5-sonnet", "tool_use")
    assert_attributes(
        first_span,
        {
            **request_attributes("claude-3-5-sonnet-20240620"),
            INPUT: [question],
            TOOL_DEFINITIONS: WEATHER_TOOLS,  # type and name only by default
            OUTPUT: [reply],
            **response,
        },
    )
    assert_attributes(
        second_span,
        {
            **request_attributes("claude-3-5-sonnet-20240620"),
            INPUT: [
                question,
                replayed(reply),
                {
                    "role": "user",  # Anthropic carries tool results in a user message
                    "parts": [
                        tool_result(calls[0]["id"], "72°F and sunny"),
                        tool_result(calls[1]["id"], "It is 3:04 PM EDT"),  # a result's text blocks, joined
                    ],
                },
            ],
            TOOL_DEFINITIONS: WEATHER_TOOLS,
            OUTPUT: [reply],
            **response,
        },
    )


def test_anthropic_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    params = recorded_request(TOOLS)
    client, _ = anthropic_client(ANTHROPIC / TOOLS)

    call(client, client.messages.create, **params)

    definitions = json.loads(the_span(t, "chat claude-3-5-sonnet-20240620").attributes[TOOL_DEFINITIONS])
    assert definitions == [
        {
            "type": "function",
            "name": tool["name"],
            "description": tool["description"],
            "parameters": tool["input_schema"],
        }
        for tool in params["tools"]
    ]


@MODES
def test_anthropic_stream_tool_use_input_json_reassembled(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(TOOLS_STREAM)
    payloads = recorded_events(TOOLS_STREAM)
    fragments = [
        e for e in payloads if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert len(fragments) > 10  # the tool inputs really arrive in pieces
    starts = {e["index"]: e["content_block"] for e in payloads if e["type"] == "content_block_start"}
    pieces = streamed_blocks(payloads)
    client, _ = anthropic_client(ANTHROPIC / TOOLS_STREAM, is_async=is_async)

    stream_all(client, client.messages.create, **params)

    message = streamed_message(payloads)
    span = the_span(t, "chat claude-3-5-sonnet-20240620")
    assert_streamed(
        span,
        {
            **request_attributes("claude-3-5-sonnet-20240620", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "What is the weather and current time in San Francisco?")],
            TOOL_DEFINITIONS: WEATHER_TOOLS,
            OUTPUT: [
                output_message(
                    text_part(pieces[0]),
                    # each tool's input_json_delta fragments, joined and parsed into an arguments object
                    tool_call(
                        starts[1]["id"], "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}
                    ),
                    tool_call(starts[2]["id"], "get_time", {"timezone": "America/Los_Angeles"}),
                    finish_reason="tool_call",
                )
            ],
            # 506 in (cache 0 / 0), 153 out
            **message_response(message, "claude-3-5-sonnet-20240620", "claude-3-5-sonnet", "tool_use"),
        },
        chunks=len(payloads),
    )
    assert json.loads(pieces[1]) == {"location": "San Francisco, CA", "unit": "celsius"}


# === 5. extended thinking =========================================================================

STRAWBERRY = "How many times does the letter 'r' appear in the word strawberry?"


@MODES
def test_anthropic_thinking_nonstream_reasoning_part(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(THINKING)
    thinking, answer = body["content"]
    assert thinking["type"] == "thinking" and thinking["signature"]
    client, transport = anthropic_client(ANTHROPIC / THINKING, is_async=is_async)

    call(client, client.messages.create, **sdk_kwargs(client.messages.create, **recorded_request(THINKING)))

    assert transport.request_json()["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert_attributes(
        the_span(t, "chat claude-3-7-sonnet-20250219"),
        {
            **request_attributes("claude-3-7-sonnet-20250219", max_tokens=2048),
            INPUT: [text_message("user", STRAWBERRY)],
            # the thinking block as a reasoning part (its signature is not content), then the answer
            OUTPUT: [
                output_message(
                    {"type": "reasoning", "content": thinking["thinking"]}, text_part(answer["text"])
                )
            ],
            # 215 output tokens, thinking included
            **message_response(body, "claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        },
    )


@MODES
def test_anthropic_thinking_stream_reasoning_part(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_events(THINKING_STREAM)
    kinds = {e["delta"]["type"] for e in payloads if e["type"] == "content_block_delta"}
    assert kinds == {"thinking_delta", "signature_delta", "text_delta"}
    pieces = streamed_blocks(payloads)
    client, _ = anthropic_client(ANTHROPIC / THINKING_STREAM, is_async=is_async)

    stream_all(
        client,
        client.messages.create,
        **sdk_kwargs(client.messages.create, **recorded_request(THINKING_STREAM)),
    )

    message = streamed_message(payloads)
    span = the_span(t, "chat claude-3-7-sonnet-20250219")
    assert_streamed(
        span,
        {
            **request_attributes(
                "claude-3-7-sonnet-20250219", max_tokens=2048, **{"gen_ai.request.stream": True}
            ),
            INPUT: [text_message("user", STRAWBERRY)],
            OUTPUT: [output_message({"type": "reasoning", "content": pieces[0]}, text_part(pieces[1]))],
            **message_response(message, "claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        },
        chunks=len(payloads),
    )


def test_anthropic_content_blocks_mapping_table():
    """The block shapes no recording has: redacted thinking, media, server tools, documents."""
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    cases = [
        (
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy..."},
            {"type": "reasoning", "content": "", "redacted": True},
        ),
        (
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "reasoning", "content": "hmm"},
        ),
        (
            {"type": "image", "source": image},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
        ),
        (
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
        ),
        (
            {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
            {"type": "file", "modality": "document", "file_id": "file_011"},
        ),
        (
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
            {"type": "text", "content": "notes"},
        ),
        (
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "otel"}},
            {
                "type": "server_tool_call",
                "id": "srvtoolu_1",
                "name": "web_search",
                "server_tool_call": {"type": "web_search", "input": {"query": "otel"}},
            },
        ),
        (
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {
                "type": "server_tool_call_response",
                "id": "srvtoolu_1",
                "server_tool_call_response": {"type": "web_search_tool_result"},
            },
        ),
        ({"type": "container_upload", "file_id": "file_1"}, {"type": "container_upload"}),
    ]
    for block, part in cases:
        assert content.block_part(block) == part, block["type"]
    # system: text blocks only (the schema allows nothing else there)
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert content.system_instructions(system) == [text_part("Be brief.")]
    assert content.system_instructions("") is None
    # server tools are named by their versioned type
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]
    assert content.tool_definitions(tools) == [{"type": "web_search_20250305", "name": "web_search"}]
    finish = {
        "end_turn": "stop",
        "max_tokens": "length",
        "tool_use": "tool_call",
        "refusal": "content_filter",
    }
    for reason, mapped in {**finish, "pause_turn": "pause_turn", None: ""}.items():
        assert content.output_finish_reason(reason) == mapped


# === 6. prompt caching ============================================================================


@MODES
def test_anthropic_prompt_caching_write_then_read(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(CACHING)
    bodies = [recorded_response(CACHING, 0), recorded_response(CACHING, 1)]
    usages = [b["usage"] for b in bodies]
    assert [
        (u["input_tokens"], u["cache_creation_input_tokens"], u["cache_read_input_tokens"]) for u in usages
    ] == [
        (4, 1163, 0),  # the first call writes the cache
        (4, 0, 1163),  # the second reads it
    ]
    client, _ = anthropic_client(ANTHROPIC / CACHING, is_async=is_async)

    async def scenario() -> None:
        for _ in bodies:
            await resolve(client.messages.create(**params))

    drive(client, scenario)

    cold, warm = t.spans()
    for span, body, (written, read) in zip((cold, warm), bodies, ((1163, 0), (0, 1163)), strict=True):
        output_tokens = body["usage"]["output_tokens"]
        assert_attributes(
            span,
            {
                **request_attributes("claude-3-5-sonnet-20240620"),
                SYSTEM: [text_part(params["system"][0]["text"])],
                INPUT: [text_message("user", params["messages"][0]["content"][0]["text"])],
                OUTPUT: [output_message(text_part(body["content"][0]["text"]))],
                "gen_ai.response.id": body["id"],
                "gen_ai.response.model": "claude-3-5-sonnet-20240620",
                "gen_ai.response.finish_reasons": ["end_turn"],
                "gen_ai.usage.input_tokens": 4 + 1163,  # includes the cache write or read
                "gen_ai.usage.output_tokens": output_tokens,
                CACHE_WRITE: written,
                CACHE_READ: read,
                # cache writes at 3.75, reads at 0.30, the 4 fresh tokens at 3.00 USD per 1M
                **cost(
                    "claude-3-5-sonnet",
                    input_tokens=4,
                    output_tokens=output_tokens,
                    cache_write=written,
                    cache_read=read,
                ),
            },
        )
    input_cost = sc.LLMTRACE_COST_INPUT_USD
    assert cold.attributes[input_cost] == pytest.approx((4 * 3.0 + 1163 * 3.75) / 1e6)
    assert warm.attributes[input_cost] == pytest.approx((4 * 3.0 + 1163 * 0.30) / 1e6)


def test_anthropic_metrics_token_usage_includes_cache_tokens(instrument):
    t = instrument()
    client, _ = anthropic_client(ANTHROPIC / CACHING)

    async def scenario() -> None:
        for _ in range(2):
            await resolve(client.messages.create(**recorded_request(CACHING)))

    drive(client, scenario)
    cold, warm = t.spans()
    outputs = [recorded_response(CACHING, i)["usage"]["output_tokens"] for i in (0, 1)]  # 187, 202

    points = metric_points(t.reader)

    model = "claude-3-5-sonnet-20240620"
    labels = metric_labels({**request_attributes(model), "gen_ai.response.model": model})
    tokens = assert_token_usage(points, labels, 2 * (4 + 1163), sum(outputs))  # cache tokens included
    assert (tokens["input"].count, tokens["output"].count) == (2, 2)
    [durations] = points[sc.METRIC_OPERATION_DURATION]
    assert dict(durations.attributes) == labels
    assert durations.count == 2
    assert 0 < durations.sum <= duration(cold) + duration(warm)
    [spent] = points[sc.METRIC_COST]
    assert dict(spent.attributes) == labels
    assert spent.sum == pytest.approx(
        cold.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] + warm.attributes[sc.GEN_AI_USAGE_COST_AMOUNT]
    )
    assert sc.METRIC_TIME_TO_FIRST_CHUNK not in points  # nothing was streamed


# === 7. errors ====================================================================================

INVALID = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "max_tokens: must be greater than or equal to 1"},
}


@MODES
def test_anthropic_error_4xx_reraised_unchanged(instrument, is_async):
    # No Anthropic error was ever recorded: a transport answers with the API's error envelope.
    params = {"model": "claude-sonnet-4-6", "max_tokens": 0, "messages": [{"role": "user", "content": "Hi"}]}

    def attempt() -> Any:
        client = handler_client(json_handler(INVALID, status=400), is_async=is_async)
        with pytest.raises(anthropic.BadRequestError) as caught:
            call(client, client.messages.create, **params)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) is anthropic.BadRequestError
    assert str(error) == str(bare)
    assert (error.status_code, error.body) == (400, bare.body) == (400, INVALID)
    span = the_span(t, "chat claude-sonnet-4-6", StatusCode.ERROR)
    assert span.status.description == f"BadRequestError: {error}"
    assert_attributes(
        span, {**request_attributes("claude-sonnet-4-6", max_tokens=0), "error.type": "BadRequestError"}
    )
    assert_error_recorded(t, span, error, metric_labels(request_attributes("claude-sonnet-4-6")))


@MODES
def test_anthropic_stream_helper_error_on_enter(instrument, is_async):
    t = instrument()
    client = handler_client(json_handler(INVALID, status=400), is_async=is_async)
    params = {"model": "claude-sonnet-4-6", "max_tokens": 0, "messages": [{"role": "user", "content": "Hi"}]}

    async def scenario() -> None:
        await consume_messages(client.messages.stream(**params))

    with pytest.raises(anthropic.BadRequestError):
        drive(client, scenario)

    span = the_span(t, "chat claude-sonnet-4-6", StatusCode.ERROR)
    assert_attributes(
        span,
        {
            **request_attributes("claude-sonnet-4-6", max_tokens=0, **{"gen_ai.request.stream": True}),
            "error.type": "BadRequestError",
        },
    )


# === 8. beta, parse, raw responses ================================================================


class Joke(BaseModel):
    joke: str
    rating: int


@MODES
def test_anthropic_beta_messages_structured_output(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(BETA)
    body = recorded_response(BETA)
    output_format = params.pop("output_format")
    # recorded at /v1/messages?beta=true; the SDK's beta calls may send no query
    client, transport = anthropic_client(ANTHROPIC / BETA, is_async=is_async, match_query=False)
    create = needs(client, "beta", "messages", "create")

    message = call(client, create, **params, extra_body={"output_format": output_format})

    assert transport.request_json()["output_format"] == output_format
    assert json.loads(message.content[0].text)["rating"] == 7
    assert_attributes(
        the_span(t, "chat claude-sonnet-4-5-20250929"),
        {
            **request_attributes("claude-sonnet-4-5-20250929", **{"gen_ai.output.type": "json"}),
            INPUT: [text_message("user", params["messages"][0]["content"])],
            OUTPUT: [output_message(text_part(body["content"][0]["text"]))],
            **message_response(body, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        },
    )


@MODES
def test_anthropic_messages_parse_pydantic_output_format(instrument, is_async):
    t = instrument()
    body = recorded_response(BETA)
    client, _ = anthropic_client(ANTHROPIC / BETA, is_async=is_async, match_query=False)
    parse = needs(client, "messages", "parse")

    parsed = call(
        client,
        parse,
        model="claude-sonnet-4-5-20250929",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Tell me a joke about OpenTelemetry and rate it from 1 to 10"}],
        output_format=Joke,
    )

    assert parsed.parsed_output == Joke(**json.loads(body["content"][0]["text"]))
    assert_attributes(
        the_span(t, "chat claude-sonnet-4-5-20250929"),
        {
            **request_attributes("claude-sonnet-4-5-20250929", **{"gen_ai.output.type": "json"}),
            **message_response(body, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        },
    )


async def parse_raw_response(client: Any, params: dict[str, Any]) -> Any:
    raw = await resolve(client.messages.with_raw_response.create(**params))
    return await resolve(raw.parse())


async def parse_streaming_response(client: Any, params: dict[str, Any]) -> Any:
    return await within(client.messages.with_streaming_response.create(**params), lambda r: r.parse())


@pytest.mark.parametrize(
    "parse",
    [parse_raw_response, parse_streaming_response],
    ids=["with_raw_response", "with_streaming_response"],
)
@MODES
def test_anthropic_raw_response_parsed_is_fully_traced(instrument, is_async, parse):
    t = instrument()
    params = recorded_request(NONSTREAM_NOW)
    body = recorded_response(NONSTREAM_NOW)
    client, _ = anthropic_client(ANTHROPIC / NONSTREAM_NOW, is_async=is_async)

    message = drive(client, lambda: parse(client, params))

    assert message.id == body["id"]
    # The span waited for the caller's parse() and describes what it returned.
    assert_attributes(
        the_span(t, "chat claude-sonnet-4-6"),
        {
            **request_attributes("claude-sonnet-4-6"),
            **message_response(body, "claude-sonnet-4-6", "claude-sonnet-4-6"),
        },
    )


@MODES
def test_anthropic_with_raw_response_stream(instrument, is_async):
    t = instrument()
    payloads = recorded_events(STREAM)
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> tuple[str, list[Any]]:
        raw = await resolve(client.messages.with_raw_response.create(**recorded_request(STREAM)))
        return type(raw).__name__, await collect(await resolve(raw.parse()))

    kind, events = drive(client, scenario)

    assert [e.to_dict() for e in events] == payloads  # the caller reads every event
    span = the_span(t, "chat claude-3-haiku-20240307")
    if kind == "LegacyAPIResponse":
        # anthropic < 1 parses a raw stream synchronously, even on the async client: the stream is
        # the caller's, and the span keeps to the request side.
        assert_attributes(span, JOKE_REQUEST)
        return
    # Newer SDKs: the span follows parse() into the stream it returns.
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            **joke_response(payloads[0]["message"]["id"]),
        },
        chunks=len(payloads),
    )


# === 9. legacy Text Completions (anthropic < 1) ====================================================

# No recording exists; the shapes are the API's documented Completion object and its SSE events.
COMPLETION = {
    "type": "completion",
    "id": "compl_01EKm5HZ9y6khqaSZjsX44fS",
    "completion": " Hello! How can I help you today?",
    "stop_reason": "stop_sequence",
    "model": "claude-2.1",
}
PROMPT = "\n\nHuman: Say hello\n\nAssistant:"


def estimated(texts: list[str]) -> int:
    """llmtrace's documented estimate for models without a known tokenizer: ceil(characters / 4)."""
    return sum(-(-len(t) // 4) for t in texts)


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@MODES
def test_anthropic_legacy_completions(instrument, is_async, stream):
    t = instrument(capture_content=True)
    hx = anthropic_httpx_module()
    pieces = [" Hello!", " How can I help", " you today?"]

    def handler(request: Any) -> Any:
        if not stream:
            return json_handler(COMPLETION)(request)
        events = [{**COMPLETION, "completion": p, "stop_reason": None} for p in pieces]
        events[-1]["stop_reason"] = "stop_sequence"
        sse = "".join(f"event: completion\ndata: {json.dumps(e)}\n\n" for e in events)
        return hx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())

    client = handler_client(handler, is_async=is_async)
    create = needs(client, "completions", "create")
    params = {"model": "claude-2.1", "max_tokens_to_sample": 256, "prompt": PROMPT}

    if stream:
        assert "".join(e.completion for e in stream_all(client, create, **params, stream=True)) == "".join(
            pieces
        )
    else:
        assert call(client, create, **params).completion == COMPLETION["completion"]
    t.handle.force_flush()  # the API reports no usage: llmtrace counts tokens off the caller's thread

    reply = "".join(pieces) if stream else COMPLETION["completion"]
    assert reply == COMPLETION["completion"]
    input_tokens, output_tokens = estimated([PROMPT]), estimated([reply])
    span = t.span()
    assert span.name == "text_completion claude-2.1"
    expected = {
        **request_attributes("claude-2.1", max_tokens=256, **{"gen_ai.operation.name": "text_completion"}),
        INPUT: [text_message("user", PROMPT)],
        OUTPUT: [output_message(text_part(reply))],  # stop_sequence is "stop"
        "gen_ai.response.id": COMPLETION["id"],
        "gen_ai.response.model": "claude-2.1",
        "gen_ai.response.finish_reasons": ["stop_sequence"],
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "llmtrace.usage.estimated": True,
        "llmtrace.usage.tokenizer": "chars/4",
        **cost("claude-2.1", input_tokens=input_tokens, output_tokens=output_tokens),
    }
    if stream:
        assert_streamed(span, {**expected, "gen_ai.request.stream": True}, chunks=len(pieces))
    else:
        assert_attributes(span, expected)


# === 10. provider and server detection ============================================================


@MODES
def test_anthropic_vertex_provider(instrument, is_async):
    t = instrument()
    params = recorded_request(NONSTREAM_NOW)
    body = recorded_response(NONSTREAM_NOW)
    handler = json_handler(body)
    client = handler_client(
        handler,
        is_async=is_async,
        cls=anthropic.AsyncAnthropicVertex if is_async else anthropic.AnthropicVertex,
        access_token="test",
        region="us-east5",
        project_id="example-project",
    )

    call(client, client.messages.create, **params)

    [request] = handler.seen
    assert request.url.path == (
        "/v1/projects/example-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-6:rawPredict"
    )
    assert_attributes(
        the_span(t, "chat claude-sonnet-4-6"),
        {
            **request_attributes("claude-sonnet-4-6"),
            "gen_ai.provider.name": "gcp.vertex_ai",  # who serves the call
            "server.address": "us-east5-aiplatform.googleapis.com",
            **message_response(body, "claude-sonnet-4-6", "claude-sonnet-4-6"),
        },
    )


@pytest.mark.parametrize(
    ("client_kwargs", "expected"),
    [
        ({}, ("anthropic", "api.anthropic.com", 443)),
        ({"base_url": "http://localhost:8080"}, ("anthropic", "localhost", 8080)),
        # a plain client pointed at the platforms' hosts still reports them
        (
            {"base_url": "https://bedrock-runtime.eu-west-1.amazonaws.com"},
            ("aws.bedrock", "bedrock-runtime.eu-west-1.amazonaws.com", 443),
        ),
        (
            {"base_url": "https://aiplatform.googleapis.com/v1"},
            ("gcp.vertex_ai", "aiplatform.googleapis.com", 443),
        ),
    ],
    ids=["default", "local", "bedrock-host", "vertex-host"],
)
def test_anthropic_server_and_provider_from_base_url(client_kwargs, expected):
    client = handler_client(json_handler({}), **client_kwargs)
    request = anthropic_instrumentor.messages_request(
        client.messages, {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": []}, False
    )
    assert (request.provider, request.server_address, request.server_port) == expected


def test_anthropic_bedrock_client_reports_aws_bedrock():
    # Bedrock signs requests with botocore, which the test environment need not have: map the request only.
    hx = anthropic_httpx_module()
    client = anthropic.AnthropicBedrock(
        aws_region="us-east-1", aws_access_key="test", aws_secret_key="test", http_client=hx.Client()
    )
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    request = anthropic_instrumentor.messages_request(
        client.messages, {"model": model, "max_tokens": 8, "messages": []}, False
    )
    assert (request.provider, request.model, request.server_address, request.server_port) == (
        "aws.bedrock",
        model,
        "bedrock-runtime.us-east-1.amazonaws.com",
        443,
    )


# === 11. the SDK's own spans ======================================================================


@pytest.mark.parametrize("how", ["create", "stream-helper"])
@MODES
def test_anthropic_sdk_native_span_off_while_instrumented_and_restored(instrument, is_async, how):
    t = instrument()
    option = {"open_telemetry": {"tracer_provider": t.tracer_provider}} if NATIVE_TRACING else {}

    def one_call() -> list[str]:
        name = NONSTREAM_NOW if how == "create" else STREAM
        client, _ = anthropic_client(ANTHROPIC / name, is_async=is_async, **option)
        if how == "create":
            call(client, client.messages.create, **recorded_request(name))
        else:
            drive(client, lambda: consume_messages(client.messages.stream(**helper_params(name, client))))
        scopes = [s.instrumentation_scope.name for s in t.spans()]
        t.exporter.clear()
        return scopes

    assert one_call() == ["llmtrace"]  # exactly one span, ours: the SDK started none

    t.handle.uninstrument()

    # The SDK's span is back (anthropic >= 2), or there is none at all (older SDKs have no tracing).
    assert one_call() == (["com.anthropic.sdk.python"] if NATIVE_TRACING else [])


def test_anthropic_sdk_native_span_kept_for_calls_llmtrace_does_not_trace(instrument):
    if not NATIVE_TRACING:
        pytest.skip(f"anthropic {anthropic.__version__} has no tracing of its own")
    t = instrument()
    client = handler_client(
        json_handler({"input_tokens": 12}), open_telemetry={"tracer_provider": t.tracer_provider}
    )

    count = call(
        client,
        client.messages.count_tokens,
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": "Hi"}],
    )

    assert count.input_tokens == 12
    [span] = t.spans()  # the switch is per call: only the calls llmtrace traces lose the SDK's span
    assert (span.name, span.instrumentation_scope.name) == (
        "anthropic.messages.count_tokens",
        "com.anthropic.sdk.python",
    )


NATIVE_SCRIPT = scopes_script("""
from replay import anthropic_client, load_cassette
client, _ = anthropic_client(cassette)
client.messages.create(**load_cassette(cassette).interactions[0].request.json())
""")


def test_anthropic_sdk_native_span_with_global_tracer_provider():
    scopes = run_script(
        NATIVE_SCRIPT,
        str(TESTS),
        str(ANTHROPIC / NONSTREAM_NOW),
        drop_env=("ANTHROPIC_", "OTEL_", "LLMTRACE_"),
    )

    native = ["com.anthropic.sdk.python"] if NATIVE_TRACING else []
    assert scopes == {"before": native, "during": ["llmtrace"], "after": native}


# === 12. uninstrument, idempotence ================================================================


def test_anthropic_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(anthropic_instrumentor.PATCHES)  # anthropic.resources.completions: gone in 1.x
    assert "anthropic.resources.messages:Messages.create" in before
    assert "anthropic.lib.streaming._messages:MessageStreamManager.__enter__" in before
    assert ("anthropic._base_client:start_api_call_span" in before) is NATIVE_TRACING

    t = instrument()
    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    assert again is t.handle
    assert sorted(p for p in t.handle.patched if p.startswith("anthropic")) == sorted(before)
    assert_wrapped_once(before)  # even after a second instrument()

    t.handle.uninstrument()

    assert_restored(before)
    client, _ = anthropic_client(ANTHROPIC / STREAM)
    drive(client, lambda: consume_messages(client.messages.stream(**helper_params(STREAM, client))))
    assert [s for s in t.spans() if s.instrumentation_scope.name == "llmtrace"] == []


# === 13. containment: llmtrace's failures never reach the caller ==================================


@MODES
def test_anthropic_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(anthropic_instrumentor, "_usage", boom)  # called by messages_response
    body = recorded_response(NONSTREAM_NOW)
    client, _ = anthropic_client(ANTHROPIC / NONSTREAM_NOW, is_async=is_async)

    message = call(client, client.messages.create, **recorded_request(NONSTREAM_NOW))

    assert type(message) is anthropic.types.Message
    assert message.to_dict() == body
    span = the_span(t, "chat claude-sonnet-4-6")  # still ended, once, without the response side
    assert_attributes(span, request_attributes("claude-sonnet-4-6"))
    assert_logged(caplog, "finish")


@MODES
def test_anthropic_containment_request_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(anthropic_instrumentor, "_request", boom)  # called by every request mapper
    client, transport = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> Any:
        return await consume_messages(client.messages.stream(**helper_params(STREAM, client)))

    final = drive(client, scenario).final

    assert final.usage.output_tokens == 171
    transport.assert_all_played()
    assert [
        s for s in t.spans() if s.instrumentation_scope.name == "llmtrace"
    ] == []  # passed straight through
    assert_logged(caplog, "start")


@pytest.mark.parametrize("failing", ["add", "result"])
@MODES
def test_anthropic_containment_stream_accumulator_fails(contained, monkeypatch, caplog, is_async, failing):
    t = contained(capture_content=True)
    monkeypatch.setattr(anthropic_instrumentor.MessageAccumulator, failing, boom)
    payloads = recorded_events(STREAM)
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    events = stream_all(client, client.messages.create, **recorded_request(STREAM))

    assert [e.to_dict() for e in events] == payloads  # every event delivered, unchanged
    span = the_span(t, "chat claude-3-haiku-20240307")  # ended once, with what llmtrace could still say
    assert_streamed(
        span,
        {
            **JOKE_REQUEST,
            INPUT: JOKE_PROMPT,
        },
        chunks=len(payloads),
    )
    assert_logged(caplog, f"stream.{failing}")


@MODES
def test_anthropic_containment_stream_helper_proxy_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(anthropic_instrumentor.MessageAccumulator, "__init__", boom)
    client, _ = anthropic_client(ANTHROPIC / STREAM, is_async=is_async)

    async def scenario() -> Any:
        return await consume_messages(client.messages.stream(**helper_params(STREAM, client)), text_only=True)

    read, _, final = drive(client, scenario)

    assert "".join(read) == final.content[0].text == streamed_blocks(recorded_events(STREAM))[0]
    span = the_span(t, "chat claude-3-haiku-20240307")  # ended when the proxy could not be made
    assert_attributes(span, JOKE_REQUEST)
    assert_logged(caplog, "finish")
