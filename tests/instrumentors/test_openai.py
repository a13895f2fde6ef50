"""OpenAI instrumentation end to end: the real openai SDK, with HTTP replayed from recorded cassettes.

Rules followed by every test here:

* Each span's attributes are all accounted for: ``assert_attributes`` fails on a missing *or an extra* one.
* Ids, models and token counts come from the cassettes (``recorded_*`` below), never from llmtrace.
* Costs are computed here from ``llmtrace/prices.json`` (USD per 1M tokens) by ``cost()``, so the
  arithmetic is visible; the price key used is named at each call.
* Scenarios are written once as ``async def`` and run with both clients: ``resolve()`` awaits only what
  the async client returns, ``drive()`` runs the scenario in an event loop and closes the client
  (``scenarios.py``).
* No span is ended twice or changed after its end (``spans_end_once``).
"""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any

import openai
import pytest
import tiktoken
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, RootModel

import llmtrace
from helpers import (
    PRICES,
    TTFC,
    assert_attributes,
    assert_error_recorded,
    assert_logged,
    assert_streamed,
    boom,
    cost,
    duration,
    metric_points,
    output_message,
    output_text,
    text_message,
    text_part,
    the_span,
    tool_call,
)
from llmtrace import _semconv as sc
from llmtrace.instrumentors import openai as openai_instrumentor
from replay import load_cassette, openai_client, openai_httpx_module
from scenarios import (
    Recordings,
    answer_weather_calls,
    assert_restored,
    assert_wrapped_once,
    call,
    collect,
    consume_helper,
    drive,
    patch_targets,
    require_params,
    resolve,
    run_script,
    stream_all,
    streamed_text,
    within,
)

pytestmark = pytest.mark.usefixtures("spans_end_once")

TESTS = Path(__file__).resolve().parent.parent
CASSETTES = TESTS / "cassettes"
OPENAI = CASSETTES / "openai"
TOGETHER = CASSETTES / "together"
TOGETHER_STREAM = "chat_stream_llama-3.3-70b_headers_stripped.yaml"

CHAT_GZIP = "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
STREAM_USAGE = "chat_stream_gpt-4_include_usage.yaml"
STREAM_NO_USAGE = "chat_stream_async_gpt-3.5_sdk1.14-and-1.99.yaml"
N2 = "chat_nonstream_n2_multiple_choices.yaml"
N2_STREAM = "chat_stream_n2_multiple_choices.yaml"
TOOLS = "chat_tool_calls_two_turns.yaml"
TOOLS_STREAM = "chat_stream_multiple_tool_calls.yaml"
FUNCTIONS = "chat_legacy_functions_function_call.yaml"
REASONING = "chat_reasoning_gpt-5-nano.yaml"
CACHING = "chat_prompt_caching_cached_tokens.yaml"
NOT_FOUND = "chat_error_404_model_not_found.yaml"
EMBED_FLOAT = "embeddings_dimensions.yaml"
EMBED_BASE64 = "embeddings_encoding_format_base64.yaml"
COMPLETIONS = "completions_legacy_davinci-002.yaml"
RESPONSES = "responses_nonstream_basic.yaml"
RESPONSES_STREAM = "responses_stream.yaml"
RESPONSES_TOOL = "responses_tool_call.yaml"
RESPONSES_REASONING = "responses_reasoning_tokens_gpt-5.4.yaml"

MODES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])

INPUT = sc.GEN_AI_INPUT_MESSAGES
OUTPUT = sc.GEN_AI_OUTPUT_MESSAGES
CONTENT_KEYS = (INPUT, OUTPUT, sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_TOOL_DEFINITIONS)


# --- cassette contents (the oracle) --------------------------------------------------------------

RECORDINGS = Recordings(OPENAI)
recorded_request = RECORDINGS.request
recorded_response = RECORDINGS.response
recorded_sse = RECORDINGS.sse


# --- expected attributes -------------------------------------------------------------------------


def estimated(
    model: str, encoding: str, prompts: list[str], outputs: list[str] | None = None
) -> dict[str, Any]:
    """Attributes of a call whose usage llmtrace counted itself with tiktoken (`encoding`).

    Chat prompt tokens follow OpenAI's framing: each message's text, plus 4 per message (3 + role),
    plus 3 to prime the reply. Output tokens are the generated text's tokens.
    """
    enc = tiktoken.get_encoding(encoding)
    input_tokens = sum(len(enc.encode(p)) for p in prompts) + 4 * len(prompts) + 3
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": input_tokens,
        sc.LLMTRACE_USAGE_ESTIMATED: True,
        sc.LLMTRACE_USAGE_TOKENIZER: encoding,
    }
    output_tokens = 0
    if outputs is not None:
        output_tokens = sum(len(enc.encode(o)) for o in outputs)
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    return {**attributes, **cost(model, input_tokens=input_tokens, output_tokens=output_tokens)}


def request_attributes(
    model: str, *, operation: str = "chat", api_type: str | None = "chat_completions", **extra: Any
) -> dict[str, Any]:
    """What an OpenAI span carries from the request alone (sampling attributes first)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    if api_type is not None:
        attributes["openai.api.type"] = api_type
    attributes.update(extra)
    return attributes


def n2_response(body: dict[str, Any]) -> dict[str, Any]:
    """The response side of a span of the N2 recording: two choices, 12 in, 24 out."""
    return {
        "gen_ai.response.id": body["id"],
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop", "stop"],
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 24,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "openai.response.system_fingerprint": "fp_0ba0d124f1",
        **cost("gpt-4o-mini", input_tokens=12, output_tokens=24),
    }


def weather_calls_response(response_id: str, fingerprint: str = "fp_0ba0d124f1") -> dict[str, Any]:
    """The response side of a span of TOOLS' first turn or TOOLS_STREAM: two tool calls, 75 in, 51 out."""
    return {
        # The provider's raw reason in the list; the schema's "tool_call" in the output message.
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.response.id": response_id,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 75,
        "gen_ai.usage.output_tokens": 51,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "openai.response.system_fingerprint": fingerprint,
        **cost("gpt-4o-mini", input_tokens=75, output_tokens=51),
    }


def responses_usage(body: dict[str, Any]) -> dict[str, Any]:
    usage = body["usage"]
    return {
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": usage["input_tokens_details"]["cached_tokens"],
        "gen_ai.usage.reasoning.output_tokens": usage["output_tokens_details"]["reasoning_tokens"],
    }


def this_is_a_test_response(response: dict[str, Any]) -> dict[str, Any]:
    """The response side of a span of RESPONSES or RESPONSES_STREAM: "This is a test.", 22 in, 6 out."""
    return {
        "gen_ai.response.id": response["id"],
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],  # status "completed"
        **responses_usage(response),
        "openai.response.service_tier": "default",
        **cost("gpt-4o-mini", input_tokens=22, output_tokens=6),
    }


