"""Gemini through google-genai end to end: the real SDK, with HTTP replayed from recorded cassettes.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* The same file runs against the newest SDK and the oldest supported one (google-genai 1.11): where that
  SDK lacks a feature (``thinking_level``, parsing the Gemini API's ``responseId``), the test says so.
* Gemini's usage is mapped as the instrumentor's docstring says: input = promptTokenCount (cached tokens
  included) + toolUsePromptTokenCount, output = candidatesTokenCount + thoughtsTokenCount, reasoning =
  thoughtsTokenCount; ``usage_and_cost()`` computes all of it from the recorded ``usageMetadata``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import llmtrace
from helpers import (
    CACHE_READ,
    INPUT,
    OUTPUT,
    REASONING,
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
    metric_points,
    output_message,
    replayed,
    text_message,
    text_part,
    the_span,
    tool_call,
)
from llmtrace import _semconv as sc
from scenarios import (
    CAPTURE,
    MODES,
    Recordings,
    assert_restored,
    assert_wrapped_once,
    call,
    drive,
    first_then,
    json_answer,
    patch_targets,
    resolve,
    stream_all,
)

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

from llmtrace.instrumentors import _google_genai_content as content  # noqa: E402
from llmtrace.instrumentors import google_genai as instrumentor  # noqa: E402
from replay_google_genai import (  # noqa: E402
    FUNCTION_CALL,
    GOOGLE,
    NONSTREAM,
    THINKING_STREAM,
    VERTEX,
    VERTEX_ERROR,
    VERTEX_ERROR_PROJECT,
    VERTEX_PROJECT,
    VERTEX_STREAM,
    genai_client,
    genai_httpx_module,
    handler_client,
    models_of,
)

pytestmark = pytest.mark.usefixtures("spans_end_once")

GEMINI_HOST = "generativelanguage.googleapis.com"
VERTEX_HOST = "test-location-aiplatform.googleapis.com"
ERROR_HOST = "us-central1-aiplatform.googleapis.com"  # VERTEX_ERROR_PROJECT's

# --- cassette contents (the oracle) --------------------------------------------------------------

RECORDINGS = Recordings(GOOGLE)
recorded_request = RECORDINGS.request
recorded_response = RECORDINGS.response
recorded_chunks = RECORDINGS.sse


def recorded_text(body: dict[str, Any]) -> str:
    """The text of a recorded response's (or chunk's) first candidate."""
    return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])


def question(name: str) -> str:
    """The user's text in a recorded request."""
    return recorded_request(name)["contents"][0]["parts"][0]["text"]


# --- expected attributes -------------------------------------------------------------------------


def usage_and_cost(meta: dict[str, Any], price_key: str | None) -> dict[str, Any]:
    """The usage attributes (and, for a priced model, the cost) of a recorded ``usageMetadata``.

    input = promptTokenCount + toolUsePromptTokenCount; output = candidatesTokenCount + thoughtsTokenCount,
    which add up to totalTokenCount; the cached and thinking counts are reported on their own when sent.
    """
    prompt = meta["promptTokenCount"] + meta.get("toolUsePromptTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount")
    cached = meta.get("cachedContentTokenCount")
    output = meta.get("candidatesTokenCount", 0) + (thoughts or 0)
    assert prompt + output == meta["totalTokenCount"]
    attributes: dict[str, Any] = {"gen_ai.usage.input_tokens": prompt, "gen_ai.usage.output_tokens": output}
    if thoughts is not None:
        attributes[REASONING] = thoughts
    if cached is not None:
        attributes[CACHE_READ] = cached
    if price_key is not None:
        # cost(): input_tokens are the uncached ones; thinking is billed as output
        attributes.update(
            cost(price_key, input_tokens=prompt - (cached or 0), output_tokens=output, cache_read=cached or 0)
        )
    return attributes


def request_attributes(model: str, *, vertex: bool = False, **extra: Any) -> dict[str, Any]:
    """What a generate_content span carries from the request alone (sampling attributes first)."""
    return {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.vertex_ai" if vertex else "gcp.gemini",
        "gen_ai.request.model": model,
        "server.address": VERTEX_HOST if vertex else GEMINI_HOST,
        "server.port": 443,
        **extra,
    }


# google-genai < 1.29 drops the Gemini API's responseId when it parses a response (Vertex AI's it keeps).
GEMINI_API_RESPONSE_ID = tuple(int(part) for part in genai.__version__.split(".")[:2]) >= (1, 29)


