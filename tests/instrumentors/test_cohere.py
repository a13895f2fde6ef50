"""Cohere instrumentation end to end: the real cohere SDK (``ClientV2`` and ``Client``, sync and async),
its HTTP replayed from the recorded cassettes or, for what no recording shows, answered by a transport
with the shapes Cohere documents.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* Usage is Cohere's **billed** units (``usage.billed_units`` / ``meta.billed_units``), never the larger
  ``tokens`` counts the recordings also carry (the semconv's Cohere rule).
* Recorded: v1 chat, v2 chat, v2 stream, v2 tool calls (two turns), v2 embed. Built here from Cohere's
  documented responses (no recording exists): rerank (v2 and v1), the v1 stream (newline-delimited
  JSON events), v1 embed, and the errors.
* The same file runs against the newest SDK and the oldest supported one: a test skips only where that
  SDK lacks the API (``needs()``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from opentelemetry.trace import StatusCode

from helpers import (
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
    metric_points,
    output_message,
    output_text,
    replayed,
    text_message,
    text_part,
    the_span,
    tool_call,
    tool_result,
)
from llmtrace import _semconv as sc
from replay_cohere import (
    COHERE,
    INVALID,
    V1_CHAT,
    V2_CHAT,
    V2_EMBED,
    V2_STREAM,
    V2_TOOLS,
    answering,
    cohere_client,
    recorded_request,
    replay,
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
    needs,
    patch_targets,
    resolve,
    stream_all,
)

cohere = pytest.importorskip("cohere")
from llmtrace.instrumentors import _cohere_content as content  # noqa: E402
from llmtrace.instrumentors import cohere as cohere_instrumentor  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("spans_end_once"),
    # the SDK's own pydantic-v1-style code warns on every parse; not our concern here
    pytest.mark.filterwarnings("ignore::DeprecationWarning:cohere"),
]

RECORDINGS = Recordings(COHERE)
recorded_response = RECORDINGS.response
recorded_events = RECORDINGS.sse


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(model: str | None, operation: str = "chat", **extra: Any) -> dict[str, Any]:
    """What a Cohere span carries from the request alone (sampling attributes first)."""
    attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "cohere",
        "server.address": "api.cohere.com",
        "server.port": 443,
        **extra,
    }
    if model is not None:
        attributes["gen_ai.request.model"] = model
    return attributes


def billed(price_key: str, counts: dict[str, Any]) -> dict[str, Any]:
    """Usage attributes and cost of the recorded ``billed_units`` `counts` (Cohere sends floats)."""
    attributes = {"gen_ai.usage.input_tokens": int(counts["input_tokens"])}
    output_tokens = 0
    if "output_tokens" in counts:
        output_tokens = int(counts["output_tokens"])
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    return {
        **attributes,
        **cost(price_key, input_tokens=attributes["gen_ai.usage.input_tokens"], output_tokens=output_tokens),
    }


def v2_response(body: dict[str, Any], price_key: str) -> dict[str, Any]:
    """The response side of a span of the v2 chat `body`: no response model (Cohere names none)."""
    usage = body["usage"]
    assert usage["billed_units"] != usage["tokens"]  # the recordings tell billed from consumed apart
    return {
        "gen_ai.response.id": body["id"],
        "gen_ai.response.finish_reasons": [body["finish_reason"]],  # raw: COMPLETE, TOOL_CALL
        **billed(price_key, usage["billed_units"]),
    }


PIRATE = [text_message("user", "Tell me a joke, pirate style")]


# === 1. Chat v2 ===================================================================================


@CAPTURE
@MODES
def test_cohere_v2_chat(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(V2_CHAT)
    body = recorded_response(V2_CHAT)
    assert (body["usage"]["billed_units"], body["usage"]["tokens"]) == (
        {"input_tokens": 7, "output_tokens": 88},
        {"input_tokens": 69, "output_tokens": 89},
    )
    client, closing, transport = replay(V2_CHAT, is_async)

    reply = call(closing, client.chat, **params)

    transport.assert_all_played()
    assert reply.id == body["id"]
    span = the_span(t, "chat command")
    text = body["message"]["content"][0]["text"]
    assert_attributes(
        span,
        {
            **request_attributes("command"),
            **({INPUT: PIRATE, OUTPUT: [output_text(text)]} if capture_content else {}),  # COMPLETE is stop
            **v2_response(body, "command"),  # 7 billed input tokens, not the 69 consumed
        },
    )
    if not capture_content:
        assert_no_content(span)


@MODES
def test_cohere_v2_chat_request_parameters(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(V2_CHAT)
    client, closing, transport = replay(V2_CHAT, is_async)
    messages = [{"role": "system", "content": "Talk like a pirate."}, *recorded_request(V2_CHAT)["messages"]]

    call(
        closing,
        client.chat,
        model="command",
        messages=messages,
        max_tokens=300,
        temperature=0.3,
        p=0.75,
        k=40,
        seed=7,
        stop_sequences=["END"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
        response_format={"type": "json_object"},
    )

    sent = json.loads(transport.requests[0].content)
    assert (sent["k"], sent["p"], sent["response_format"]) == (40, 0.75, {"type": "json_object"})
    assert_attributes(
        the_span(t, "chat command"),
        {
            **request_attributes(
                "command",
                **{
                    "gen_ai.request.max_tokens": 300,
                    "gen_ai.request.temperature": 0.3,
                    "gen_ai.request.top_p": 0.75,  # p
                    "gen_ai.request.top_k": 40,  # k
                    "gen_ai.request.seed": 7,
                    "gen_ai.request.stop_sequences": ["END"],
                    "gen_ai.request.frequency_penalty": 0.1,
                    "gen_ai.request.presence_penalty": 0.2,
                    "gen_ai.output.type": "json",
                },
            ),
            # a v2 system message is part of the history, not a separate instruction
            INPUT: [text_message("system", "Talk like a pirate."), *PIRATE],
            OUTPUT: [output_text(body["message"]["content"][0]["text"])],
            **v2_response(body, "command"),
        },
    )


def streamed_reply(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"]["message"]["content"]["text"] for e in events if e["type"] == "content-delta")


@CAPTURE
@MODES
def test_cohere_v2_chat_stream(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    events = recorded_events(V2_STREAM)
    start, end = events[0], events[-1]
    assert (start["type"], end["type"]) == ("message-start", "message-end")
    client, closing, transport = replay(V2_STREAM, is_async)

    read = stream_all(closing, client.chat_stream, **recorded_request(V2_STREAM))

    transport.assert_all_played()
    assert [e.type for e in read] == [e["type"] for e in events]  # every event, unchanged, in order
    content = {INPUT: PIRATE, OUTPUT: [output_text(streamed_reply(events))]}
    assert_streamed(
        the_span(t, "chat command"),
        {
            **request_attributes("command", **{"gen_ai.request.stream": True}),
            **(content if capture_content else {}),
            "gen_ai.response.id": start["id"],
            "gen_ai.response.finish_reasons": [end["delta"]["finish_reason"]],
            **billed("command", end["delta"]["usage"]["billed_units"]),  # 7 / 109 (consumed: 69 / 110)
        },
        chunks=len(events),
    )


@pytest.mark.parametrize("how", ["close", "drop"])
@MODES
def test_cohere_v2_chat_stream_left_early(instrument, is_async, how):
    t = instrument(capture_content=True)
    events = recorded_events(V2_STREAM)
    client, closing, _ = replay(V2_STREAM, is_async)

    async def scenario() -> Any:
        stream = client.chat_stream(**recorded_request(V2_STREAM))
        return await first_then(stream, how)  # "drop": the stream goes out of scope unread

    first = drive(closing, scenario)

    assert first.type == "message-start"
    expected = {
        **request_attributes("command", **{"gen_ai.request.stream": True}),
        INPUT: PIRATE,
        # the reply had not begun and never finished: no parts, no finish reason, no usage
        OUTPUT: [output_message(finish_reason="")],
        "gen_ai.response.id": events[0]["id"],
    }
    if how == "drop":
        expected[sc.LLMTRACE_STREAM_ABANDONED] = True
    assert_streamed(the_span(t, "chat command"), expected, chunks=1)


WEATHER_TOOLS = [{"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_time"}]


@MODES
def test_cohere_v2_tool_calls_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    first_body, second_body = recorded_response(V2_TOOLS, 0), recorded_response(V2_TOOLS, 1)
    params = recorded_request(V2_TOOLS)
    plan = first_body["message"]["tool_plan"]
    calls = first_body["message"]["tool_calls"]
    results = {"get_time": "4:20 PM", "get_weather": "Sunny 20 degrees Celsius"}
    client, closing, transport = replay(V2_TOOLS, is_async)

    async def scenario() -> None:
        first = await resolve(client.chat(**params))
        answers = [
            {"role": "tool", "tool_call_id": c.id, "content": results[c.function.name]}
            for c in first.message.tool_calls
        ]
        assistant = {
            "role": "assistant",
            "tool_calls": first.message.tool_calls,
            "tool_plan": first.message.tool_plan,
        }
        await resolve(client.chat(**{**params, "messages": [*params["messages"], assistant, *answers]}))

    drive(closing, scenario)

    transport.assert_all_played()
    first_span, second_span = t.spans()
    question = text_message("user", params["messages"][0]["content"])
    called = [
        tool_call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls
    ]
    # the tool plan is the model's reasoning before it calls the tools
    reply = output_message({"type": "reasoning", "content": plan}, *called, finish_reason="tool_call")
    assert_attributes(
        first_span,
        {
            **request_attributes("command-r"),
            INPUT: [question],
            TOOL_DEFINITIONS: WEATHER_TOOLS,  # type and name only by default
            OUTPUT: [reply],
            **v2_response(first_body, "command-r"),  # TOOL_CALL; 62 / 28 billed
        },
    )
    assert_attributes(
        second_span,
        {
            **request_attributes("command-r"),
            INPUT: [
                question,
                replayed(reply),
                *(
                    {"role": "tool", "parts": [tool_result(c["id"], results[c["function"]["name"]])]}
                    for c in calls
                ),
            ],
            TOOL_DEFINITIONS: WEATHER_TOOLS,
            OUTPUT: [output_text(second_body["message"]["content"][0]["text"])],
            **v2_response(second_body, "command-r"),
        },
    )


# Cohere's documented v2 stream events for a reasoning model calling a tool (no recording exists).
TOOL_STREAM = [
    {"id": "msg-tools", "type": "message-start", "delta": {"message": {"role": "assistant", "content": []}}},
    {
        "type": "content-start",
        "index": 0,
        "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
    },
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Weather needs "}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "a tool."}}}},
    {"type": "content-end", "index": 0},
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up "}}},
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "the weather."}}},
    {
        "type": "tool-call-start",
        "index": 0,
        "delta": {
            "message": {
                "tool_calls": {
                    "id": "get_weather_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            }
        },
    },
    {
        "type": "tool-call-delta",
        "index": 0,
        "delta": {"message": {"tool_calls": {"function": {"arguments": '{"location":'}}}},
    },
    {
        "type": "tool-call-delta",
        "index": 0,
        "delta": {"message": {"tool_calls": {"function": {"arguments": '"Tokyo"}'}}}},
    },
    {"type": "tool-call-end", "index": 0},
    {
        "type": "message-end",
        "delta": {
            "finish_reason": "TOOL_CALL",
            "usage": {
                "billed_units": {"input_tokens": 62, "output_tokens": 28},
                "tokens": {"input_tokens": 968, "output_tokens": 83},
            },
        },
    },
]


@MODES
def test_cohere_v2_chat_stream_thinking_plan_and_tool_call(instrument, is_async):
    t = instrument(capture_content=True)
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in TOOL_STREAM) + "data: [DONE]\n\n"
    headers = {"content-type": "text/event-stream"}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body.encode(), headers=headers)
    )
    client, closing = cohere_client(transport, is_async)
    params = recorded_request(V2_TOOLS)

    read = stream_all(closing, client.chat_stream, **params)

    assert [e.type for e in read] == [e["type"] for e in TOOL_STREAM]
    assert_streamed(
        the_span(t, "chat command-r"),
        {
            **request_attributes("command-r", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", params["messages"][0]["content"])],
            TOOL_DEFINITIONS: WEATHER_TOOLS,
            OUTPUT: [
                output_message(
                    {"type": "reasoning", "content": "Weather needs a tool."},  # the thinking content
                    {"type": "reasoning", "content": "I will look up the weather."},  # the tool plan
                    tool_call("get_weather_abc", "get_weather", {"location": "Tokyo"}),  # arguments joined
                    finish_reason="tool_call",
                )
            ],
            "gen_ai.response.id": "msg-tools",
            "gen_ai.response.finish_reasons": ["TOOL_CALL"],
            **billed("command-r", {"input_tokens": 62, "output_tokens": 28}),
        },
        chunks=len(TOOL_STREAM),
    )


def test_cohere_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    params = recorded_request(V2_TOOLS)
    client, closing, _ = replay(V2_TOOLS, interactions=[0])

    call(closing, client.chat, **params)

    definitions = json.loads(the_span(t, "chat command-r").attributes[TOOL_DEFINITIONS])
    assert definitions == [{"type": "function", **tool["function"]} for tool in params["tools"]]


# === 2. embed =====================================================================================


@MODES
def test_cohere_v2_embed(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(V2_EMBED)
    body = recorded_response(V2_EMBED)
    client, closing, transport = replay(V2_EMBED, is_async)
    embed = needs(client, "embed")

    result = call(closing, embed, **params, embedding_types=["float"])

    transport.assert_all_played()
    assert len(result.embeddings.float_) == len(params["texts"])
    assert_attributes(
        the_span(t, "embeddings embed-english-light-v3.0"),
        {
            **request_attributes("embed-english-light-v3.0", "embeddings"),
            "gen_ai.request.encoding_formats": ["float"],  # embedding_types
            "gen_ai.response.id": body["id"],
            "gen_ai.embeddings.dimension.count": len(body["embeddings"]["float"][0]),  # 384
            # 208 billed input tokens at 0.10 USD per 1M; no content attributes, even with capture on
            **billed("embed-english-light-v3.0", body["meta"]["billed_units"]),
        },
    )


def v1_embeddings(request: Any) -> dict[str, Any]:
    """Cohere's documented v1 embed response (floats) for the texts of `request`: 3 dimensions, one
    billed token per text."""
    texts = json.loads(request.content)["texts"]
    return {
        "id": f"emb-{len(texts)}",
        "response_type": "embeddings_floats",
        "embeddings": [[0.1, 0.2, 0.3] for _ in texts],
        "texts": texts,
        "meta": {"api_version": {"version": "1"}, "billed_units": {"input_tokens": len(texts)}},
    }


@MODES
def test_cohere_v1_embed_batches_in_one_span(instrument, is_async):
    t = instrument()
    transport = answering(v1_embeddings)
    client, closing = cohere_client(transport, is_async, v2=False)
    texts = [f"text {i}" for i in range(100)]  # more than the SDK's batch size (96): two requests

    result = call(
        closing, client.embed, texts=texts, model="embed-english-v3.0", input_type="search_document"
    )

    assert len(transport.seen) == 2 and len(result.embeddings) == 100
    # one span for the user's call (the batch calls inside it add none), with the billed tokens summed
    assert_attributes(
        the_span(t, "embeddings embed-english-v3.0"),
        {
            **request_attributes("embed-english-v3.0", "embeddings"),
            "gen_ai.response.id": result.id,  # the SDK joins the batches' ids
            "gen_ai.embeddings.dimension.count": 3,
            **billed("embed-english-v3.0", {"input_tokens": 100}),
        },
    )


# === 3. rerank: a retrieval span ==================================================================

DOCUMENTS = [
    "Carson City is the capital city of the American state of Nevada.",
    "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean.",
    "Capitalization or capitalisation in English grammar is the use of a capital letter.",
    "Washington, D.C. is the capital of the United States.",
    "Capital punishment has existed in the United States since before it was a country.",
]
QUERY = "What is the capital of the United States?"
# Cohere's documented rerank response (no recording exists).
RERANKED = {
    "id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
    "results": [
        {"index": 3, "relevance_score": 0.999071},
        {"index": 4, "relevance_score": 0.7867867},
        {"index": 0, "relevance_score": 0.32713068},
    ],
    "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
}


def reranked(capture_content: bool) -> dict[str, Any]:
    """The result attributes of ``RERANKED``: count and score range always, documents with capture on."""
    scores = [r["relevance_score"] for r in RERANKED["results"]]
    attributes = {
        "gen_ai.response.id": RERANKED["id"],
        sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 3,
        sc.LLMTRACE_RETRIEVAL_SCORE_MIN: min(scores),
        sc.LLMTRACE_RETRIEVAL_SCORE_MAX: max(scores),
        sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: max(scores) - min(scores),
    }
    if capture_content:
        attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = QUERY
        # id: the document's index in the request; in ranked order
        attributes[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = [
            {"id": str(r["index"]), "score": r["relevance_score"]} for r in RERANKED["results"]
        ]
    return attributes


@CAPTURE
@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v1"])
@MODES
def test_cohere_rerank_is_a_retrieval_span(instrument, is_async, v2, capture_content):
    t = instrument(capture_content=capture_content)
    transport = answering(RERANKED)
    client, closing = cohere_client(transport, is_async, v2)
    rerank = needs(client, "rerank")

    result = call(closing, rerank, model="rerank-v3.5", query=QUERY, documents=DOCUMENTS, top_n=3)

    assert [r.index for r in result.results] == [3, 4, 0]
    assert transport.seen[0].url.path == ("/v2/rerank" if v2 else "/v1/rerank")
    span = the_span(t, "retrieval rerank-v3.5")
    assert_attributes(
        span,
        {
            **request_attributes("rerank-v3.5", "retrieval", **{"gen_ai.retrieval.top_k": 3}),  # top_n
            # billed per search, not per token: no usage, no cost
            **reranked(capture_content),
        },
    )
    [durations] = metric_points(t.reader)[sc.METRIC_OPERATION_DURATION]
    assert dict(durations.attributes) == request_attributes("rerank-v3.5", "retrieval")
    assert 0 < durations.sum <= duration(span)


def test_cohere_rerank_query_goes_through_the_content_policy(instrument):
    t = instrument(capture_content=True, scrub=("email",), redact=lambda text: text.replace("bob", "[name]"))
    client, closing = cohere_client(answering(RERANKED), False, True)

    call(
        closing, client.rerank, model="rerank-v3.5", query="mail bob at bob@example.com", documents=DOCUMENTS
    )

    span = the_span(t, "retrieval rerank-v3.5")
    assert span.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "mail [name] at [email]"


# === 4. Chat v1 ===================================================================================


@CAPTURE
@MODES
def test_cohere_v1_chat(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(V1_CHAT)
    body = recorded_response(V1_CHAT)
    assert (body["meta"]["billed_units"], body["meta"]["tokens"]) == (
        {"input_tokens": 58, "output_tokens": 119},
        {"input_tokens": 69, "output_tokens": 119},
    )
    client, closing, transport = replay(V1_CHAT, is_async, v2=False)

    reply = call(closing, client.chat, **params)

    transport.assert_all_played()
    assert reply.text == body["text"]
    content = {INPUT: PIRATE, OUTPUT: [output_text(body["text"])]}
    assert_attributes(
        the_span(t, "chat command"),
        {
            **request_attributes("command"),
            **(content if capture_content else {}),
            # the reply's generation_id (v2's id is the same thing), not the response_id
            "gen_ai.response.id": body["generation_id"],
            "gen_ai.response.finish_reasons": ["COMPLETE"],
            **billed("command", body["meta"]["billed_units"]),
        },
    )


@MODES
def test_cohere_v1_chat_history_preamble_and_tools(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(V1_CHAT)
    client, closing, _ = replay(V1_CHAT, is_async, v2=False)
    history = [
        {"role": "USER", "message": "Who are you?"},
        {
            "role": "CHATBOT",
            "message": "A pirate.",
            "tool_calls": [{"name": "lookup", "parameters": {"q": "rum"}}],
        },
    ]
    tools = [{"name": "lookup", "description": "Look up", "parameter_definitions": {"q": {"type": "str"}}}]
    tool_results = [{"call": {"name": "lookup", "parameters": {"q": "rum"}}, "outputs": [{"found": "none"}]}]

    call(
        closing,
        client.chat,
        message="Tell me a joke, pirate style",
        model="command",
        preamble="You are a pirate.",
        chat_history=history,
        tools=tools,
        tool_results=tool_results,
        temperature=0.5,
    )

    assert_attributes(
        the_span(t, "chat command"),
        {
            **request_attributes("command", **{"gen_ai.request.temperature": 0.5}),
            SYSTEM: [text_part("You are a pirate.")],  # the preamble
            INPUT: [
                text_message("user", "Who are you?"),
                # v1 tool calls have no id
                {
                    "role": "assistant",
                    "parts": [text_part("A pirate."), tool_call(None, "lookup", {"q": "rum"})],
                },
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": None,
                            "name": "lookup",
                            "response": {"found": "none"},
                        }
                    ],
                },
                *PIRATE,  # this turn's message comes last
            ],
            TOOL_DEFINITIONS: [{"type": "function", "name": "lookup"}],
            OUTPUT: [output_text(body["text"])],
            "gen_ai.response.id": body["generation_id"],
            "gen_ai.response.finish_reasons": ["COMPLETE"],
            **billed("command", body["meta"]["billed_units"]),
        },
    )


# Cohere's documented v1 stream (no recording exists): one JSON event per line, stream-end with the reply.
V1_STREAM = [
    {"is_finished": False, "event_type": "stream-start", "generation_id": "gen-v1-stream"},
    {"is_finished": False, "event_type": "text-generation", "text": "Arrr"},
    {"is_finished": False, "event_type": "text-generation", "text": ", matey!"},
    {
        "is_finished": True,
        "event_type": "stream-end",
        "finish_reason": "COMPLETE",
        "response": {
            "response_id": "resp-v1-stream",
            "generation_id": "gen-v1-stream",
            "text": "Arrr, matey!",
            "finish_reason": "COMPLETE",
            "meta": {
                "api_version": {"version": "1"},
                "billed_units": {"input_tokens": 8, "output_tokens": 5},
                "tokens": {"input_tokens": 71, "output_tokens": 5},
            },
        },
    },
]


def v1_stream_transport() -> Any:
    body = "\n".join(json.dumps(e) for e in V1_STREAM) + "\n"
    return httpx.MockTransport(lambda request: httpx.Response(200, content=body.encode()))


@CAPTURE
@MODES
def test_cohere_v1_chat_stream(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    client, closing = cohere_client(v1_stream_transport(), is_async, v2=False)

    read = stream_all(closing, client.chat_stream, message="Tell me a joke, pirate style", model="command")

    assert [e.event_type for e in read] == [e["event_type"] for e in V1_STREAM]
    assert_streamed(
        the_span(t, "chat command"),
        {
            **request_attributes("command", **{"gen_ai.request.stream": True}),
            **({INPUT: PIRATE, OUTPUT: [output_text("Arrr, matey!")]} if capture_content else {}),
            "gen_ai.response.id": "gen-v1-stream",
            "gen_ai.response.finish_reasons": ["COMPLETE"],
            **billed("command", {"input_tokens": 8, "output_tokens": 5}),
        },
        chunks=len(V1_STREAM),
    )


@MODES
def test_cohere_v1_chat_stream_closed_early(instrument, is_async):
    t = instrument(capture_content=True)
    client, closing = cohere_client(v1_stream_transport(), is_async, v2=False)

    async def scenario() -> list[Any]:
        stream = client.chat_stream(message="Tell me a joke, pirate style", model="command")
        read = [await stream.__anext__() if is_async else next(stream) for _ in range(2)]
        await resolve(stream.aclose() if is_async else stream.close())
        return read

    drive(closing, scenario)

    assert_streamed(
        the_span(t, "chat command"),
        {
            **request_attributes("command", **{"gen_ai.request.stream": True}),
            INPUT: PIRATE,
            OUTPUT: [output_message(text_part("Arrr"), finish_reason="")],  # what arrived; not finished
            "gen_ai.response.id": "gen-v1-stream",
        },
        chunks=2,
    )


# === 5. errors ====================================================================================


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "chat_stream"])
@MODES
def test_cohere_error_reraised_unchanged(instrument, is_async, stream):
    params = {"model": "command-x", "messages": [{"role": "user", "content": "Hi"}]}

    def attempt() -> Any:
        client, closing = cohere_client(answering(INVALID, status=400), is_async)
        with pytest.raises(cohere.BadRequestError) as caught:
            if stream:  # raised when the stream is first read
                stream_all(closing, client.chat_stream, **params)
            else:
                call(closing, client.chat, **params)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) and (error.status_code, error.body) == (bare.status_code, bare.body)
    assert error.body == INVALID
    span = the_span(t, "chat command-x", StatusCode.ERROR)
    extra = {"gen_ai.request.stream": True} if stream else {}
    if stream:
        extra[sc.LLMTRACE_STREAM_CHUNKS] = 0
    assert_attributes(span, {**request_attributes("command-x", **extra), "error.type": "BadRequestError"})
    assert_error_recorded(t, span, error, request_attributes("command-x"))


# === 6. content mapping, metrics ==================================================================


def test_cohere_content_mapping_table():
    """The v2 message shapes no recording has: images, documents, thinking, tool results as documents."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "document", "document": {"data": {"title": "notes"}}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "A cat."}],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "document", "document": {"data": {"temp": 20}}}],
        },
    ]
    assert content.v2_input_messages(messages) == [
        {
            "role": "user",
            "parts": [
                text_part("What is in this image?"),
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
                {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
                {"type": "document"},
            ],
        },
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "hmm"}, text_part("A cat.")]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"temp": 20}}]},
    ]
    finish = {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop",
        "MAX_TOKENS": "length",
        "TOOL_CALL": "tool_call",
        "ERROR": "error",
        "ERROR_TOXIC": "content_filter",
        "TIMEOUT": "timeout",
    }
    for reason, mapped in {**finish, None: ""}.items():
        assert content.output_finish_reason(reason) == mapped
    assert content.output_finish_reason("COMPLETE", tool_calls=True) == "tool_call"  # v1 says COMPLETE


