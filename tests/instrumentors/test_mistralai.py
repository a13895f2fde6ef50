"""Mistral AI through mistralai end to end: the real SDK, with HTTP replayed from recorded cassettes.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* The same file runs against the newest SDK and the oldest supported one (mistralai 1.0.1): parameters
  an SDK's signature lacks are not sent, and the expected attributes follow what was sent (``accepted()``).
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import llmtrace
from helpers import (
    INPUT,
    OUTPUT,
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
    output_text,
    replayed,
    text_message,
    text_part,
    the_span,
    tool_call,
    tool_result,
)
from llmtrace import _semconv as sc
from scenarios import (
    CAPTURE,
    MODES,
    Recordings,
    assert_restored,
    assert_wrapped_once,
    call,
    collect,
    drive,
    first_then,
    json_answer,
    patch_targets,
    resolve,
    run_script,
    scopes_script,
    stream_all,
    streamed_text,
)

pytest.importorskip("mistralai")
from llmtrace.instrumentors import mistralai as instrumentor
from replay_mistralai import (
    CHAT,
    ERROR_BODY,
    JOKE,
    MISTRAL,
    STREAM,
    TOOL_STREAM,
    complete,
    handler_client,
    mistral_client,
    mistral_httpx_module,
    sdk_error,
    sdk_module,
    stream,
)

pytestmark = pytest.mark.usefixtures("spans_end_once")

TESTS = Path(__file__).resolve().parent.parent

# --- cassette contents (the oracle) --------------------------------------------------------------

RECORDINGS = Recordings(MISTRAL)
recorded_request = RECORDINGS.request
recorded_response = RECORDINGS.response
recorded_chunks = RECORDINGS.sse

# mistral-tiny is the legacy name of open-mistral-7b (its price entry lists it as an alias)
TINY_PRICE = "open-mistral-7b"


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(model: str, **extra: Any) -> dict[str, Any]:
    """What a Mistral chat span carries from the request alone (sampling attributes first)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": model,
        "server.address": "api.mistral.ai",
        "server.port": 443,
        **extra,
    }