def response_attributes(
    body: dict[str, Any], price_key: str | None, *, vertex: bool = False
) -> dict[str, Any]:
    """The response side of a span of the recorded GenerateContentResponse `body`."""
    response_id = {"gen_ai.response.id": body["responseId"]} if vertex or GEMINI_API_RESPONSE_ID else {}
    return {
        **response_id,
        "gen_ai.response.model": body["modelVersion"],
        "gen_ai.response.finish_reasons": [c["finishReason"] for c in body["candidates"]],  # raw: "STOP"
        **usage_and_cost(body["usageMetadata"], price_key),
    }


def json_handler(body: dict[str, Any], status: int = 200) -> Any:
    """A transport handler answering every request with `body`; the requests are kept on it."""
    return json_answer(genai_httpx_module(), body, status)


# === 1. generate_content ==========================================================================

NONSTREAM_SHAPES = [
    # the Gemini Developer API (google-genai 1.52, gzip body)
    pytest.param(NONSTREAM, None, GEMINI_HOST, "gcp.gemini", id="gemini-api"),
    # Vertex AI (google-genai 1.32, pretty-printed body)
    pytest.param(VERTEX, VERTEX_PROJECT, VERTEX_HOST, "gcp.vertex_ai", id="vertex"),
]


@CAPTURE
@pytest.mark.parametrize(("name", "vertex", "host", "provider"), NONSTREAM_SHAPES)
@MODES
def test_gemini_generate_content_nonstream(
    instrument, is_async, name, vertex, host, provider, capture_content
):
    t = instrument(capture_content=capture_content)
    body = recorded_response(name)
    client, transport = genai_client(name, vertex=vertex)
    models = models_of(client, is_async)

    result = call(client, models.generate_content, model="gemini-2.5-flash", contents=question(name))

    assert isinstance(result, types.GenerateContentResponse)
    assert result.response_id == (body["responseId"] if vertex or GEMINI_API_RESPONSE_ID else None)
    transport.assert_all_played()
    span = the_span(t, "generate_content gemini-2.5-flash")
    content_attributes = {
        INPUT: [text_message("user", question(name))],
        OUTPUT: [output_message(text_part(recorded_text(body)))],  # STOP is "stop"
    }
    assert_attributes(
        span,
        {
            **request_attributes("gemini-2.5-flash"),
            "gen_ai.provider.name": provider,
            "server.address": host,
            **(content_attributes if capture_content else {}),
            # 5 in, 877 + 1058 thinking out (gemini-api); 8 in, 433 + 1477 out (vertex)
            **response_attributes(body, "gemini-2.5-flash", vertex=vertex is not None),
        },
    )
    if not capture_content:
        assert_no_content(span)
    assert span.events == ()


