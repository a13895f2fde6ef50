"""Ollama instrumentation end to end: the real ollama SDK (``Client``, ``AsyncClient`` and the module-level
functions), its HTTP replayed from the recorded cassettes or, for what no recording shows, answered by
a transport with the shapes Ollama's API documents.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* Recorded: a chat stream (llama3, ollama-python 0.2.0), a non-streamed chat with thinking and a tool
  call made from a Python function (qwen3.6, headers stripped). Built here from Ollama's documented
  responses (no recording exists): generate, embed, the legacy embeddings, and the errors.
* Local models have no price: no span here has a cost.
* Ollama's methods take the model and the messages by position too; both spellings are tested.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
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
    assert_streamed,
    assert_token_usage,
    boom,
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
from replay import load_cassette
from replay_ollama import (
    HOST,
    MISSING,
    OLLAMA,
    STREAM,
    THINKING,
    TOOLS,
    answering,
    closing,
    ollama_client,
    recorded,
    replay,
)
from scenarios import (
    CAPTURE,
    MODES,
    SCRIPT,
    assert_restored,
    assert_wrapped_once,
    call,
    drive,
    first_then,
    patch_targets,
    resolve,
    run_script,
    stream_all,
)

ollama = pytest.importorskip("ollama")
from llmtrace.instrumentors import ollama as ollama_instrumentor  # noqa: E402

pytestmark = pytest.mark.usefixtures("spans_end_once")

TESTS = Path(__file__).resolve().parent.parent


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(model: str, operation: str = "chat", **extra: Any) -> dict[str, Any]:
    """What an Ollama span carries from the request alone: the client's host is the server."""
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": 11434,
        **extra,
    }


def final_attributes(final: dict[str, Any]) -> dict[str, Any]:
    """The response side of a reply whose final (done) object is `final`: no id (Ollama has none), no
    cost (no price for local models)."""
    return {
        "gen_ai.response.model": final["model"],
        "gen_ai.response.finish_reasons": [final["done_reason"]],
        "gen_ai.usage.input_tokens": final["prompt_eval_count"],
        "gen_ai.usage.output_tokens": final["eval_count"],  # thinking included
    }


JOKE = [text_message("user", "Tell me a joke about OpenTelemetry")]
# ollama >= 0.4 takes Python functions as tools; >= 0.5 names the tool a tool message answers for
FUNCTION_TOOLS = importlib.util.find_spec("ollama._utils") is not None
TOOL_NAME = "tool_name" in (getattr(ollama.Message, "model_fields", None) or {})


# === 1. chat(stream=True): the recording ==========================================================


@CAPTURE
@pytest.mark.parametrize("positional", [False, True], ids=["keywords", "positional"])
@MODES
def test_ollama_chat_stream(instrument, is_async, positional, capture_content):
    t = instrument(capture_content=capture_content)
    params, lines = recorded(STREAM)
    final = lines[-1]
    assert final["done"] and (final["prompt_eval_count"], final["eval_count"]) == (17, 50)
    client, closes, transport = replay(STREAM, is_async)
    args = (params["model"], params["messages"]) if positional else ()
    kwargs = {} if positional else {"model": params["model"], "messages": params["messages"]}

    chunks = stream_all(closes, client.chat, *args, **kwargs, stream=True)

    transport.assert_all_played()
    assert [c["message"]["content"] for c in chunks] == [line["message"]["content"] for line in lines]
    reply = "".join(line["message"]["content"] for line in lines)
    assert_streamed(
        the_span(t, "chat llama3"),
        {
            **request_attributes("llama3", **{"gen_ai.request.stream": True}),
            **({INPUT: JOKE, OUTPUT: [output_text(reply)]} if capture_content else {}),
            **final_attributes(final),  # the counts are on the last (done) line
        },
        chunks=len(lines),
    )


@pytest.mark.parametrize("how", ["close", "drop"])
@MODES
def test_ollama_chat_stream_left_early(instrument, is_async, how):
    t = instrument(capture_content=True)
    params, lines = recorded(STREAM)
    client, closes, _ = replay(STREAM, is_async)

    async def scenario() -> Any:
        stream = await resolve(client.chat(model="llama3", messages=params["messages"], stream=True))
        return await first_then(stream, how)  # "drop": the stream goes out of scope unread

    first = drive(closes, scenario)

    assert first["message"]["content"] == lines[0]["message"]["content"]
    expected = {
        **request_attributes("llama3", **{"gen_ai.request.stream": True}),
        INPUT: JOKE,
        # what arrived, no finish reason (not done) and no counts (only the done line has them)
        OUTPUT: [output_message(text_part(lines[0]["message"]["content"]), finish_reason="")],
        "gen_ai.response.model": "llama3",
    }
    if how == "drop":
        expected[sc.LLMTRACE_STREAM_ABANDONED] = True
    assert_streamed(the_span(t, "chat llama3"), expected, chunks=1)