def test_cohere_usage_billed_then_consumed():
    usage = cohere_instrumentor._usage
    assert usage(
        {"billed_units": {"input_tokens": 7.0, "output_tokens": 88.0}, "tokens": {"input_tokens": 69}}
    ) == (cohere_instrumentor.Usage(input_tokens=7, output_tokens=88))
    # consumed counts only where nothing is billed
    assert usage({"tokens": {"input_tokens": 69.0, "output_tokens": 89.0}}) == cohere_instrumentor.Usage(
        69, 89
    )
    assert usage({"billed_units": {"search_units": 1}}) is None  # rerank: no tokens
    assert usage(None) is None


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.cohere.com", ("cohere", "api.cohere.com", 443)),
        ("http://localhost:8080", ("cohere", "localhost", 8080)),
    ],
    ids=["default", "local"],
)
def test_cohere_server_from_base_url(base_url, expected):
    client, _ = cohere_client(answering({}), base_url=base_url)
    request = cohere_instrumentor.v2_chat_request(client, {"model": "command-a", "messages": []}, False)
    assert (request.provider, request.server_address, request.server_port) == expected


def test_cohere_metrics(instrument):
    t = instrument()
    client, closing, _ = replay(V2_CHAT)
    call(closing, client.chat, **recorded_request(V2_CHAT))
    body = recorded_response(V2_CHAT)

    points = metric_points(t.reader)

    labels = request_attributes("command")  # no response model: Cohere names none
    assert_token_usage(points, labels, 7, 88)  # billed
    [spent] = points[sc.METRIC_COST]
    expected = billed("command", body["usage"]["billed_units"])[sc.GEN_AI_USAGE_COST_AMOUNT]
    assert spent.sum == pytest.approx(expected)