def usage_and_cost(usage: dict[str, Any], price_key: str) -> dict[str, Any]:
    """prompt_tokens in, completion_tokens out (Mistral's counts map one to one), priced at `price_key`."""
    return {
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        **cost(price_key, input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
    }


def accepted(method: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The `params` this SDK's `method` takes (mistralai 1.0.1 has no n, penalties, top_k, ...)."""
    names = inspect.signature(method).parameters
    return {k: v for k, v in params.items() if k in names}


def json_handler(body: dict[str, Any], status: int = 200) -> Any:
    """A transport handler answering every request with `body`; the requests are kept on it."""
    return json_answer(mistral_httpx_module(), body, status)


# === 1. chat.complete =============================================================================


@CAPTURE
@MODES
def test_mistral_chat_complete(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    params = recorded_request(CHAT)
    params.pop("stream")
    body = recorded_response(CHAT)
    client, transport = mistral_client(CHAT)

    result = call(client, complete(client, is_async), **params)

    assert result.id == body["id"]
    transport.assert_all_played()
    span = the_span(t, "chat mistral-tiny")
    content = {
        INPUT: [text_message("user", params["messages"][0]["content"])],
        OUTPUT: [output_text(body["choices"][0]["message"]["content"])],
    }
    assert_attributes(
        span,
        {
            **request_attributes("mistral-tiny"),
            **(content if capture_content else {}),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **usage_and_cost(body["usage"], TINY_PRICE),  # 11 in, 96 out
        },
    )
    if not capture_content:
        assert_no_content(span)
    assert span.events == ()


@MODES
def test_mistral_chat_request_parameters(instrument, is_async):
    t = instrument(capture_content=True)
    body = recorded_response(CHAT)
    client, transport = mistral_client(CHAT)
    method = complete(client, is_async)
    expected_params = {
        "temperature": ("gen_ai.request.temperature", 0.3),
        "top_p": ("gen_ai.request.top_p", 0.9),
        "top_k": ("gen_ai.request.top_k", 40),
        "max_tokens": ("gen_ai.request.max_tokens", 256),
        "random_seed": ("gen_ai.request.seed", 7),
        "stop": ("gen_ai.request.stop_sequences", ["\n\n"]),
        "n": ("gen_ai.request.choice.count", 2),
        "presence_penalty": ("gen_ai.request.presence_penalty", 0.1),
        "frequency_penalty": ("gen_ai.request.frequency_penalty", 0.2),
        "reasoning_effort": ("gen_ai.request.reasoning.level", "high"),
        "response_format": ("gen_ai.output.type", "json"),
    }
    values = {k: v for k, (_, v) in expected_params.items()}
    values["stop"] = "\n\n"  # a single stop string is one stop sequence
    values["response_format"] = {"type": "json_object"}
    sent_params = accepted(method, values)
    assert {"temperature", "max_tokens", "random_seed", "stop", "response_format"} <= set(sent_params)
    system = {"role": "system", "content": "Answer in one sentence."}

    call(client, method, model="mistral-tiny", messages=[system, *JOKE], **sent_params)

    sent = transport.request_json()
    assert (sent["random_seed"], sent["stop"], sent["response_format"]) == (
        7,
        "\n\n",
        {"type": "json_object"},
    )
    span = the_span(t, "chat mistral-tiny")
    assert_attributes(
        span,
        {
            **request_attributes("mistral-tiny", **dict(expected_params[k] for k in sent_params)),
            INPUT: [
                text_message("system", "Answer in one sentence."),  # system messages stay in the history
                text_message("user", JOKE[0]["content"]),
            ],
            OUTPUT: [output_text(body["choices"][0]["message"]["content"])],
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **usage_and_cost(body["usage"], TINY_PRICE),
        },
    )


# === 2. chat.stream ===============================================================================


@MODES
def test_mistral_chat_stream_fully_consumed(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = recorded_chunks(STREAM)
    last = payloads[-1]
    assert [p.get("usage") is not None for p in payloads].count(True) == 1  # usage in the last chunk only
    client, transport = mistral_client(STREAM)

    events = stream_all(client, stream(client, is_async), model="mistral-tiny", messages=JOKE)

    transport.assert_all_played()
    assert [e.data.id for e in events] == [p["id"] for p in payloads]  # delivered unchanged, in order
    span = the_span(t, "chat mistral-tiny")
    assert_streamed(
        span,
        {
            **request_attributes("mistral-tiny", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", JOKE[0]["content"])],
            OUTPUT: [output_text(streamed_text(payloads)[0])],  # the content deltas, joined
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": "mistral-tiny",
            "gen_ai.response.finish_reasons": ["stop"],
            **usage_and_cost(last["usage"], TINY_PRICE),  # 11 in, 80 out
        },
        chunks=len(payloads),
    )


def sdk_stream_offers(way: str) -> bool:
    """Whether this SDK's streams can be left by `way`: ``close`` (a close() method) or ``with`` (a
    context manager). mistralai 1.0 streams are plain generators; 1.x's EventStream has no close()."""
    event_stream = getattr(sdk_module("utils.eventstreaming"), "EventStream", None)
    if event_stream is None:
        return way == "close"
    return hasattr(event_stream, "close" if way == "close" else "__enter__")


@pytest.mark.parametrize("leave", ["break", "close", "with"])
@MODES
def test_mistral_chat_stream_left_early_ends_span_once(instrument, is_async, leave):
    if leave != "break" and not sdk_stream_offers(leave):
        pytest.skip(f"this mistralai's streams cannot be left by {leave!r}")
    t = instrument(capture_content=True)
    first_payload = recorded_chunks(STREAM)[0]
    client, _ = mistral_client(STREAM)

    async def scenario() -> Any:
        events = await resolve(stream(client, is_async)(model="mistral-tiny", messages=JOKE))
        return await first_then(events, leave)

    first = drive(client, scenario)
    gc.collect()

    assert first.data.id == first_payload["id"]
    span = the_span(t, "chat mistral-tiny")  # ended once: by close() or the block's end, or when dropped
    assert_streamed(
        span,
        {
            **request_attributes("mistral-tiny", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", JOKE[0]["content"])],
            # the first delta has no text and no finish reason: nothing is claimed; usage comes last
            OUTPUT: [output_message(finish_reason="")],
            "gen_ai.response.id": first_payload["id"],
            "gen_ai.response.model": "mistral-tiny",
            **({sc.LLMTRACE_STREAM_ABANDONED: True} if leave == "break" else {}),
        },
        chunks=1,
    )


# === 3. tool calls ================================================================================


@MODES
def test_mistral_stream_tool_call_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded_request(TOOL_STREAM)
    params.pop("stream")
    payloads = recorded_chunks(TOOL_STREAM)
    [call] = payloads[1]["choices"][0]["delta"]["tool_calls"]  # the whole call arrives in one delta
    assert json.loads(call["function"]["arguments"]) == {"city": "San Francisco"}
    # There is no recorded second turn: the replay serves the first answer again, and what is checked
    # on the second span is how the request (the call and its result) is mapped.
    client, transport = mistral_client(TOOL_STREAM, interactions=[0, 0])
    answer = "Sunny, 18 degrees"

    async def scenario() -> None:
        events = await collect(await resolve(stream(client, is_async)(**params)))
        calls = [c for e in events for ch in e.data.choices for c in (ch.delta.tool_calls or [])]
        messages = [
            *params["messages"],
            {"role": "assistant", "content": "", "tool_calls": [c.model_dump() for c in calls]},
            {"role": "tool", "content": answer, "tool_call_id": calls[0].id, "name": calls[0].function.name},
        ]
        await collect(await resolve(stream(client, is_async)(**{**params, "messages": messages})))

    drive(client, scenario)

    assert [m["role"] for m in transport.request_json(1)["messages"]] == ["user", "assistant", "tool"]
    first_span, second_span = t.spans()
    question = text_message("user", params["messages"][0]["content"])
    reply = output_message(
        tool_call(call["id"], "get_weather", {"city": "San Francisco"}),  # arguments parsed into an object
        finish_reason="tool_call",
    )
    common = {
        **request_attributes(
            "mistral-small-latest",
            **{"gen_ai.request.stream": True, "gen_ai.request.temperature": 0.7, "gen_ai.request.top_p": 1.0},
        ),
        TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],  # type and name only by default
        OUTPUT: [reply],
        "gen_ai.response.id": payloads[0]["id"],
        "gen_ai.response.model": "mistral-small-latest",
        "gen_ai.response.finish_reasons": ["tool_calls"],  # raw ("tool_call" in the output message)
        # 96 in, 23 out; mistral-small-latest is priced as mistral-small
        **usage_and_cost(payloads[-1]["usage"], "mistral-small"),
    }
    assert_streamed(first_span, {**common, INPUT: [question]}, chunks=len(payloads))
    assert_streamed(
        second_span,
        {
            **common,
            INPUT: [
                question,
                replayed(reply),  # the empty content is no part
                {"role": "tool", "parts": [tool_result(call["id"], answer)]},
            ],
        },
        chunks=len(payloads),
    )


def test_mistral_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    params = recorded_request(TOOL_STREAM)
    params.pop("stream")
    client, _ = mistral_client(TOOL_STREAM)

    list(client.chat.stream(**params))

    definitions = json.loads(the_span(t, "chat mistral-small-latest").attributes[TOOL_DEFINITIONS])
    assert definitions == [
        {
            "type": "function",
            "name": "get_weather",
            "description": tool["function"]["description"],
            "parameters": tool["function"]["parameters"],
        }
        for tool in params["tools"]
    ]


def test_mistral_content_mapping_table():
    """The message shapes no recording has: content chunks, thinking, images, documents."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": "https://example.com/a.png"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "document_url", "document_url": "https://example.com/a.pdf"},
                {"type": "file", "file_id": "file-1"},
                {"type": "input_audio", "input_audio": "UklGRg=="},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "Look closely."}]},
                {"type": "text", "text": "An image and a document."},
            ],
            "tool_calls": [{"id": "c1", "function": {"name": "zoom", "arguments": {"level": 2}}}],
        },
    ]
    assert instrumentor.input_messages(messages) == [
        {
            "role": "user",
            "parts": [
                text_part("What is in these?"),
                {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
                {"type": "uri", "modality": "document", "uri": "https://example.com/a.pdf"},
                {"type": "file", "modality": "document", "file_id": "file-1"},
                {"type": "blob", "modality": "audio", "content": "UklGRg=="},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Look closely."},
                text_part("An image and a document."),
                tool_call("c1", "zoom", {"level": 2}),  # arguments sent as an object stay one
            ],
        },
    ]
    finish = {"stop": "stop", "length": "length", "model_length": "length", "tool_calls": "tool_call"}
    for reason, mapped in {**finish, "error": "error", None: ""}.items():
        assert instrumentor._output_finish_reason(reason) == mapped


def test_mistral_stream_thinking_chunks_folded(instrument):
    # Reasoning models stream content as chunk lists (thinking, then text): no recording has one.
    if not hasattr(sdk_module("models"), "ThinkChunk"):
        pytest.skip("this mistralai cannot parse thinking chunks (it predates the reasoning models)")
    t = instrument(capture_content=True)
    hx = mistral_httpx_module()
    base = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "magistral-small-2509"}
    deltas = [
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Two "}]}],
        },
        {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "plus two."}]}]},
        {"content": "Four"},
        {"content": "."},
    ]
    events = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    events[-1]["choices"][0]["finish_reason"] = "stop"
    events[-1]["usage"] = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    client = handler_client(
        lambda request: hx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    )

    list(client.chat.stream(model="magistral-small-2509", messages=[{"role": "user", "content": "2+2?"}]))

    span = the_span(t, "chat magistral-small-2509")
    assert_streamed(
        span,
        {
            **request_attributes("magistral-small-2509", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "2+2?")],
            OUTPUT: [output_message({"type": "reasoning", "content": "Two plus two."}, text_part("Four."))],
            "gen_ai.response.id": "cmpl-1",
            "gen_ai.response.model": "magistral-small-2509",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 9,
            "gen_ai.usage.output_tokens": 12,  # thinking included: Mistral reports no reasoning count
            **cost("magistral-small", input_tokens=9, output_tokens=12),
        },
        chunks=len(events),
    )


# === 4. embeddings ================================================================================

EMBEDDING = {
    "id": "embd-aad6fc62b17349b192ef09225058bc45",
    "object": "list",
    "model": "mistral-embed",
    "usage": {"prompt_tokens": 6, "total_tokens": 6, "completion_tokens": 0},
    "data": [
        {"object": "embedding", "embedding": [0.018, -0.004, 0.031], "index": 0},
        {"object": "embedding", "embedding": [0.002, 0.027, -0.011], "index": 1},
    ],
}
"""The API's documented embeddings response (no embeddings call was recorded)."""


@MODES
def test_mistral_embeddings(instrument, is_async):
    t = instrument(capture_content=True)
    handler = json_handler(EMBEDDING)
    client = handler_client(handler)
    create = client.embeddings.create_async if is_async else client.embeddings.create

    result = call(client, create, model="mistral-embed", inputs=["Hello", "world"], encoding_format="float")

    assert [d.index for d in result.data] == [0, 1]
    [request] = handler.seen
    assert json.loads(request.content)["input"] == ["Hello", "world"]
    assert_attributes(
        the_span(t, "embeddings mistral-embed"),
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "mistral_ai",
            "gen_ai.request.model": "mistral-embed",
            "server.address": "api.mistral.ai",
            "server.port": 443,
            "gen_ai.request.encoding_formats": ["float"],
            "gen_ai.response.id": EMBEDDING["id"],
            "gen_ai.response.model": "mistral-embed",
            "gen_ai.embeddings.dimension.count": 3,
            "gen_ai.usage.input_tokens": 6,  # input only; no content attributes on embeddings
            **cost("mistral-embed", input_tokens=6),
        },
    )


# === 5. errors ====================================================================================


@pytest.mark.parametrize("api", ["complete", "stream"])
@MODES
def test_mistral_error_4xx_reraised_unchanged(instrument, is_async, api):
    # No Mistral error was ever recorded: a transport answers with the API's error envelope.
    params = {"model": "mistral-nonexistent", "messages": JOKE}
    method = complete if api == "complete" else stream

    def attempt() -> Any:
        client = handler_client(json_handler(ERROR_BODY, status=400))
        with pytest.raises(sdk_error()) as caught:
            call(client, method(client, is_async), **params)  # a stream fails before its first event
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) is sdk_error()
    assert str(error) == str(bare)
    assert error.status_code == 400
    assert "Invalid model: mistral-nonexistent" in str(error)
    span = the_span(t, "chat mistral-nonexistent", StatusCode.ERROR)
    stream_attribute = {"gen_ai.request.stream": True} if api == "stream" else {}
    assert_attributes(
        span, {**request_attributes("mistral-nonexistent", **stream_attribute), "error.type": "SDKError"}
    )
    assert_error_recorded(t, span, error, request_attributes("mistral-nonexistent"))


# === 6. server, metrics ===========================================================================


@pytest.mark.parametrize(
    ("client_kwargs", "call_kwargs", "expected"),
    [
        ({}, {}, ("api.mistral.ai", 443)),
        ({"server_url": "http://localhost:8080"}, {}, ("localhost", 8080)),
        ({}, {"server_url": "https://api.eu.mistral.ai"}, ("api.eu.mistral.ai", 443)),  # per call
    ],
    ids=["default", "client-url", "call-url"],
)
def test_mistral_server_address(client_kwargs, call_kwargs, expected):
    client = sdk_module().Mistral(api_key="test", **client_kwargs)
    request = instrumentor.chat_request(
        client.chat, {"model": "mistral-tiny", "messages": [], **call_kwargs}, False
    )
    assert (request.provider, request.server_address, request.server_port) == ("mistral_ai", *expected)


def test_mistral_metrics_token_usage(instrument):
    t = instrument()
    body = recorded_response(CHAT)
    client, _ = mistral_client(CHAT)

    client.chat.complete(model="mistral-tiny", messages=JOKE)

    points = metric_points(t.reader)
    labels = {**request_attributes("mistral-tiny"), "gen_ai.response.model": "mistral-tiny"}
    assert_token_usage(points, labels, body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"])
    [spent] = points[sc.METRIC_COST]
    assert spent.sum == pytest.approx(
        the_span(t, "chat mistral-tiny").attributes[sc.GEN_AI_USAGE_COST_AMOUNT]
    )


# === 7. the SDK's own spans =======================================================================


def test_mistral_sdk_native_span_off_while_instrumented_and_restored(instrument):
    try:
        from mistralai.extra.observability.telemetry import configure_telemetry
    except ImportError:
        pytest.skip("this mistralai has no per-client telemetry switch (< 2.5 trace to the global provider)")
    t = instrument()

    def one_call() -> list[str]:
        client, _ = mistral_client(CHAT)
        configure_telemetry(client, provider=t.tracer_provider)  # the SDK's spans to the test's provider
        client.chat.complete(model="mistral-tiny", messages=JOKE)
        scopes = [s.instrumentation_scope.name for s in t.spans()]
        t.exporter.clear()
        return scopes

    assert one_call() == ["llmtrace"]  # exactly one span, ours: the SDK started none

    t.handle.uninstrument()

    assert one_call() == ["mistralai_sdk_tracer"]  # the SDK's span is back


NATIVE_SCRIPT = scopes_script("""
from replay_mistralai import JOKE, mistral_client
client, _ = mistral_client(cassette)
client.chat.complete(model="mistral-tiny", messages=JOKE)
""")


def test_mistral_sdk_native_span_with_global_tracer_provider():
    # mistralai 1.10 to 2.4 trace to the global provider on their own; 2.5 on when told to (here by the
    # environment); 1.0 to 1.9 have no tracing.
    tracing = importlib.util.find_spec(f"{sdk_module().__name__}._hooks.tracing") is not None
    scopes = run_script(
        NATIVE_SCRIPT,
        str(TESTS),
        CHAT,
        drop_env=("MISTRAL_", "OTEL_", "LLMTRACE_"),
        MISTRAL_SDK_TELEMETRY="global",
    )

    native = ["mistralai_sdk_tracer"] if tracing else []
    assert scopes == {"before": native, "during": ["llmtrace"], "after": native}


# === 8. uninstrument, idempotence =================================================================


def test_mistral_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(instrumentor.PATCHES)
    package = sdk_module().__name__  # mistralai.client (>= 2) or mistralai (1.x)
    assert f"{package}.chat:Chat.complete" in before
    assert f"{package}.embeddings:Embeddings.create_async" in before

    t = instrument()
    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    assert again is t.handle
    assert sorted(p for p in t.handle.patched if p.startswith("mistralai")) == sorted(before)
    assert_wrapped_once(before)  # even after a second instrument()

    t.handle.uninstrument()

    assert_restored(before)
    client, _ = mistral_client(STREAM)
    list(client.chat.stream(model="mistral-tiny", messages=JOKE))
    assert t.spans() == []


# === 9. containment: llmtrace's failures never reach the caller ==================================


@MODES
def test_mistral_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(instrumentor, "_usage", boom)  # called by chat_response
    body = recorded_response(CHAT)
    client, _ = mistral_client(CHAT)

    result = call(client, complete(client, is_async), model="mistral-tiny", messages=JOKE)

    assert result.choices[0].message.content == body["choices"][0]["message"]["content"]
    span = the_span(t, "chat mistral-tiny")  # still ended, once, without the response side
    assert_attributes(span, request_attributes("mistral-tiny"))
    assert_logged(caplog, "finish")


@MODES
def test_mistral_containment_request_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(instrumentor, "_request", boom)  # called by every request mapper
    payloads = recorded_chunks(STREAM)
    client, transport = mistral_client(STREAM)

    events = stream_all(client, stream(client, is_async), model="mistral-tiny", messages=JOKE)

    assert len(events) == len(payloads)
    transport.assert_all_played()
    assert t.spans() == []  # passed straight through
    assert_logged(caplog, "start")


@pytest.mark.parametrize("failing", ["add", "result"])
@MODES
def test_mistral_containment_stream_accumulator_fails(contained, monkeypatch, caplog, is_async, failing):
    t = contained(capture_content=True)
    monkeypatch.setattr(instrumentor.ChatAccumulator, failing, boom)
    payloads = recorded_chunks(STREAM)
    client, _ = mistral_client(STREAM)

    events = stream_all(client, stream(client, is_async), model="mistral-tiny", messages=JOKE)

    assert [e.data.id for e in events] == [p["id"] for p in payloads]  # every event delivered
    span = the_span(t, "chat mistral-tiny")  # ended once, with what llmtrace could still say
    assert_streamed(
        span,
        {
            **request_attributes("mistral-tiny", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", JOKE[0]["content"])],
        },
        chunks=len(payloads),
    )
    assert_logged(caplog, f"stream.{failing}")