# === 2. chat: thinking, tool calls ================================================================


@CAPTURE
@MODES
def test_ollama_chat_thinking_reasoning_part(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    params, body = recorded(THINKING)
    message = body["message"]
    assert message["thinking"] and message["content"]
    client, closes, transport = replay(THINKING, is_async)

    response = call(closes, client.chat, params["model"], params["messages"], options=params["options"])

    transport.assert_all_played()
    assert response["message"]["thinking"] == message["thinking"]
    content = {
        INPUT: [text_message("user", params["messages"][0]["content"])],
        # the thinking as a reasoning part, ahead of the answer
        OUTPUT: [
            output_message(
                {"type": "reasoning", "content": message["thinking"]}, text_part(message["content"])
            )
        ],
    }
    assert_attributes(
        the_span(t, "chat qwen3.6:latest"),
        {
            # options: temperature 0, seed 42
            **request_attributes(
                "qwen3.6:latest", **{"gen_ai.request.temperature": 0, "gen_ai.request.seed": 42}
            ),
            **(content if capture_content else {}),
            **final_attributes(body),  # 21 in; 369 out, thinking included
        },
    )


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
      a: The first number.
      b: The second number.

    Returns:
      int: The sum of a and b.
    """
    return a + b


@MODES
def test_ollama_chat_tool_call_two_turns(instrument, is_async):
    t = instrument(capture_content=True)
    params, body = recorded(TOOLS)
    [called] = body["message"]["tool_calls"]
    # No recorded second turn: the replay serves the first answer again; what is checked on the
    # second span is how the request (the tool call and its result) is mapped.
    client, closes, transport = replay(TOOLS, is_async, interactions=[0, 0])
    # as recorded: the Python function (ollama >= 0.4 makes the tool from it), else its JSON schema
    tools = [add_two_numbers] if FUNCTION_TOOLS else params["tools"]

    async def scenario() -> Any:
        first = await resolve(client.chat(params["model"], params["messages"], tools=tools))
        calls = first["message"]["tool_calls"]
        answer = {"role": "tool", "content": str(add_two_numbers(**calls[0]["function"]["arguments"]))}
        if TOOL_NAME:
            answer["tool_name"] = "add_two_numbers"
        messages = [*params["messages"], first["message"], answer]
        await resolve(client.chat(params["model"], messages, tools=tools))
        return calls[0]

    delivered = drive(closes, scenario)

    sent = json.loads(transport.requests[0].content)
    assert sent["tools"] == params["tools"]  # the SDK made the recorded tool from the function
    first_span, second_span = t.spans()
    question = text_message("user", params["messages"][0]["content"])
    # arguments arrive as an object; Ollama says "stop" for a reply calling a tool: "tool_call" here
    # the recorded call id, where the SDK keeps it (its response models, ollama >= 0.4, drop it)
    call_id = delivered.get("id") if isinstance(delivered, dict) else getattr(delivered, "id", None)
    assert call_id in (None, called["id"])
    call_part = tool_call(call_id, "add_two_numbers", called["function"]["arguments"])
    reply = output_message(
        {"type": "reasoning", "content": body["message"]["thinking"]}, call_part, finish_reason="tool_call"
    )
    definitions = [{"type": "function", "name": "add_two_numbers"}]  # a function is named by its name
    response = final_attributes(body)
    assert_attributes(
        first_span,
        {
            **request_attributes("qwen3.6:latest"),
            INPUT: [question],
            TOOL_DEFINITIONS: definitions,
            OUTPUT: [reply],
            **response,
        },
    )
    result = tool_result(None, "5")
    if TOOL_NAME:
        result["name"] = "add_two_numbers"  # the tool message's tool_name
    assert_attributes(
        second_span,
        {
            **request_attributes("qwen3.6:latest"),
            INPUT: [
                question,
                replayed(reply),
                {"role": "tool", "parts": [result]},
            ],
            TOOL_DEFINITIONS: definitions,
            OUTPUT: [reply],
            **response,
        },
    )


def test_ollama_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    params, _ = recorded(TOOLS)
    client, closes, _ = replay(TOOLS)

    call(closes, client.chat, params["model"], params["messages"], tools=params["tools"])

    definitions = json.loads(the_span(t, "chat qwen3.6:latest").attributes[TOOL_DEFINITIONS])
    assert definitions == [{"type": "function", **tool["function"]} for tool in params["tools"]]


@MODES
def test_ollama_chat_options_and_format(instrument, is_async):
    t = instrument()
    params, body = recorded(THINKING)
    client, closes, transport = replay(THINKING, is_async)
    options = {"num_predict": 128, "temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 1, "stop": ["\n\n"]}
    extra = {"think": "low"} if "think" in ollama.Client.chat.__code__.co_varnames else {}

    call(
        closes,
        client.chat,
        model=params["model"],
        messages=params["messages"],
        options=options,
        format="json",
        **extra,
    )

    sent = json.loads(transport.requests[0].content)
    assert (sent["options"], sent["format"]) == (options, "json")
    level = {"gen_ai.request.reasoning.level": "low"} if extra else {}
    assert_attributes(
        the_span(t, "chat qwen3.6:latest"),
        {
            **request_attributes(
                "qwen3.6:latest",
                **{
                    "gen_ai.request.max_tokens": 128,  # num_predict
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.top_p": 0.9,
                    "gen_ai.request.top_k": 40,
                    "gen_ai.request.seed": 1,
                    "gen_ai.request.stop_sequences": ["\n\n"],
                    "gen_ai.output.type": "json",
                    **level,
                },
            ),
            **final_attributes(body),
        },
    )


# === 3. generate, embed, embeddings: Ollama's documented shapes ===================================

GENERATED = {
    "model": "llama3.2",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "response": "The sky is blue because of Rayleigh scattering.",
    "done": True,
    "done_reason": "stop",
    "context": [1, 2, 3],
    "total_duration": 5043500667,
    "load_duration": 5025959,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 325953000,
    "eval_count": 290,
    "eval_duration": 4709213000,
}
GENERATED_STREAM = [
    {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "response": piece,
        "done": False,
    }
    for piece in ("The sky", " is blue", " because of Rayleigh scattering.")
] + [{**GENERATED, "response": ""}]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@MODES
def test_ollama_generate_is_a_text_completion(instrument, is_async, stream):
    t = instrument(capture_content=True)
    client = ollama_client(answering(GENERATED_STREAM if stream else GENERATED), is_async)

    result = (stream_all if stream else call)(
        closing(client),
        client.generate,
        "llama3.2",
        "Why is the sky blue?",
        system="Be brief.",
        stream=stream,
    )

    text = "".join(r["response"] for r in result) if stream else result["response"]
    assert text == GENERATED["response"]
    expected = {
        **request_attributes("llama3.2", "text_completion"),
        SYSTEM: [text_part("Be brief.")],
        INPUT: [text_message("user", "Why is the sky blue?")],
        OUTPUT: [output_text(text)],
        **final_attributes(GENERATED),
    }
    span = the_span(t, "text_completion llama3.2")
    if stream:
        assert_streamed(span, {**expected, "gen_ai.request.stream": True}, chunks=len(GENERATED_STREAM))
    else:
        assert_attributes(span, expected)


EMBEDDED = {
    "model": "all-minilm",
    "embeddings": [[0.010071029, -0.0017594862, 0.05007221, 0.04692972, 0.054916814, 0.008599704]],
    "total_duration": 14143917,
    "load_duration": 1019500,
    "prompt_eval_count": 8,
}
EMBEDDING = {"embedding": [0.5670403838157654, 0.009260174818336964, 0.23178744316101074]}


@MODES
def test_ollama_embed(instrument, is_async):
    t = instrument(capture_content=True)
    client = ollama_client(answering(EMBEDDED), is_async)
    embed = getattr(client, "embed", None)
    if embed is None:
        pytest.skip(f"ollama {ollama_version()} has no embed")

    call(closing(client), embed, "all-minilm", "Why is the sky blue?")

    assert_attributes(
        the_span(t, "embeddings all-minilm"),
        {
            **request_attributes("all-minilm", "embeddings"),
            "gen_ai.response.model": "all-minilm",
            "gen_ai.usage.input_tokens": 8,  # prompt_eval_count; no content attributes, even with capture on
            "gen_ai.embeddings.dimension.count": 6,
        },
    )


@MODES
def test_ollama_embeddings_legacy(instrument, is_async):
    t = instrument()
    client = ollama_client(answering(EMBEDDING), is_async)

    call(closing(client), client.embeddings, model="all-minilm", prompt="Why is the sky blue?")

    # the legacy endpoint reports no counts, and llmtrace does not invent any
    assert_attributes(
        the_span(t, "embeddings all-minilm"),
        {**request_attributes("all-minilm", "embeddings"), "gen_ai.embeddings.dimension.count": 3},
    )


def ollama_version() -> str:
    from importlib.metadata import version

    return version("ollama")


# === 4. errors ====================================================================================


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@MODES
def test_ollama_error_reraised_unchanged(instrument, is_async, stream):
    def attempt() -> Any:
        client = ollama_client(answering(MISSING, status=404), is_async)
        with pytest.raises(ollama.ResponseError) as caught:
            hi = [{"role": "user", "content": "Hi"}]
            (stream_all if stream else call)(closing(client), client.chat, "llama-9000", hi, stream=stream)
        return caught.value

    bare = attempt()  # what the SDK raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) and (error.error, error.status_code) == (bare.error, 404)
    span = the_span(t, "chat llama-9000", StatusCode.ERROR)
    extra: dict[str, Any] = {"gen_ai.request.stream": True, sc.LLMTRACE_STREAM_CHUNKS: 0} if stream else {}
    assert_attributes(span, {**request_attributes("llama-9000", **extra), "error.type": "ResponseError"})
    assert_error_recorded(t, span, error, request_attributes("llama-9000"))


# === 5. the module-level functions ================================================================


@pytest.fixture
def default_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The client behind ``ollama.chat`` and friends, its HTTP going to a transport set by the test."""
    client = ollama._client
    assert isinstance(client, ollama.Client)

    def use(transport: Any) -> None:
        monkeypatch.setattr(client, "_client", httpx.Client(base_url=HOST, transport=transport))

    return use


def test_ollama_module_functions_traced_once(instrument, default_client):
    t = instrument(capture_content=True)
    params, lines = recorded(STREAM)
    default_client(load_cassette(OLLAMA / STREAM).transport(httpx))

    chunks = list(ollama.chat("llama3", params["messages"], stream=True))

    assert len(chunks) == len(lines)
    assert_streamed(
        the_span(t, "chat llama3"),  # exactly one span
        {
            **request_attributes("llama3", **{"gen_ai.request.stream": True}),
            INPUT: JOKE,
            OUTPUT: [output_text("".join(line["message"]["content"] for line in lines))],
            **final_attributes(lines[-1]),
        },
        chunks=len(lines),
    )


IMPORT_ORDER_SCRIPT = (
    SCRIPT
    + """
import httpx
import llmtrace
from replay import load_cassette
cassette, order = args
if order == "instrument-first":
    handle = llmtrace.instrument(tracer_provider=provider, exporter="none", raise_internal_errors=True)
import ollama
if order == "import-first":
    handle = llmtrace.instrument(tracer_provider=provider, exporter="none", raise_internal_errors=True)
transport = load_cassette(cassette).transport(httpx)
ollama._client._client = httpx.Client(base_url="http://127.0.0.1:11434", transport=transport)
chunks = list(ollama.chat("llama3", [{"role": "user", "content": "Hi"}], stream=True))
spans = [s.name for s in exporter.get_finished_spans()]
handle.uninstrument()
print(json.dumps({"chunks": len(chunks), "spans": spans}))
"""
)


@pytest.mark.parametrize("order", ["import-first", "instrument-first"])
def test_ollama_module_functions_either_import_order(order):
    result = run_script(
        IMPORT_ORDER_SCRIPT,
        str(TESTS),
        str(OLLAMA / STREAM),
        order,
        drop_env=("OLLAMA_", "LLMTRACE_", "OTEL_"),
    )

    assert result == {"chunks": len(recorded(STREAM)[1]), "spans": ["chat llama3"]}


# === 6. metrics, uninstrument, containment ========================================================


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (HOST, ("127.0.0.1", 11434)),
        ("https://ollama.example.com", ("ollama.example.com", 443)),
        ("http://gpu-box:8080", ("gpu-box", 8080)),
    ],
)
def test_ollama_server_from_the_client_host(host, expected):
    request = ollama_instrumentor.chat_request(ollama.Client(host=host), {"model": "llama3"}, False)
    assert (request.provider, request.server_address, request.server_port) == ("ollama", *expected)