# === 7. uninstrument, containment =================================================================


def test_cohere_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(cohere_instrumentor.PATCHES)
    assert "cohere.v2.client:V2Client.chat_stream" in before
    assert "cohere.base_client:BaseCohere.chat" in before
    t = instrument()
    assert sorted(p for p in t.handle.patched if p.startswith("cohere")) == sorted(before)
    assert_wrapped_once(before)

    t.handle.uninstrument()

    assert_restored(before)
    client, closing, _ = replay(V2_STREAM)
    stream_all(closing, client.chat_stream, **recorded_request(V2_STREAM))
    assert t.spans() == []


def test_cohere_client_built_while_instrumented_passes_through_after(instrument):
    # cohere binds chat per client when it is built: such a client keeps our (inactive) wrapper
    t = instrument()
    client, closing, _ = replay(V2_CHAT)
    t.handle.uninstrument()

    reply = call(closing, client.chat, **recorded_request(V2_CHAT))

    assert reply.id == recorded_response(V2_CHAT)["id"]
    assert t.spans() == []


@MODES
def test_cohere_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(cohere_instrumentor, "_usage", boom)
    client, closing, _ = replay(V2_CHAT, is_async)

    reply = call(closing, client.chat, **recorded_request(V2_CHAT))

    assert reply.id == recorded_response(V2_CHAT)["id"]
    assert_attributes(the_span(t, "chat command"), request_attributes("command"))  # ended once
    assert_logged(caplog, "finish")


@pytest.mark.parametrize("failing", ["add", "result"])
@MODES
def test_cohere_containment_stream_accumulator_fails(contained, monkeypatch, caplog, is_async, failing):
    t = contained()
    monkeypatch.setattr(cohere_instrumentor.V2ChatAccumulator, failing, boom)
    events = recorded_events(V2_STREAM)
    client, closing, _ = replay(V2_STREAM, is_async)

    read = stream_all(closing, client.chat_stream, **recorded_request(V2_STREAM))

    assert [e.type for e in read] == [e["type"] for e in events]  # every event delivered
    # ended once, with what llmtrace could still say: the request side
    span = the_span(t, "chat command")
    assert_streamed(
        span, request_attributes("command", **{"gen_ai.request.stream": True}), chunks=len(events)
    )
    assert_logged(caplog, f"stream.{failing}")


def test_cohere_containment_request_mapper_fails(contained, monkeypatch, caplog):
    t = contained()
    monkeypatch.setattr(cohere_instrumentor, "_request", boom)
    client, closing, transport = replay(V2_CHAT)

    call(closing, client.chat, **recorded_request(V2_CHAT))

    transport.assert_all_played()
    assert t.spans() == []  # passed straight through
    assert_logged(caplog, "start")