@MODES
def test_gemini_generate_content_request_parameters(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(NONSTREAM)
    client, transport = genai_client(NONSTREAM)
    models = models_of(client, is_async)
    config = {
        "system_instruction": "Answer in one sentence.",
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "max_output_tokens": 2048,
        "stop_sequences": ["\n\n"],
        "seed": 7,
        "candidate_count": 2,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "response_mime_type": "application/json",
    }
    # The replay matches method and path only, so the recorded answer serves these parameters.
    call(client, models.generate_content, model="gemini-2.5-flash", contents="What is ai?", config=config)

    sent = transport.request_json()
    assert sent["generationConfig"]["topK"] == 40
    assert sent["generationConfig"]["candidateCount"] == 2
    assert sent["systemInstruction"]["parts"] == [{"text": "Answer in one sentence."}]
    span = the_span(t, "generate_content gemini-2.5-flash")
    assert_attributes(
        span,
        {
            **request_attributes(
                "gemini-2.5-flash",
                **{
                    "gen_ai.request.temperature": 0.5,
                    "gen_ai.request.top_p": 0.9,
                    "gen_ai.request.top_k": 40,
                    "gen_ai.request.max_tokens": 2048,  # max_output_tokens
                    "gen_ai.request.stop_sequences": ["\n\n"],
                    "gen_ai.request.seed": 7,
                    "gen_ai.request.choice.count": 2,  # candidate_count
                    "gen_ai.request.presence_penalty": 0.1,
                    "gen_ai.request.frequency_penalty": 0.2,
                    "gen_ai.output.type": "json",  # response_mime_type application/json
                },
            ),
            SYSTEM: [text_part("Answer in one sentence.")],  # the system instruction, apart from contents
            INPUT: [text_message("user", "What is ai?")],
            OUTPUT: [output_message(text_part(recorded_text(body)))],
            **response_attributes(body, "gemini-2.5-flash"),
        },
    )
    assert isinstance(span.attributes["gen_ai.request.top_k"], int)  # an int, per the semconv


def test_gemini_output_type_mapping_table():
    cases = [
        ({"response_mime_type": "application/json"}, "json"),
        ({"response_json_schema": {"type": "object"}}, "json"),
        ({"response_schema": {"type": "OBJECT"}}, "json"),
        ({"response_mime_type": "text/plain"}, "text"),
        ({"response_mime_type": "text/x.enum"}, "text"),
        ({"response_modalities": ["IMAGE", "TEXT"]}, "image"),
        ({"response_modalities": ["AUDIO"]}, "speech"),
        ({"temperature": 0.1}, None),
    ]
    for config, expected in cases:
        assert instrumentor._output_type(config) == expected, config


# === 2. generate_content_stream ===================================================================

POEM = "Create a poem about Open Telemetry."


@MODES
def test_gemini_stream_fully_consumed(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_chunks(VERTEX_STREAM)
    last = payloads[-1]
    assert [p.get("usageMetadata", {}).get("promptTokenCount") for p in payloads] == [None] * 5 + [8]
    client, transport = genai_client(VERTEX_STREAM, vertex=VERTEX_PROJECT)
    models = models_of(client, is_async)

    chunks = stream_all(client, models.generate_content_stream, model="gemini-2.5-flash", contents=POEM)

    transport.assert_all_played()
    assert [c.text for c in chunks] == [recorded_text(p) for p in payloads]  # delivered unchanged, in order
    span = the_span(t, "generate_content gemini-2.5-flash")
    assert_streamed(
        span,
        {
            **request_attributes("gemini-2.5-flash", vertex=True, **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", POEM)],
            # the text pieces of every chunk, joined into one part
            OUTPUT: [output_message(text_part("".join(recorded_text(p) for p in payloads)))],
            "gen_ai.response.id": last["responseId"],
            "gen_ai.response.model": "gemini-2.5-flash",
            "gen_ai.response.finish_reasons": ["STOP"],  # on the last chunk
            # only the last chunk has counts: 8 in, 388 + 2193 thinking out
            **usage_and_cost(last["usageMetadata"], "gemini-2.5-flash"),
        },
        chunks=len(payloads),
    )


@pytest.mark.parametrize("leave", ["break", "close"])
@MODES
def test_gemini_stream_left_early_ends_span_once(instrument, is_async, leave):
    t = instrument(capture_content=True)
    first_payload = recorded_chunks(VERTEX_STREAM)[0]
    client, _ = genai_client(VERTEX_STREAM, vertex=VERTEX_PROJECT)
    models = models_of(client, is_async)

    async def scenario() -> Any:
        stream = await resolve(models.generate_content_stream(model="gemini-2.5-flash", contents=POEM))
        first = await first_then(stream, leave)
        del stream
        await asyncio.sleep(0)  # the SDK's inner async generators are finalized by the event loop
        return first

    first = drive(client, scenario)
    gc.collect()

    assert first.text == recorded_text(first_payload)
    span = the_span(t, "generate_content gemini-2.5-flash")  # ended once, when the SDK let go of the stream
    assert_streamed(
        span,
        {
            **request_attributes("gemini-2.5-flash", vertex=True, **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", POEM)],
            # what arrived; the candidate never finished, so no finish reason is claimed
            OUTPUT: [output_message(text_part(recorded_text(first_payload)), finish_reason="")],
            "gen_ai.response.id": first_payload["responseId"],
            "gen_ai.response.model": "gemini-2.5-flash",
            # Vertex sends no counts before the last chunk: no usage, no cost
            sc.LLMTRACE_STREAM_ABANDONED: True,
        },
        chunks=1,
    )


# === 3. function calling ==========================================================================

WEATHER_DECLARATION = recorded_request(FUNCTION_CALL)["tools"][0]["functionDeclarations"][0]
WEATHER_TOOL = {"function_declarations": [WEATHER_DECLARATION]}
SYSTEM_TEXT = recorded_request(FUNCTION_CALL)["systemInstruction"]["parts"][0]["text"]


@MODES
def test_gemini_function_call_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(FUNCTION_CALL)
    [call_part] = body["candidates"][0]["content"]["parts"]
    assert call_part["functionCall"] == {
        "name": "get_weather",
        "args": {"location": "San Francisco"},
    }  # no id
    # There is no recorded second turn: the replay serves the first answer again, and what is checked on
    # the second span is how the request (the call and its result) is mapped.
    client, transport = genai_client(FUNCTION_CALL, interactions=[0, 0])
    models = models_of(client, is_async)
    config = {"system_instruction": SYSTEM_TEXT, "tools": [WEATHER_TOOL]}
    ask = question(FUNCTION_CALL)

    async def scenario() -> None:
        first = await resolve(models.generate_content(model="gemini-2.0-flash", contents=ask, config=config))
        call = first.function_calls[0]
        answer = {"function_response": {"name": call.name, "response": {"temperature": "15C"}}}
        history = [
            {"role": "user", "parts": [{"text": ask}]},
            first.candidates[0].content,  # the SDK's Content, passed back as it is
            {"role": "user", "parts": [answer]},
        ]
        await resolve(models.generate_content(model="gemini-2.0-flash", contents=history, config=config))

    drive(client, scenario)

    sent = transport.request_json(1)["contents"]
    assert [c["role"] for c in sent] == ["user", "model", "user"]
    first_span, second_span = t.spans()
    reply = output_message(
        tool_call(None, "get_weather", {"location": "San Francisco"}), finish_reason="tool_call"
    )
    response = response_attributes(body, "gemini-2.0-flash")  # 63 in, 6 out; finish reason raw "STOP"
    common = {
        **request_attributes("gemini-2.0-flash"),
        SYSTEM: [text_part(SYSTEM_TEXT)],
        TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],  # type and name only by default
        OUTPUT: [reply],  # a function call with STOP is "tool_call" in the schema's vocabulary
        **response,
    }
    assert_attributes(first_span, {**common, INPUT: [text_message("user", ask)]})
    assert_attributes(
        second_span,
        {
            **common,
            INPUT: [
                text_message("user", ask),
                replayed(reply),  # Gemini's "model" role
                {
                    "role": "user",  # Gemini carries function results in a user message
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": None,
                            "name": "get_weather",  # results are matched to calls by name
                            "response": {"temperature": "15C"},
                        }
                    ],
                },
            ],
        },
    )


def test_gemini_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    client, _ = genai_client(FUNCTION_CALL)

    client.models.generate_content(
        model="gemini-2.0-flash", contents=question(FUNCTION_CALL), config={"tools": [WEATHER_TOOL]}
    )

    definitions = json.loads(the_span(t, "generate_content gemini-2.0-flash").attributes[TOOL_DEFINITIONS])
    [definition] = definitions
    assert (definition["type"], definition["name"], definition["description"]) == (
        "function",
        "get_weather",
        WEATHER_DECLARATION["description"],
    )
    parameters = definition["parameters"]  # the SDK's Schema, as JSON
    assert parameters["required"] == ["location"]
    assert parameters["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]


@MODES
def test_gemini_automatic_function_calling_one_span_per_request(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(FUNCTION_CALL)
    calls: list[str] = []

    def get_weather(location: str) -> dict[str, str]:
        """Get current weather information for a given location."""
        calls.append(location)
        return {"weather": "sunny"}

    # real types, not this module's postponed (string) annotations, which google-genai 1.11 cannot read
    get_weather.__annotations__ = {"location": str, "return": dict}

    # The SDK calls the model, runs get_weather, and calls the model again with its result: two requests.
    client, transport = genai_client(FUNCTION_CALL, interactions=[0, 0])
    models = models_of(client, is_async)
    config = {"tools": [get_weather], "automatic_function_calling": {"maximum_remote_calls": 2}}
    ask = question(FUNCTION_CALL)

    call(client, models.generate_content, model="gemini-2.0-flash", contents=ask, config=config)

    transport.assert_all_played()
    assert calls[0] == "San Francisco"
    spans = t.spans()
    assert len(spans) == 2  # one per model request, each with its own usage and cost
    reply = output_message(
        tool_call(None, "get_weather", {"location": "San Francisco"}), finish_reason="tool_call"
    )
    common = {
        **request_attributes("gemini-2.0-flash"),
        TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],  # the Python function
        OUTPUT: [reply],
        **response_attributes(body, "gemini-2.0-flash"),
    }
    assert_attributes(spans[0], {**common, INPUT: [text_message("user", ask)]})
    result = {
        "type": "tool_call_response",
        "id": None,
        "name": "get_weather",
        "response": {"result": {"weather": "sunny"}},
    }
    assert_attributes(
        spans[1],
        {
            **common,
            INPUT: [
                text_message("user", ask),
                replayed(reply),
                {"role": "user", "parts": [result]},  # the SDK sent get_weather's result back
            ],
        },
    )


@MODES
def test_gemini_stream_thinking_parallel_function_calls(instrument, is_async, caplog):
    t = instrument(capture_content=True)
    payloads = recorded_chunks(THINKING_STREAM)
    sent = recorded_request(THINKING_STREAM)
    assert sent["generationConfig"]["thinkingConfig"] == {"include_thoughts": True, "thinking_level": "LOW"}
    # thinking_level (reported as the reasoning level) is sent by SDKs that have it (not 1.11)
    level = "thinking_level" in types.ThinkingConfig.model_fields
    calls = [p["candidates"][0]["content"]["parts"][0]["functionCall"] for p in payloads[:2]]
    assert [c["id"] for c in calls] == ["dv8szvqe", "j80tal12"]  # call ids, one call per chunk
    client, _ = genai_client(THINKING_STREAM)
    models = models_of(client, is_async)
    declaration = sent["tools"][0]["functionDeclarations"][0]
    config = {
        "tools": [{"function_declarations": [declaration]}],
        "thinking_config": {"include_thoughts": True, **({"thinking_level": "LOW"} if level else {})},
    }

    chunks = stream_all(
        client,
        models.generate_content_stream,
        model="gemini-3.5-flash",
        contents=question(THINKING_STREAM),
        config=config,
    )

    assert [c.function_calls[0].id for c in chunks[:2]] == ["dv8szvqe", "j80tal12"]
    span = the_span(t, "generate_content gemini-3.5-flash")
    assert_streamed(
        span,
        {
            **request_attributes(
                "gemini-3.5-flash",
                **{"gen_ai.request.stream": True},
                **({"gen_ai.request.reasoning.level": "LOW"} if level else {}),  # thinking_level
            ),
            INPUT: [text_message("user", question(THINKING_STREAM))],
            TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],
            OUTPUT: [
                output_message(
                    # thought signatures are not content; the last chunk's empty text is no part
                    *(tool_call(c["id"], c["name"], c["args"]) for c in calls),
                    finish_reason="tool_call",
                )
            ],
            **({"gen_ai.response.id": payloads[0]["responseId"]} if GEMINI_API_RESPONSE_ID else {}),
            "gen_ai.response.model": "gemini-3.5-flash",
            "gen_ai.response.finish_reasons": ["STOP"],
            # the counts are cumulative: the last chunk's 71 in, 33 + 93 thinking out; gemini-3.5-flash
            # has no price in the table, so no cost
            **usage_and_cost(payloads[-1]["usageMetadata"], None),
        },
        chunks=len(payloads),
    )
    assert "no price for model 'gemini-3.5-flash'" in caplog.text


@MODES
def test_gemini_chats_send_message(instrument, is_async):
    t = instrument()
    body = recorded_response(NONSTREAM)
    client, _ = genai_client(NONSTREAM)
    chats = client.aio.chats if is_async else client.chats

    drive(client, lambda: resolve(chats.create(model="gemini-2.5-flash").send_message("What is ai?")))

    assert_attributes(  # chats call the model through the same per-request method
        the_span(t, "generate_content gemini-2.5-flash"),
        {**request_attributes("gemini-2.5-flash"), **response_attributes(body, "gemini-2.5-flash")},
    )


# === 4. usage: cached and tool-use prompt tokens ==================================================


def test_gemini_usage_cached_and_tool_use_tokens(instrument):
    # No recording has a context-cache hit or Google-side tool use: the recorded response, with the
    # counts the API adds for them (cachedContentTokenCount within promptTokenCount; toolUsePromptTokenCount,
    # e.g. search results, apart).
    t = instrument()
    body = recorded_response(NONSTREAM)
    meta = {
        "promptTokenCount": 12000,
        "cachedContentTokenCount": 10000,
        "toolUsePromptTokenCount": 300,
        "candidatesTokenCount": 877,
        "thoughtsTokenCount": 1058,
    }
    meta["totalTokenCount"] = 12000 + 300 + 877 + 1058
    client = handler_client(json_handler({**body, "usageMetadata": meta}))

    client.models.generate_content(model="gemini-2.5-flash", contents="What is ai?")

    span = the_span(t, "generate_content gemini-2.5-flash")
    assert_attributes(
        span,
        {
            **request_attributes("gemini-2.5-flash"),
            **response_attributes({**body, "usageMetadata": meta}, "gemini-2.5-flash"),
        },
    )
    assert span.attributes["gen_ai.usage.input_tokens"] == 12300  # prompt (cache included) + tool use
    assert span.attributes[CACHE_READ] == 10000
    # 2,300 fresh tokens at 0.30 and 10,000 cached at 0.03 USD per 1M; 1,935 out at 2.50
    assert span.attributes[sc.LLMTRACE_COST_INPUT_USD] == pytest.approx((2300 * 0.30 + 10000 * 0.03) / 1e6)
    assert span.attributes[sc.LLMTRACE_COST_OUTPUT_USD] == pytest.approx(1935 * 2.50 / 1e6)


def test_gemini_metrics_token_usage(instrument):
    t = instrument()
    body = recorded_response(VERTEX)
    client, _ = genai_client(VERTEX, vertex=VERTEX_PROJECT)

    client.models.generate_content(model="gemini-2.5-flash", contents=question(VERTEX))

    points = metric_points(t.reader)
    labels = {
        **request_attributes("gemini-2.5-flash", vertex=True),
        "gen_ai.response.model": "gemini-2.5-flash",
    }
    meta = body["usageMetadata"]
    # thinking tokens are output tokens: 433 + 1477
    assert_token_usage(
        points, labels, meta["promptTokenCount"], meta["candidatesTokenCount"] + meta["thoughtsTokenCount"]
    )
    [spent] = points[sc.METRIC_COST]
    assert dict(spent.attributes) == labels
    assert spent.sum == pytest.approx(
        the_span(t, "generate_content gemini-2.5-flash").attributes[sc.GEN_AI_USAGE_COST_AMOUNT]
    )


# === 5. embed_content ============================================================================

VECTOR = [0.013, -0.008, 0.021, 0.004]

EMBED_SHAPES = [
    # the Gemini API (batchEmbedContents) reports no token count
    pytest.param(None, "gemini-embedding-001", {"embeddings": [{"values": VECTOR}]}, None, id="gemini-api"),
    # Vertex AI (predict) counts the tokens of each embedded text
    pytest.param(
        VERTEX_PROJECT,
        "text-embedding-004",
        {
            "predictions": [
                {"embeddings": {"values": VECTOR, "statistics": {"token_count": 4, "truncated": False}}},
                {"embeddings": {"values": VECTOR, "statistics": {"token_count": 3, "truncated": False}}},
            ],
            "metadata": {"billableCharacterCount": 25},
        },
        7,
        id="vertex",
    ),
]


@pytest.mark.parametrize(("vertex", "model", "answer", "input_tokens"), EMBED_SHAPES)
@MODES
def test_gemini_embed_content(instrument, is_async, vertex, model, answer, input_tokens):
    # No embedding call was recorded: a transport answers with the API's documented response shape.
    t = instrument(capture_content=True)
    handler = json_handler(answer)
    client = handler_client(handler, vertex=vertex)
    models = models_of(client, is_async)

    result = call(client, models.embed_content, model=model, contents=["What is ai?", "Hello world"])

    assert [len(e.values) for e in result.embeddings] == [4] * len(result.embeddings)
    [request] = handler.seen
    assert request.url.path.endswith((":batchEmbedContents", ":predict"))
    expected = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "gcp.vertex_ai" if vertex else "gcp.gemini",
        "gen_ai.request.model": model,
        "server.address": VERTEX_HOST if vertex else GEMINI_HOST,
        "server.port": 443,
        "gen_ai.embeddings.dimension.count": 4,  # no content attributes on embeddings, even with capture on
    }
    if input_tokens is not None:
        # text-embedding-004 is priced at 0 (Vertex bills characters, which the table does not model)
        expected |= {
            "gen_ai.usage.input_tokens": input_tokens,
            **cost("text-embedding-004", input_tokens=input_tokens),
        }
    assert_attributes(the_span(t, f"embeddings {model}"), expected)