def test_ollama_metrics_tokens_without_cost(instrument):
    t = instrument()
    params, body = recorded(THINKING)
    client, closes, _ = replay(THINKING)
    call(closes, client.chat, params["model"], params["messages"])

    points = metric_points(t.reader)

    labels = {**request_attributes("qwen3.6:latest"), "gen_ai.response.model": "qwen3.6:latest"}
    assert_token_usage(points, labels, body["prompt_eval_count"], body["eval_count"])
    assert sc.METRIC_COST not in points  # no price for a local model


def test_ollama_uninstrument_restores_sdk_exactly(instrument):
    before = patch_targets(ollama_instrumentor.PATCHES)
    assert {"ollama._client:Client.chat", "ollama._client:AsyncClient.generate", "ollama:chat"} <= set(before)
    t = instrument()
    assert_wrapped_once(before)

    t.handle.uninstrument()

    assert_restored(before)
    client, closes, _ = replay(STREAM)
    stream_all(closes, client.chat, "llama3", [{"role": "user", "content": "Hi"}], stream=True)
    assert t.spans() == []


def test_ollama_positional_arguments_named_for_the_mapper_only(monkeypatch, instrument):
    for method, endpoint in ollama_instrumentor._ENDPOINTS:  # the names are this SDK's, in its order
        parameters = inspect.signature(getattr(ollama.Client, method)).parameters.values()
        names = tuple(p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD)[1:]  # self
        assert endpoint.positional[: len(names)] == names, method
    made = []
    sdk_chat = ollama.Client.chat

    def chat(self: Any, *args: Any, **kwargs: Any) -> Any:
        made.append((args, kwargs))
        return sdk_chat(self, *args, **kwargs)

    monkeypatch.setattr(ollama.Client, "chat", chat)  # under llmtrace's wrapper, which instrument() adds
    t = instrument()
    params, _ = recorded(THINKING)
    client, closes, _ = replay(THINKING)

    call(closes, client.chat, params["model"], params["messages"], options=params["options"])

    assert made == [((params["model"], params["messages"]), {"options": params["options"]})]  # as made
    span = the_span(t, "chat qwen3.6:latest")  # the model, by position, was mapped
    assert span.attributes["gen_ai.request.model"] == params["model"] == "qwen3.6:latest"