def weather_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool-call parts of the first turn of TOOLS, from its recorded response `body`."""
    calls = body["choices"][0]["message"]["tool_calls"]
    return [tool_call(c["id"], "get_current_weather", json.loads(c["function"]["arguments"])) for c in calls]


THIS_IS_A_TEST_CONTENT = {
    INPUT: [text_message("user", "Say this is a test")],
    sc.GEN_AI_SYSTEM_INSTRUCTIONS: [text_part("You are a helpful assistant.")],
    OUTPUT: [output_text("This is a test.")],
}
WEATHER_QUESTION = [
    text_message("system", "You're a helpful assistant."),
    text_message("user", "What's the weather in Seattle and San Francisco today?"),
]
WEATHER_TOOL_DEFINITION = {"type": "function", "name": "get_current_weather"}


# --- driving the SDK -------------------------------------------------------------------------------


def chat_helpers(client: Any) -> Any:
    """Where parse() and stream() live: chat.completions, or beta.chat.completions before openai 1.92."""
    completions = client.chat.completions
    return completions if hasattr(completions, "parse") else client.beta.chat.completions


# === 1. chat, non-streaming =======================================================================

CHAT_SHAPES = [
    # The 2024 recording (openai 1.12) has no *_tokens_details, no service_tier, and a fingerprint.
    pytest.param(0, {"openai.response.system_fingerprint": "fp_2b778c6b35"}, id="2024-shape"),
    # The 2026 re-recording (openai 1.99) reports cached/reasoning counts and the tier; fingerprint null.
    pytest.param(
        1,
        {
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            "openai.response.service_tier": "default",
        },
        id="2026-shape",
    ),
]


@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
@pytest.mark.parametrize(("index", "shape"), CHAT_SHAPES)
@MODES
def test_openai_chat_nonstream(instrument, is_async, index, shape, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(CHAT_GZIP, index)
    body = recorded_response(CHAT_GZIP, index)
    client, transport = openai_client(OPENAI / CHAT_GZIP, is_async=is_async, interactions=[index])

    completion = call(client, client.chat.completions.create, **params)

    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.id == body["id"]
    transport.assert_all_played()
    span = the_span(t, "chat gpt-3.5-turbo")
    usage = body["usage"]
    # The cost spelled out once, and cost() checked against it. gpt-3.5-turbo-0125 has no entry of
    # its own: the date suffix is dropped -> "gpt-3.5-turbo"
    price = PRICES["gpt-3.5-turbo"]
    input_usd = usage["prompt_tokens"] * price["input"] / 1_000_000  # 15 * 0.5 / 1M
    output_usd = usage["completion_tokens"] * price["output"] / 1_000_000  # e.g. 19 * 1.5 / 1M
    costs = {
        "gen_ai.usage.cost.amount": input_usd + output_usd,
        "gen_ai.usage.cost.currency": "USD",
        "gen_ai.usage.cost.source": "local",
        "llmtrace.cost.input_usd": input_usd,
        "llmtrace.cost.output_usd": output_usd,
    }
    assert cost(
        "gpt-3.5-turbo", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
    ) == pytest.approx(costs)
    content = {
        INPUT: [text_message("user", "Tell me a joke about opentelemetry")],
        OUTPUT: [output_text(body["choices"][0]["message"]["content"])],
    }
    assert_attributes(
        span,
        {
            **request_attributes("gpt-3.5-turbo"),
            **(content if capture_content else {}),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-3.5-turbo-0125",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            **shape,
            **costs,
        },
    )
    if not capture_content:
        assert not any(key in span.attributes for key in CONTENT_KEYS)
    assert span.events == ()


@pytest.mark.parametrize(
    ("response_format", "output_type"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "json_schema": {"name": "joke", "schema": {"type": "object"}}}, "json"),
        ({"type": "text"}, "text"),
    ],
    ids=["json_object", "json_schema", "text"],
)
def test_openai_chat_response_format_sets_output_type(instrument, response_format, output_type):
    t = instrument()
    # The replay matches method and path only, so the recorded answer serves the extra parameter.
    body = recorded_response(CHAT_GZIP, 0)
    client, transport = openai_client(OPENAI / CHAT_GZIP, interactions=[0])

    call(
        client,
        client.chat.completions.create,
        **recorded_request(CHAT_GZIP, 0),
        response_format=response_format,
    )

    assert transport.request_json()["response_format"] == response_format
    assert_attributes(
        the_span(t, "chat gpt-3.5-turbo"),
        {
            **request_attributes("gpt-3.5-turbo", **{"gen_ai.output.type": output_type}),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-3.5-turbo-0125",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 15,
            "gen_ai.usage.output_tokens": 19,
            "openai.response.system_fingerprint": "fp_2b778c6b35",
            **cost("gpt-3.5-turbo", input_tokens=15, output_tokens=19),
        },
    )


# === 2. chat, streaming, choices, tools ===========================================================


@MODES
def test_openai_chat_stream_include_usage(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(STREAM_USAGE)
    payloads = recorded_sse(STREAM_USAGE)
    usage = payloads[-1]["usage"]
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    chunks = stream_all(client, client.chat.completions.create, **params)

    assert [c.to_dict() for c in chunks] == payloads  # delivered unchanged, in order
    span = the_span(t, "chat gpt-4")
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Say this is a test")],
            OUTPUT: [output_text(streamed_text(payloads)[0])],  # '"This is a test."'
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "gpt-4-0613",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            # gpt-4-0613 -> "gpt-4" (date-like suffix dropped)
            **cost("gpt-4", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
        },
        chunks=len(payloads),  # 8: 7 content chunks and the usage-only chunk
    )


STREAM_SHAPES = [
    pytest.param(0, {"openai.response.system_fingerprint": "fp_b28b39ffa8"}, id="2024-shape"),
    pytest.param(1, {"openai.response.service_tier": "default"}, id="2026-shape"),
]


@pytest.mark.parametrize(("index", "shape"), STREAM_SHAPES)
@MODES
def test_openai_chat_stream_without_usage(instrument, is_async, index, shape):
    t = instrument()
    params = recorded_request(STREAM_NO_USAGE, index)
    payloads = recorded_sse(STREAM_NO_USAGE, index)
    assert all("usage" not in p for p in payloads)  # no stream_options: the server sent no counts
    client, _ = openai_client(OPENAI / STREAM_NO_USAGE, is_async=is_async, interactions=[index])

    chunks = stream_all(client, client.chat.completions.create, **params)

    assert len(chunks) == len(payloads)
    span = the_span(t, "chat gpt-3.5-turbo")
    # The server sent no counts: llmtrace counts them (cl100k for gpt-3.5) and flags them as estimated.
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    prompts = [m["content"] for m in params["messages"]]
    assert_streamed(
        span,
        {
            **request_attributes("gpt-3.5-turbo", **{"gen_ai.request.stream": True}),
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "gpt-3.5-turbo-0125",
            "gen_ai.response.finish_reasons": ["stop"],
            **estimated("gpt-3.5-turbo", "cl100k_base", prompts, [text]),
            **shape,
        },
        chunks=len(payloads),
    )


@MODES
def test_openai_chat_n2_nonstream_one_output_message_per_choice(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(N2)
    body = recorded_response(N2)
    client, _ = openai_client(OPENAI / N2, is_async=is_async)

    call(client, client.chat.completions.create, **params)

    texts = [choice["message"]["content"] for choice in body["choices"]]
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini", **{"gen_ai.request.choice.count": 2}),
            INPUT: [text_message("user", "Say this is a test")],
            OUTPUT: [output_text(texts[0]), output_text(texts[1])],
            **n2_response(body),
        },
    )


@MODES
def test_openai_chat_n2_stream_folds_interleaved_choices(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(N2_STREAM)
    payloads = recorded_sse(N2_STREAM)
    usage = payloads[-1]["usage"]
    texts = streamed_text(payloads)
    assert texts[0] != texts[1]  # the two choices really differ, so mixing them up would show
    client, _ = openai_client(OPENAI / N2_STREAM, is_async=is_async)

    stream_all(client, client.chat.completions.create, **params)

    span = the_span(t, "chat gpt-4o-mini")
    assert_streamed(
        span,
        {
            **request_attributes(
                "gpt-4o-mini", **{"gen_ai.request.choice.count": 2, "gen_ai.request.stream": True}
            ),
            INPUT: WEATHER_QUESTION,
            OUTPUT: [output_text(texts[0]), output_text(texts[1])],
            "gen_ai.response.id": "chatcmpl-ASYMaNc7XmbGRUNREnmvhyyISBHsv",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.finish_reasons": ["stop", "stop"],
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            "openai.response.system_fingerprint": "fp_0ba0d124f1",
            **cost(
                "gpt-4o-mini", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
            ),
        },
        chunks=len(payloads),  # 109
    )


@MODES
def test_openai_chat_tool_calls_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    first_params = recorded_request(TOOLS, 0)
    first_body, second_body = recorded_response(TOOLS, 0), recorded_response(TOOLS, 1)
    calls = first_body["choices"][0]["message"]["tool_calls"]
    client, transport = openai_client(OPENAI / TOOLS, is_async=is_async)

    async def scenario() -> None:
        first = await resolve(client.chat.completions.create(**first_params))
        messages = answer_weather_calls(first_params["messages"], first.choices[0].message.tool_calls)
        await resolve(client.chat.completions.create(messages=messages, model="gpt-4o-mini"))

    drive(client, scenario)

    assert transport.request_json(1) == recorded_request(TOOLS, 1)  # the same second turn as recorded
    first_span, second_span = t.spans()
    requested = weather_calls(first_body)
    assert [p["arguments"] for p in requested] == [
        {"location": "Seattle, WA"},
        {"location": "San Francisco, CA"},
    ]
    assert_attributes(
        first_span,
        {
            **request_attributes("gpt-4o-mini"),
            INPUT: WEATHER_QUESTION,
            sc.GEN_AI_TOOL_DEFINITIONS: [WEATHER_TOOL_DEFINITION],  # type and name only by default
            OUTPUT: [output_message(*requested, finish_reason="tool_call")],
            **weather_calls_response(first_body["id"]),
        },
    )
    assert_attributes(
        second_span,
        {
            **request_attributes("gpt-4o-mini"),
            INPUT: [
                *WEATHER_QUESTION,
                {"role": "assistant", "parts": requested},
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": calls[0]["id"],
                            "response": "50 degrees and raining",
                        }
                    ],
                },
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": calls[1]["id"],
                            "response": "70 degrees and sunny",
                        }
                    ],
                },
            ],
            OUTPUT: [output_text(second_body["choices"][0]["message"]["content"])],
            "gen_ai.response.id": second_body["id"],
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 99,
            "gen_ai.usage.output_tokens": 25,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            "openai.response.system_fingerprint": "fp_9b78b61c52",
            **cost("gpt-4o-mini", input_tokens=99, output_tokens=25),
        },
    )


def test_openai_chat_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    params = recorded_request(TOOLS, 0)
    [tool] = params["tools"]
    client, _ = openai_client(OPENAI / TOOLS, interactions=[0])

    call(client, client.chat.completions.create, **params)

    span = the_span(t, "chat gpt-4o-mini")
    definitions = json.loads(span.attributes[sc.GEN_AI_TOOL_DEFINITIONS])
    assert definitions == [
        {
            "type": "function",
            "name": "get_current_weather",
            "description": tool["function"]["description"],
            "parameters": tool["function"]["parameters"],
        }
    ]


@MODES
def test_openai_chat_stream_multiple_tool_calls_reassembled(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(TOOLS_STREAM)
    payloads = recorded_sse(TOOLS_STREAM)
    fragments = sum(len(c["delta"].get("tool_calls") or ()) for p in payloads for c in p["choices"])
    assert fragments > 2  # the arguments really arrive in pieces
    client, _ = openai_client(OPENAI / TOOLS_STREAM, is_async=is_async)

    stream_all(client, client.chat.completions.create, **params)

    span = the_span(t, "chat gpt-4o-mini")
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4o-mini", **{"gen_ai.request.stream": True}),
            INPUT: WEATHER_QUESTION,
            sc.GEN_AI_TOOL_DEFINITIONS: [WEATHER_TOOL_DEFINITION],
            OUTPUT: [
                {
                    "role": "assistant",
                    "parts": [
                        tool_call(
                            "call_fHCjJqt9Pysde6vcJcvbXGBx",
                            "get_current_weather",
                            {"location": "Seattle, WA"},
                        ),
                        tool_call(
                            "call_3J9foSw3CUb48lrqIXoTky6U",
                            "get_current_weather",
                            {"location": "San Francisco, CA"},
                        ),
                    ],
                    "finish_reason": "tool_call",
                }
            ],
            **weather_calls_response(payloads[0]["id"], "fp_9b78b61c52"),
        },
        chunks=len(payloads),
    )


@MODES
def test_openai_chat_legacy_functions_function_call(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(FUNCTIONS, 0)
    body = recorded_response(FUNCTIONS, 0)
    arguments = json.loads(body["choices"][0]["message"]["function_call"]["arguments"])
    assert arguments == {"location": "Boston"}
    client, _ = openai_client(OPENAI / FUNCTIONS, is_async=is_async, interactions=[0])

    call(client, client.chat.completions.create, **params)

    assert_attributes(
        the_span(t, "chat gpt-4"),
        {
            **request_attributes("gpt-4"),
            INPUT: [text_message("user", "What's the weather like in Boston?")],
            sc.GEN_AI_TOOL_DEFINITIONS: [WEATHER_TOOL_DEFINITION],  # from functions=
            # function_call has no id: the schema allows a null one
            OUTPUT: [
                {
                    "role": "assistant",
                    "parts": [tool_call(None, "get_current_weather", arguments)],
                    "finish_reason": "tool_call",
                }
            ],
            "gen_ai.response.finish_reasons": ["function_call"],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-4-0613",
            "gen_ai.usage.input_tokens": 82,
            "gen_ai.usage.output_tokens": 16,
            **cost("gpt-4", input_tokens=82, output_tokens=16),
        },
    )


# === 3. reasoning and prompt caching ==============================================================


@MODES
def test_openai_chat_reasoning_tokens_and_level(instrument, is_async):
    t = instrument()
    params = recorded_request(REASONING, 0)
    assert params["reasoning_effort"] == "low"
    body = recorded_response(REASONING, 0)
    usage = body["usage"]
    client, _ = openai_client(OPENAI / REASONING, is_async=is_async, interactions=[0])

    call(client, client.chat.completions.create, **params)

    assert_attributes(
        the_span(t, "chat gpt-5-nano"),
        {
            **request_attributes("gpt-5-nano", **{"gen_ai.request.reasoning.level": "low"}),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-5-nano-2025-08-07",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": usage["completion_tokens"],  # 228, the 192 reasoning included
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": usage["completion_tokens_details"]["reasoning_tokens"],
            "openai.response.service_tier": "default",
            # gpt-5-nano-2025-08-07 -> "gpt-5-nano"; reasoning tokens bill as output
            **cost("gpt-5-nano", input_tokens=11, output_tokens=usage["completion_tokens"]),
        },
    )


def test_openai_chat_prompt_caching_reads_cache_and_costs_less(instrument):
    t = instrument()
    params = recorded_request(CACHING, 0)
    bodies = [recorded_response(CACHING, 0), recorded_response(CACHING, 1)]
    assert [b["usage"]["prompt_tokens_details"]["cached_tokens"] for b in bodies] == [0, 1024]
    client, _ = openai_client(OPENAI / CACHING, interactions=[0, 1])

    async def scenario() -> None:
        for _ in bodies:
            await resolve(client.chat.completions.create(**params))

    drive(client, scenario)

    cold, warm = t.spans()
    for span, body in zip((cold, warm), bodies, strict=True):
        usage = body["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        assert_attributes(
            span,
            {
                **request_attributes("gpt-4o-mini"),
                "gen_ai.response.id": body["id"],
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": 1149,  # includes the cached tokens
                "gen_ai.usage.output_tokens": usage["completion_tokens"],
                "gen_ai.usage.cache_read.input_tokens": cached,
                "gen_ai.usage.reasoning.output_tokens": 0,
                "openai.response.service_tier": "default",
                "openai.response.system_fingerprint": "fp_0392822090",
                # 1024 of the 1149 input tokens at gpt-4o-mini's cache_read price (0.075 vs 0.15)
                **cost(
                    "gpt-4o-mini",
                    input_tokens=1149 - cached,
                    output_tokens=usage["completion_tokens"],
                    cache_read=cached,
                ),
            },
        )
    input_cost = sc.LLMTRACE_COST_INPUT_USD
    assert warm.attributes[input_cost] < cold.attributes[input_cost]
    assert warm.attributes[input_cost] == pytest.approx((125 * 0.15 + 1024 * 0.075) / 1e6)


# === 4. errors ====================================================================================


@MODES
def test_openai_chat_error_404_reraised_unchanged(instrument, is_async):
    params = recorded_request(NOT_FOUND)

    def attempt() -> openai.NotFoundError:
        client, _ = openai_client(OPENAI / NOT_FOUND, is_async=is_async)
        with pytest.raises(openai.NotFoundError) as caught:
            call(client, client.chat.completions.create, **params)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) is openai.NotFoundError
    assert str(error) == str(bare)
    assert (error.status_code, error.code, error.body) == (404, "model_not_found", bare.body)
    span = the_span(t, "chat this-model-does-not-exist", StatusCode.ERROR)
    assert span.status.description == f"NotFoundError: {error}"
    assert_attributes(
        span, {**request_attributes("this-model-does-not-exist"), "error.type": "NotFoundError"}
    )
    assert_error_recorded(t, span, error, request_attributes("this-model-does-not-exist", api_type=None))


# === 5. embeddings and legacy completions =========================================================


@MODES
def test_openai_embeddings_float(instrument, is_async):
    t = instrument(capture_content=True)  # embeddings carry no content attributes even so
    params = recorded_request(EMBED_FLOAT)
    body = recorded_response(EMBED_FLOAT)
    client, _ = openai_client(OPENAI / EMBED_FLOAT, is_async=is_async)

    result = call(client, client.embeddings.create, **params)

    assert len(result.data[0].embedding) == len(body["data"][0]["embedding"]) == params["dimensions"]
    assert_attributes(
        the_span(t, "embeddings text-embedding-3-small"),
        {
            **request_attributes("text-embedding-3-small", operation="embeddings", api_type=None),
            "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.embeddings.dimension.count": len(body["data"][0]["embedding"]),  # 512
            "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],  # input only
            **cost("text-embedding-3-small", input_tokens=body["usage"]["prompt_tokens"]),
        },
    )


@MODES
def test_openai_embeddings_base64(instrument, is_async):
    t = instrument()
    params = recorded_request(EMBED_BASE64)
    body = recorded_response(EMBED_BASE64)
    dimensions = len(base64.b64decode(body["data"][0]["embedding"])) // 4  # packed float32s
    assert dimensions == 1536
    client, _ = openai_client(OPENAI / EMBED_BASE64, is_async=is_async)

    result = call(client, client.embeddings.create, **params)

    assert result.data[0].embedding == body["data"][0]["embedding"]  # still the caller's base64 string
    assert_attributes(
        the_span(t, "embeddings text-embedding-3-small"),
        {
            **request_attributes("text-embedding-3-small", operation="embeddings", api_type=None),
            "gen_ai.request.encoding_formats": ["base64"],
            "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.embeddings.dimension.count": dimensions,
            "gen_ai.usage.input_tokens": 9,
            **cost("text-embedding-3-small", input_tokens=9),
        },
    )


@MODES
def test_openai_completions_legacy(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(COMPLETIONS, 0)
    body = recorded_response(COMPLETIONS, 0)
    client, _ = openai_client(OPENAI / COMPLETIONS, is_async=is_async, interactions=[0])

    result = call(client, client.completions.create, **params)

    assert result.id == body["id"]
    assert_attributes(
        the_span(t, "text_completion davinci-002"),
        {
            **request_attributes("davinci-002", operation="text_completion", api_type=None),
            INPUT: [text_message("user", params["prompt"])],
            OUTPUT: [output_text(body["choices"][0]["text"], "length")],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "davinci-002",
            "gen_ai.response.finish_reasons": ["length"],
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.output_tokens": 16,
            **cost("davinci-002", input_tokens=8, output_tokens=16),
        },
    )


def test_openai_completions_unpriced_response_model_priced_as_requested(instrument):
    # Since 2025 the API answers davinci-002 requests as "davinci:2023-07-21-v2", a name no price
    # table knows; the requested model's price still applies.
    t = instrument()
    body = recorded_response(COMPLETIONS, 1)
    assert body["model"] == "davinci:2023-07-21-v2"
    client, _ = openai_client(OPENAI / COMPLETIONS, interactions=[1])

    call(client, client.completions.create, **recorded_request(COMPLETIONS, 1))

    assert_attributes(
        the_span(t, "text_completion davinci-002"),
        {
            **request_attributes("davinci-002", operation="text_completion", api_type=None),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "davinci:2023-07-21-v2",
            "gen_ai.response.finish_reasons": ["length"],
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.output_tokens": 16,
            **cost("davinci-002", input_tokens=8, output_tokens=16),
        },
    )


# === 6. Responses API =============================================================================


@pytest.mark.parametrize("method", ["create", "parse"])
@MODES
def test_openai_responses_nonstream(instrument, is_async, method):
    t = instrument(capture_content=True)
    params = recorded_request(RESPONSES)
    body = recorded_response(RESPONSES)
    client, _ = openai_client(OPENAI / RESPONSES, is_async=is_async)

    result = call(client, getattr(client.responses, method), **params)

    assert result.id == body["id"]
    assert result.output_text == "This is a test."
    if method == "parse":
        assert isinstance(result, openai.types.responses.ParsedResponse)
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini", api_type="responses"),
            **THIS_IS_A_TEST_CONTENT,
            **this_is_a_test_response(body),
        },
    )


@MODES
def test_openai_responses_stream_typed_events(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_sse(RESPONSES_STREAM)
    completed = payloads[-1]["response"]
    client, _ = openai_client(OPENAI / RESPONSES_STREAM, is_async=is_async)
    params = require_params(client.responses.create, recorded_request(RESPONSES_STREAM))

    events = stream_all(client, client.responses.create, **params)

    assert [e.type for e in events] == [p["type"] for p in payloads]  # typed events, unchanged
    span = the_span(t, "chat gpt-4o-mini")
    assert_streamed(
        span,
        {
            **request_attributes(
                "gpt-4o-mini",
                api_type="responses",
                **{"gen_ai.request.stream": True, "openai.request.service_tier": "default"},
            ),
            **THIS_IS_A_TEST_CONTENT,
            **this_is_a_test_response(completed),
        },
        chunks=len(payloads),  # 13 events
    )


@MODES
def test_openai_responses_tool_call(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(RESPONSES_TOOL)
    body = recorded_response(RESPONSES_TOOL)
    [item] = body["output"]
    client, _ = openai_client(OPENAI / RESPONSES_TOOL, is_async=is_async)

    call(client, client.responses.create, **params)

    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini", api_type="responses"),
            INPUT: [text_message("user", "What's the weather in Seattle right now?")],
            sc.GEN_AI_TOOL_DEFINITIONS: [WEATHER_TOOL_DEFINITION],
            OUTPUT: [
                {
                    "role": "assistant",
                    "parts": [tool_call(item["call_id"], item["name"], {"location": "Seattle, WA"})],
                    "finish_reason": "tool_call",
                }
            ],
            # The Responses API has no finish reason of its own: a function_call item means "tool_call".
            "gen_ai.response.finish_reasons": ["tool_call"],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            **responses_usage(body),
            "openai.response.service_tier": "default",
            **cost("gpt-4o-mini", input_tokens=72, output_tokens=8),
        },
    )


@MODES
def test_openai_responses_reasoning_tokens_and_level(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(RESPONSES_REASONING)
    assert params["reasoning"] == {"effort": "low"}
    body = recorded_response(RESPONSES_REASONING)
    reasoning_item, message_item = body["output"]
    assert reasoning_item["summary"] == []
    client, _ = openai_client(OPENAI / RESPONSES_REASONING, is_async=is_async)

    call(client, client.responses.create, **params)

    # gpt-5.4 is not in prices.json: no cost attributes.
    assert "gpt-5.4" not in PRICES
    assert_attributes(
        the_span(t, "chat gpt-5.4"),
        {
            **request_attributes(
                "gpt-5.4",
                api_type="responses",
                **{"gen_ai.request.max_tokens": 300, "gen_ai.request.reasoning.level": "low"},
            ),
            INPUT: [text_message("user", params["input"][0]["content"])],
            OUTPUT: [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "reasoning", "content": ""},  # the reasoning item came without a summary
                        {"type": "text", "content": message_item["content"][0]["text"]},
                    ],
                    "finish_reason": "stop",
                }
            ],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-5.4-2026-03-05",
            "gen_ai.response.finish_reasons": ["stop"],
            **responses_usage(body),  # 9 of the 288 output tokens were reasoning
            "openai.response.service_tier": "default",
        },
    )


class WeatherReport(BaseModel):
    location: str
    temperature: int


def test_openai_responses_parse_text_format_requests_json(instrument):
    # The recorded answer is plain text, so the SDK's own parsing of it into WeatherReport fails:
    # the user gets the SDK's ValidationError, and the span says the call asked for JSON.
    t = instrument()
    client, _ = openai_client(OPENAI / RESPONSES)

    with pytest.raises(Exception) as caught:
        call(client, client.responses.parse, **recorded_request(RESPONSES), text_format=WeatherReport)

    assert type(caught.value).__name__ == "ValidationError"
    span = the_span(t, "chat gpt-4o-mini", StatusCode.ERROR)
    assert_attributes(
        span,
        {
            **request_attributes("gpt-4o-mini", api_type="responses", **{"gen_ai.output.type": "json"}),
            "error.type": "ValidationError",
        },
    )


# === 7. parse() and the stream() helpers ==========================================================


class GetCurrentWeather(BaseModel):
    """Get the current weather in a given location"""

    location: str


class LetterCount(RootModel[int]):
    pass


@MODES
def test_openai_chat_parse_pydantic_tool(instrument, is_async):
    t = instrument(capture_content=True)
    first = recorded_request(TOOLS, 0)
    body = recorded_response(TOOLS, 0)
    client, _ = openai_client(OPENAI / TOOLS, is_async=is_async, interactions=[0])
    tool = openai.pydantic_function_tool(GetCurrentWeather, name="get_current_weather")

    with warnings.catch_warnings():
        # capturing content must not make pydantic warn in the user's code
        warnings.filterwarnings("error", message="Pydantic serializer warnings")
        parsed = call(
            client, chat_helpers(client).parse, model="gpt-4o-mini", messages=first["messages"], tools=[tool]
        )

    assert [c.function.parsed_arguments for c in parsed.choices[0].message.tool_calls] == [
        GetCurrentWeather(location="Seattle, WA"),
        GetCurrentWeather(location="San Francisco, CA"),
    ]
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini"),
            INPUT: WEATHER_QUESTION,
            sc.GEN_AI_TOOL_DEFINITIONS: [WEATHER_TOOL_DEFINITION],
            OUTPUT: [output_message(*weather_calls(body), finish_reason="tool_call")],
            **weather_calls_response(body["id"]),
        },
    )


@MODES
def test_openai_chat_parse_pydantic_response_format(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(REASONING, 1)
    body = recorded_response(REASONING, 1)
    assert body["choices"][0]["message"]["content"] == "3"  # valid JSON for LetterCount
    client, _ = openai_client(OPENAI / REASONING, is_async=is_async, interactions=[1])

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Pydantic serializer warnings")
        parsed = call(client, chat_helpers(client).parse, **params, response_format=LetterCount)

    assert parsed.choices[0].message.parsed == LetterCount(3)
    usage = body["usage"]
    assert_attributes(
        the_span(t, "chat gpt-5-nano"),
        {
            **request_attributes(
                "gpt-5-nano", **{"gen_ai.output.type": "json", "gen_ai.request.reasoning.level": "low"}
            ),
            INPUT: [text_message("user", "Count r's in strawberry")],
            OUTPUT: [output_text("3")],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": "gpt-5-nano-2025-08-07",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 192,
            "openai.response.service_tier": "default",
            **cost("gpt-5-nano", input_tokens=11, output_tokens=usage["completion_tokens"]),
        },
    )


@MODES
def test_openai_chat_stream_helper_fully_consumed(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_sse(STREAM_USAGE)
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    async def scenario() -> Any:
        manager = chat_helpers(client).stream(
            model="gpt-4",
            messages=[{"role": "user", "content": "Say this is a test"}],
            stream_options={"include_usage": True},
        )
        consumed = await consume_helper(manager)
        return await resolve(consumed.stream.get_final_completion())

    final = drive(client, scenario)

    assert final.choices[0].message.content == '"This is a test."'
    span = the_span(t, "chat gpt-4")  # exactly one span, ended once
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Say this is a test")],
            OUTPUT: [output_text('"This is a test."')],
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "gpt-4-0613",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            **cost("gpt-4", input_tokens=12, output_tokens=5),
        },
        chunks=len(payloads),
    )


@MODES
def test_openai_chat_stream_helper_exited_early(instrument, is_async):
    t = instrument()
    payloads = recorded_sse(STREAM_USAGE)
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    async def scenario() -> list[Any]:
        manager = chat_helpers(client).stream(
            model="gpt-4",
            messages=[{"role": "user", "content": "Say this is a test"}],
            stream_options={"include_usage": True},
        )
        assert t.spans() == []  # nothing is requested before the block is entered
        return (await consume_helper(manager, stop_after=1)).read

    events = drive(client, scenario)

    assert [e.type for e in events] == ["chunk"]
    span = the_span(t, "chat gpt-4")  # the helper's close() ended it, once
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "gpt-4-0613",
            # One entry per choice seen; no reason had arrived for it when the block was left.
            "gen_ai.response.finish_reasons": [""],
            # Left before the usage chunk: the prompt is counted; the unread output is not.
            **estimated("gpt-4", "cl100k_base", ["Say this is a test"]),
        },
        chunks=1,
    )


def test_openai_chat_stream_exited_early_does_not_claim_stop(instrument):
    t = instrument(capture_content=True)
    client, _ = openai_client(OPENAI / STREAM_USAGE)

    async def scenario() -> None:
        manager = chat_helpers(client).stream(
            model="gpt-4", messages=[{"role": "user", "content": "Say this is a test"}]
        )
        await consume_helper(manager, stop_after=1)

    drive(client, scenario)

    [message] = json.loads(t.span().attributes[OUTPUT])
    assert message["finish_reason"] == ""  # as in gen_ai.response.finish_reasons: it never finished


@MODES
def test_openai_responses_stream_helper(instrument, is_async):
    t = instrument()
    payloads = recorded_sse(RESPONSES_STREAM)
    completed = payloads[-1]["response"]
    client, _ = openai_client(OPENAI / RESPONSES_STREAM, is_async=is_async)

    async def scenario() -> Any:
        manager = client.responses.stream(
            input="Say this is a test", instructions="You are a helpful assistant.", model="gpt-4o-mini"
        )
        consumed = await consume_helper(manager)
        return await resolve(consumed.stream.get_final_response())

    final = drive(client, scenario)

    assert final.id == completed["id"]
    span = the_span(t, "chat gpt-4o-mini")
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4o-mini", api_type="responses", **{"gen_ai.request.stream": True}),
            **this_is_a_test_response(completed),
        },
        chunks=len(payloads),
    )


def test_openai_responses_stream_exited_early_does_not_claim_stop(instrument):
    t = instrument()
    client, _ = openai_client(OPENAI / RESPONSES_STREAM)

    async def scenario() -> None:
        manager = client.responses.stream(input="Say this is a test", model="gpt-4o-mini")
        consumed = await consume_helper(manager, stop_after=1)
        assert consumed.read[0].response.status == "in_progress"

    drive(client, scenario)

    assert "gen_ai.response.finish_reasons" not in t.span().attributes


# === 8. with_raw_response / with_streaming_response ===============================================


@MODES
def test_openai_chat_with_raw_response(instrument, is_async):
    t = instrument()
    params = recorded_request(N2)
    body = recorded_response(N2)
    client, _ = openai_client(OPENAI / N2, is_async=is_async)

    async def scenario() -> Any:
        raw = await resolve(client.chat.completions.with_raw_response.create(**params))
        return raw, raw.parse(), raw.parse()

    raw, parsed, again = drive(client, scenario)

    assert raw.http_response.status_code == 200
    assert parsed is again  # the SDK's parse cache still works after llmtrace read the body
    assert isinstance(parsed, openai.types.chat.ChatCompletion)
    assert parsed == openai.types.chat.ChatCompletion.model_validate(body)
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini", **{"gen_ai.request.choice.count": 2}),
            **n2_response(body),
        },
    )


@MODES
def test_openai_chat_with_raw_response_stream_left_to_caller(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_sse(STREAM_USAGE)
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    async def scenario() -> list[Any]:
        raw = await resolve(
            client.chat.completions.with_raw_response.create(**recorded_request(STREAM_USAGE))
        )
        return await collect(raw.parse())

    chunks = drive(client, scenario)

    assert [c.to_dict() for c in chunks] == payloads  # the caller reads the whole stream
    # A raw streamed body is the caller's to read: the span keeps to the request side (no bogus
    # empty gen_ai.output.messages from "parsing" the stream as if it were a completion).
    assert_attributes(
        the_span(t, "chat gpt-4"),
        {
            **request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Say this is a test")],
        },
    )


@MODES
def test_openai_chat_with_streaming_response_parsed_is_fully_traced(instrument, is_async):
    t = instrument()
    params = recorded_request(N2)
    body = recorded_response(N2)
    client, _ = openai_client(OPENAI / N2, is_async=is_async)

    parsed = drive(
        client,
        lambda: within(client.chat.completions.with_streaming_response.create(**params), lambda r: r.parse()),
    )

    assert parsed.id == body["id"]
    # The span waited for the caller's parse() and describes what it returned.
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **request_attributes("gpt-4o-mini", **{"gen_ai.request.choice.count": 2}),
            **n2_response(body),
        },
    )


@MODES
def test_openai_chat_with_streaming_response_stream_body_left_to_caller(instrument, is_async):
    t = instrument()
    params = recorded_request(STREAM_USAGE)
    payloads = recorded_sse(STREAM_USAGE)
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    lines = drive(
        client,
        lambda: within(
            client.chat.completions.with_streaming_response.create(**params),
            lambda response: collect(response.iter_lines()),
        ),
    )

    events = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert events == payloads  # every event reaches the caller
    assert_attributes(
        the_span(t, "chat gpt-4"),
        request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
    )


# === 9. metrics ===================================================================================


def test_openai_metrics_nonstream_and_stream(instrument):
    t = instrument()
    client, _ = openai_client(OPENAI / CHAT_GZIP, interactions=[0])
    call(client, client.chat.completions.create, **recorded_request(CHAT_GZIP, 0))
    client, _ = openai_client(OPENAI / STREAM_USAGE)
    stream_all(client, client.chat.completions.create, **recorded_request(STREAM_USAGE))
    plain, streamed = t.spans()

    points = metric_points(t.reader)

    def labels(request_model: str, response_model: str) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": request_model,
            "gen_ai.response.model": response_model,
            "server.address": "api.openai.com",
            "server.port": 443,
        }

    plain_labels = labels("gpt-3.5-turbo", "gpt-3.5-turbo-0125")
    stream_labels = labels("gpt-4", "gpt-4-0613")
    by_labels = {name: {frozenset(p.attributes.items()): p for p in pts} for name, pts in points.items()}

    durations = by_labels[sc.METRIC_OPERATION_DURATION]
    assert set(durations) == {frozenset(plain_labels.items()), frozenset(stream_labels.items())}
    for span, span_labels in ((plain, plain_labels), (streamed, stream_labels)):
        point = durations[frozenset(span_labels.items())]
        assert point.count == 1
        assert 0 < point.sum <= duration(span)

    tokens = by_labels[sc.METRIC_TOKEN_USAGE]
    expected_tokens = {
        frozenset({**plain_labels, "gen_ai.token.type": "input"}.items()): 15,
        frozenset({**plain_labels, "gen_ai.token.type": "output"}.items()): 19,
        frozenset({**stream_labels, "gen_ai.token.type": "input"}.items()): 12,
        frozenset({**stream_labels, "gen_ai.token.type": "output"}.items()): 5,
    }
    assert {key: (p.count, p.sum) for key, p in tokens.items()} == {
        key: (1, value) for key, value in expected_tokens.items()
    }

    [ttfc] = points[sc.METRIC_TIME_TO_FIRST_CHUNK]  # only the streamed call has one
    assert dict(ttfc.attributes) == stream_labels
    assert (ttfc.count, ttfc.sum) == (1, streamed.attributes[TTFC])

    costs = by_labels[sc.METRIC_COST]
    assert {key: p.sum for key, p in costs.items()} == {
        frozenset(plain_labels.items()): pytest.approx(
            cost("gpt-3.5-turbo", input_tokens=15, output_tokens=19)[sc.GEN_AI_USAGE_COST_AMOUNT]
        ),
        frozenset(stream_labels.items()): pytest.approx(
            cost("gpt-4", input_tokens=12, output_tokens=5)[sc.GEN_AI_USAGE_COST_AMOUNT]
        ),
    }

    # The semconv ExplicitBucketBoundaries advice (genai-semconv digest, section 4).
    semconv_duration = [
        0.01,
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        1.28,
        2.56,
        5.12,
        10.24,
        20.48,
        40.96,
        81.92,
    ]
    semconv_tokens = [
        1,
        4,
        16,
        64,
        256,
        1024,
        4096,
        16384,
        65536,
        262144,
        1048576,
        4194304,
        16777216,
        67108864,
    ]
    assert list(sc.DURATION_BUCKETS) == semconv_duration
    assert list(sc.TOKEN_BUCKETS) == semconv_tokens
    for name, bounds in (
        (sc.METRIC_OPERATION_DURATION, semconv_duration),
        (sc.METRIC_TIME_TO_FIRST_CHUNK, semconv_duration),
        (sc.METRIC_TOKEN_USAGE, semconv_tokens),
    ):
        assert all(list(p.explicit_bounds) == bounds for p in points[name]), name

    units = {
        metric.name: metric.unit
        for resource in t.reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert units == {
        sc.METRIC_OPERATION_DURATION: "s",
        sc.METRIC_TIME_TO_FIRST_CHUNK: "s",
        sc.METRIC_TOKEN_USAGE: "{token}",
        sc.METRIC_COST: "USD",
    }


# === 10. import order =============================================================================

IMPORT_ORDER_SCRIPT = """
import json, sys
tests_dir, cassette, order = sys.argv[1:4]
sys.path.insert(0, tests_dir)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import llmtrace

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
if order == "import-first":
    import openai