# === 6. errors ====================================================================================


@MODES
def test_gemini_error_4xx_reraised_unchanged(instrument, is_async):
    # The recorded Vertex 400 (made by the Vertex AI SDK at v1; the same endpoint and envelope).
    error_body = recorded_response(VERTEX_ERROR)
    params = {"model": "gemini-2.5-pro", "contents": "Say this is a test", "config": {"temperature": 1000.0}}

    def attempt() -> Any:
        client, _ = genai_client(
            VERTEX_ERROR, vertex=VERTEX_ERROR_PROJECT, api_version="v1", match_query=False
        )
        models = models_of(client, is_async)
        with pytest.raises(errors.ClientError) as caught:
            call(client, models.generate_content, **params)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) is errors.ClientError
    assert str(error) == str(bare)
    assert (error.code, error.status, error.message) == (
        400,
        "INVALID_ARGUMENT",
        error_body["error"]["message"],
    )
    span = the_span(t, "generate_content gemini-2.5-pro", StatusCode.ERROR)
    assert span.status.description == f"ClientError: {error}"
    assert_attributes(
        span,
        {
            **request_attributes("gemini-2.5-pro", vertex=True, **{"gen_ai.request.temperature": 1000.0}),
            "server.address": ERROR_HOST,
            "error.type": "ClientError",
        },
    )
    labels = {**request_attributes("gemini-2.5-pro", vertex=True), "server.address": ERROR_HOST}
    assert_error_recorded(t, span, error, labels)