@MODES
def test_ollama_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(ollama_instrumentor, "_usage", boom)
    params, body = recorded(THINKING)
    client, closes, _ = replay(THINKING, is_async)

    response = call(closes, client.chat, params["model"], params["messages"])

    assert response["message"]["content"] == body["message"]["content"]
    assert_attributes(the_span(t, "chat qwen3.6:latest"), request_attributes("qwen3.6:latest"))
    assert_logged(caplog, "finish")


@pytest.mark.parametrize("failing", ["add", "result"])
def test_ollama_containment_stream_accumulator_fails(contained, monkeypatch, caplog, failing):
    t = contained()
    monkeypatch.setattr(ollama_instrumentor.ChatAccumulator, failing, boom)
    _, lines = recorded(STREAM)
    client, closes, _ = replay(STREAM)

    chunks = stream_all(closes, client.chat, "llama3", [{"role": "user", "content": "Hi"}], stream=True)

    assert len(chunks) == len(lines)  # every chunk delivered
    assert_streamed(
        the_span(t, "chat llama3"),
        request_attributes("llama3", **{"gen_ai.request.stream": True}),
        chunks=len(lines),
    )
    assert_logged(caplog, f"stream.{failing}")


@pytest.mark.parametrize("failing", ["_request", "_server"])
def test_ollama_containment_request_mapper_fails(contained, monkeypatch, caplog, failing):
    t = contained()
    monkeypatch.setattr(ollama_instrumentor, failing, boom)
    params, _ = recorded(THINKING)
    client, closes, transport = replay(THINKING)

    call(closes, client.chat, params["model"], params["messages"])

    transport.assert_all_played()
    assert t.spans() == []
    assert_logged(caplog, "start")