loaded_before = "openai" in sys.modules
llmtrace.instrument(tracer_provider=provider, exporter="none", raise_internal_errors=True)
instrument_imported_openai = not loaded_before and "openai" in sys.modules
import openai
from replay import openai_client
client, transport = openai_client(cassette, interactions=[0])
completion = client.chat.completions.create(
    model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Tell me a joke about opentelemetry"}]
)
print(json.dumps({
    "openai_loaded_before_instrument": loaded_before,
    "instrument_imported_openai": instrument_imported_openai,
    "response_id": completion.id,
    "spans": [{"name": s.name, "attributes": dict(s.attributes)} for s in exporter.get_finished_spans()],
}))
"""


@pytest.mark.parametrize("order", ["instrument-first", "import-first"])
def test_openai_import_order_instrument_before_or_after_import(order):
    summary = run_script(
        IMPORT_ORDER_SCRIPT,
        str(TESTS),
        str(OPENAI / CHAT_GZIP),
        order,
        drop_env=("OPENAI_", "OTEL_", "LLMTRACE_"),
        LLMTRACE_EXPORTER="none",
    )

    assert summary["openai_loaded_before_instrument"] is (order == "import-first")
    assert summary["instrument_imported_openai"] is False  # patched lazily, on import
    body = recorded_response(CHAT_GZIP, 0)
    assert summary["response_id"] == body["id"]
    [span] = summary["spans"]
    assert span["name"] == "chat gpt-3.5-turbo"
    attributes = span["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.response.id"] == body["id"]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (15, 19)


# === 11. uninstrument and idempotence =============================================================


def one_chat_call(is_async: bool = False) -> None:
    client, _ = openai_client(OPENAI / CHAT_GZIP, is_async=is_async, interactions=[0])
    call(client, client.chat.completions.create, **recorded_request(CHAT_GZIP, 0))


def test_openai_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(openai_instrumentor.PATCHES)
    assert "openai.resources.chat.completions:Completions.create" in before
    assert "openai.lib.streaming.chat._completions:ChatCompletionStream.close" in before

    t = instrument()
    assert sorted(p for p in t.handle.patched if p.startswith("openai")) == sorted(before)
    assert_wrapped_once(before)
    one_chat_call()
    assert len(t.spans()) == 1

    t.handle.uninstrument()

    assert_restored(before)
    assert t.handle.patched == []
    one_chat_call()
    one_chat_call(is_async=True)
    assert len(t.spans()) == 1  # nothing new after uninstrument


def test_openai_instrument_is_idempotent_and_wraps_once(instrument):
    before = patch_targets(openai_instrumentor.PATCHES)
    t = instrument()

    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)

    assert again is t.handle
    assert_wrapped_once(before)  # not wrapped twice
    one_chat_call()
    one_chat_call(is_async=True)
    assert len(t.spans()) == 2  # one span per call


def test_openai_reinstrument_after_uninstrument(instrument):
    before = patch_targets(openai_instrumentor.PATCHES)
    t = instrument()
    t.handle.uninstrument()
    t = instrument()

    assert_wrapped_once(before)
    one_chat_call()
    assert t.span().name == "chat gpt-3.5-turbo"


# === 12. provider detection =======================================================================


@MODES
def test_openai_compatible_together_provider(instrument, is_async):
    t = instrument(capture_content=True)
    together = Recordings(TOGETHER)
    payloads = together.sse(TOGETHER_STREAM)
    usage = payloads[-1]["usage"]
    client, transport = openai_client(
        TOGETHER / TOGETHER_STREAM, is_async=is_async, base_url="https://api.together.ai/v1"
    )

    chunks = stream_all(
        client,
        client.chat.completions.create,
        **together.request(TOGETHER_STREAM),
    )

    transport.assert_all_played()
    assert len(chunks) == len(payloads)
    span = the_span(t, "chat meta-llama/Llama-3.3-70B-Instruct-Turbo")
    # No openai.* attributes for another provider; its model is not in the price table.
    assert_streamed(
        span,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "together_ai",
            "gen_ai.request.model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "server.address": "api.together.ai",
            "server.port": 443,
            "gen_ai.request.stream": True,
            INPUT: [text_message("user", "Count from one to five.")],
            OUTPUT: [output_text(streamed_text(payloads)[0])],  # "1, 2, 3, 4, 5."
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
        },
        chunks=len(payloads),
    )


@MODES
def test_openai_azure_provider(instrument, is_async):
    t = instrument()
    recorded = load_cassette(OPENAI / N2).interactions[0].response
    body = recorded.json()
    hx = openai_httpx_module()
    seen: list[str] = []

    def handler(request: Any) -> Any:  # Azure puts the deployment in the path, unlike the cassette
        seen.append(f"{request.method} {request.url}")
        return hx.Response(200, headers={"content-type": "application/json"}, content=recorded.content())

    http = (hx.AsyncClient if is_async else hx.Client)(transport=hx.MockTransport(handler))
    azure = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
    client = azure(
        api_key="test",
        api_version="2024-10-21",
        azure_endpoint="https://example-resource.openai.azure.com",
        http_client=http,
        max_retries=0,
    )

    call(client, client.chat.completions.create, **recorded_request(N2))

    assert seen == [
        "POST https://example-resource.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions"
        "?api-version=2024-10-21"
    ]
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "azure.ai.openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "server.address": "example-resource.openai.azure.com",
            "server.port": 443,
            "openai.api.type": "chat_completions",  # Azure OpenAI serves the OpenAI API
            "gen_ai.request.choice.count": 2,
            **n2_response(body),
        },
    )


# === 13. containment: llmtrace's failures never reach the caller ==================================


@MODES
def test_openai_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(openai_instrumentor, "_usage", boom)  # called by chat_response
    body = recorded_response(N2)
    client, _ = openai_client(OPENAI / N2, is_async=is_async)

    completion = call(client, client.chat.completions.create, **recorded_request(N2))

    assert type(completion) is openai.types.chat.ChatCompletion
    assert completion.id == body["id"]
    assert completion == openai.types.chat.ChatCompletion.model_validate(body)
    span = the_span(t, "chat gpt-4o-mini")  # still ended, once, without the response side
    assert_attributes(span, request_attributes("gpt-4o-mini", **{"gen_ai.request.choice.count": 2}))
    assert_logged(caplog, "finish")


@MODES
def test_openai_containment_request_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(openai_instrumentor, "_request", boom)  # called by every request mapper
    body = recorded_response(N2)
    client, transport = openai_client(OPENAI / N2, is_async=is_async)

    completion = call(client, client.chat.completions.create, **recorded_request(N2))

    assert completion == openai.types.chat.ChatCompletion.model_validate(body)
    transport.assert_all_played()
    assert t.spans() == []  # the call passed straight through
    assert_logged(caplog, "start")


@pytest.mark.parametrize("failing", ["add", "result"])
@MODES
def test_openai_containment_stream_accumulator_fails(contained, monkeypatch, caplog, is_async, failing):
    t = contained(capture_content=True)
    monkeypatch.setattr(openai_instrumentor.ChatAccumulator, failing, boom)
    payloads = recorded_sse(STREAM_USAGE)
    client, _ = openai_client(OPENAI / STREAM_USAGE, is_async=is_async)

    chunks = stream_all(client, client.chat.completions.create, **recorded_request(STREAM_USAGE))

    assert [type(c) for c in chunks] == [openai.types.chat.ChatCompletionChunk] * len(payloads)
    assert [c.to_dict() for c in chunks] == payloads  # every chunk delivered, unchanged
    span = the_span(t, "chat gpt-4")  # ended once, with what llmtrace could still say
    assert_streamed(
        span,
        {
            **request_attributes("gpt-4", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Say this is a test")],
            # With no chunk folded there is no usage either: the prompt's tokens are still counted.
            **(estimated("gpt-4", "cl100k_base", ["Say this is a test"]) if failing == "add" else {}),
        },
        chunks=len(payloads),
    )
    assert_logged(caplog, f"stream.{failing}")