@MODES
def test_gemini_stream_error_4xx(instrument, is_async):
    t = instrument()
    error_body = {"error": {"code": 404, "message": "models/gemini-0 is not found", "status": "NOT_FOUND"}}
    client = handler_client(json_handler(error_body, status=404))
    models = models_of(client, is_async)

    with pytest.raises(errors.ClientError) as caught:
        # the sync stream sends its request when first read, the async one when awaited
        stream_all(client, models.generate_content_stream, model="gemini-0", contents="Hi")

    assert caught.value.code == 404
    span = the_span(t, "generate_content gemini-0", StatusCode.ERROR)
    expected = {
        **request_attributes("gemini-0", **{"gen_ai.request.stream": True}),
        "error.type": "ClientError",
    }
    if not is_async:
        expected[sc.LLMTRACE_STREAM_CHUNKS] = 0  # the sync stream failed in our proxy, before any chunk
    assert_attributes(span, expected)


# === 7. mapping tables: shapes no recording has ===================================================


def test_gemini_parts_mapping_table():
    png = b"\x89PNG\r\n\x1a\n"
    cases = [
        ("plain", text_part("plain")),
        ({"text": "hmm", "thought": True}, {"type": "reasoning", "content": "hmm"}),
        ({"text": ""}, None),  # no content
        ({"thought_signature": "c2ln"}, None),
        (
            types.Part(inline_data=types.Blob(mime_type="image/png", data=png)),
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "content": base64.b64encode(png).decode(),
            },
        ),
        (
            {
                "fileData": {"fileUri": "gs://bucket/report.pdf", "mimeType": "application/pdf"}
            },  # camelCase too
            {
                "type": "uri",
                "modality": "document",
                "mime_type": "application/pdf",
                "uri": "gs://bucket/report.pdf",
            },
        ),
        (
            types.Part(function_call=types.FunctionCall(id="call_1", name="lookup", args={"q": "otel"})),
            tool_call("call_1", "lookup", {"q": "otel"}),
        ),
        (
            {"function_response": {"id": "call_1", "name": "lookup", "response": {"output": "found"}}},
            {"type": "tool_call_response", "id": "call_1", "name": "lookup", "response": {"output": "found"}},
        ),
        (
            types.Part(executable_code=types.ExecutableCode(language="PYTHON", code="print(1)")),
            {
                "type": "server_tool_call",
                "name": "code_execution",
                "server_tool_call": {"type": "code_execution", "language": "PYTHON", "code": "print(1)"},
            },
        ),
        (
            types.Part(code_execution_result=types.CodeExecutionResult(outcome="OUTCOME_OK", output="1\n")),
            {
                "type": "server_tool_call_response",
                "server_tool_call_response": {
                    "type": "code_execution",
                    "outcome": "OUTCOME_OK",
                    "output": "1\n",
                },
            },
        ),
        (
            types.File(
                uri="https://generativelanguage.googleapis.com/v1beta/files/abc", mime_type="audio/mpeg"
            ),
            {
                "type": "uri",
                "modality": "audio",
                "mime_type": "audio/mpeg",
                "uri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
            },
        ),
        (object(), {"type": "object"}),  # e.g. a PIL image: only its kind
    ]
    for raw, expected in cases:
        assert content.part(raw) == expected, raw


def test_gemini_contents_mapping_table():
    # a string; loose parts grouped into one user message; Contents as they are
    assert content.input_messages("Hi") == [text_message("user", "Hi")]
    assert content.input_messages(["Describe", {"text": "this"}]) == [
        {"role": "user", "parts": [text_part("Describe"), text_part("this")]}
    ]
    history = [
        types.Content(role="user", parts=[types.Part(text="Hi")]),
        types.Content(role="model", parts=[types.Part(text="Hello")]),
        "And now?",
    ]
    assert content.input_messages(history) == [
        text_message("user", "Hi"),
        text_message("assistant", "Hello"),
        text_message("user", "And now?"),
    ]
    # system instructions: text parts only, from any shape
    assert content.system_instructions("Be brief.") == [text_part("Be brief.")]
    assert content.system_instructions(["Be brief.", "Be kind."]) == [
        text_part("Be brief."),
        text_part("Be kind."),
    ]
    assert content.system_instructions({"parts": [{"text": "Be brief."}], "role": "user"}) == [
        text_part("Be brief.")
    ]
    assert content.system_instructions("") is None


def test_gemini_tool_definitions_mapping_table():
    def lookup(q: str) -> str:
        """Look something up."""
        return q

    tools = [
        lookup,  # a Python function (automatic function calling)
        types.Tool(google_search=types.GoogleSearch()),
        {"code_execution": {}},
        {"function_declarations": [{"name": "get_time"}]},
    ]
    assert content.tool_definitions(tools) == [
        {"type": "function", "name": "lookup", "description": "Look something up."},
        {"type": "google_search", "name": "google_search"},  # Google's built-in tools by their field
        {"type": "code_execution", "name": "code_execution"},
        {"type": "function", "name": "get_time"},
    ]


def test_gemini_finish_reason_mapping_table():
    call = [tool_call(None, "f", {})]
    cases = [
        ("STOP", [], "stop"),
        ("STOP", call, "tool_call"),
        ("MAX_TOKENS", [], "length"),
        ("SAFETY", [], "content_filter"),
        ("RECITATION", [], "content_filter"),
        ("MALFORMED_FUNCTION_CALL", [], "error"),
        ("OTHER", [], "OTHER"),
        (None, [], ""),
    ]
    for reason, parts, expected in cases:
        assert content.output_finish_reason(reason, parts) == expected, reason


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"api_key": "test"}, ("gcp.gemini", GEMINI_HOST, 443)),
        (
            {"api_key": "test", "http_options": {"base_url": "http://localhost:8080"}},
            ("gcp.gemini", "localhost", 8080),
        ),
        (
            {"vertexai": True, "project": "p", "location": "europe-west4"},
            ("gcp.vertex_ai", "europe-west4-aiplatform.googleapis.com", 443),
        ),
        (
            {"vertexai": True, "project": "p", "location": "global"},
            ("gcp.vertex_ai", "aiplatform.googleapis.com", 443),
        ),
    ],
    ids=["gemini-api", "proxy", "vertex", "vertex-global"],
)
def test_gemini_server_and_provider(kwargs, expected):
    if kwargs.get("vertexai"):
        from google.oauth2.credentials import Credentials

        kwargs = {**kwargs, "credentials": Credentials(token="test")}
    client = genai.Client(**kwargs)
    request = instrumentor.generate_request(
        client.models, {"model": "gemini-2.5-flash", "contents": "Hi"}, False
    )
    assert (request.provider, request.server_address, request.server_port) == expected


# === 8. uninstrument, idempotence =================================================================


def test_gemini_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(instrumentor.PATCHES)
    assert sorted(before) == sorted(f"google.genai.models:{p.path}" for p in instrumentor.PATCHES)

    t = instrument()
    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    assert again is t.handle
    assert sorted(p for p in t.handle.patched if p.startswith("google.genai")) == sorted(before)
    assert_wrapped_once(before)  # even after a second instrument()

    t.handle.uninstrument()

    assert_restored(before)
    client, _ = genai_client(NONSTREAM)
    client.models.generate_content(model="gemini-2.5-flash", contents="What is ai?")
    assert t.spans() == []


# === 9. containment: llmtrace's failures never reach the caller ==================================


@MODES
def test_gemini_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(instrumentor, "_usage", boom)  # called by generate_response
    body = recorded_response(NONSTREAM)
    client, _ = genai_client(NONSTREAM)
    models = models_of(client, is_async)

    result = call(client, models.generate_content, model="gemini-2.5-flash", contents="What is ai?")

    assert type(result) is types.GenerateContentResponse
    assert result.text == recorded_text(body)
    span = the_span(t, "generate_content gemini-2.5-flash")  # still ended, once, without the response side
    assert_attributes(span, request_attributes("gemini-2.5-flash"))
    assert_logged(caplog, "finish")


@MODES
def test_gemini_containment_request_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(instrumentor, "_request", boom)  # called by every request mapper
    payloads = recorded_chunks(VERTEX_STREAM)
    client, transport = genai_client(VERTEX_STREAM, vertex=VERTEX_PROJECT)
    models = models_of(client, is_async)

    chunks = stream_all(client, models.generate_content_stream, model="gemini-2.5-flash", contents=POEM)

    assert [c.text for c in chunks] == [recorded_text(p) for p in payloads]
    transport.assert_all_played()
    assert t.spans() == []  # passed straight through
    assert_logged(caplog, "start")


@pytest.mark.parametrize("failing", ["add", "result"])
@MODES
def test_gemini_containment_stream_accumulator_fails(contained, monkeypatch, caplog, is_async, failing):
    t = contained(capture_content=True)
    monkeypatch.setattr(instrumentor.GenerateAccumulator, failing, boom)
    payloads = recorded_chunks(VERTEX_STREAM)
    client, _ = genai_client(VERTEX_STREAM, vertex=VERTEX_PROJECT)
    models = models_of(client, is_async)

    chunks = stream_all(client, models.generate_content_stream, model="gemini-2.5-flash", contents=POEM)

    assert [c.text for c in chunks] == [recorded_text(p) for p in payloads]  # every chunk delivered
    span = the_span(t, "generate_content gemini-2.5-flash")  # ended once, with what llmtrace could still say
    assert_streamed(
        span,
        {
            **request_attributes("gemini-2.5-flash", vertex=True, **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", POEM)],
        },
        chunks=len(payloads),
    )
    assert_logged(caplog, f"stream.{failing}")
