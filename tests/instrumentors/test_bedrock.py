"""Amazon Bedrock instrumentation end to end: the real boto3 ``bedrock-runtime`` client, its HTTP replayed
from recorded cassettes at botocore's ``before-send`` event (``replay_bedrock.py``), so signing, retries,
error parsing, ``StreamingBody`` and the binary eventstream decoding all run as on the wire.

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* boto3 has no async client (aioboto3/aiobotocore are out of scope), so every scenario is synchronous.
* No span attribute or event of any test carries the client's credentials (``no_credentials``, autouse).
* Model families with no recording (Nova, Titan, Llama, Mistral, Cohere Command, embeddings) are served
  bodies written here in each family's documented shape, through the same real client (section 8).
"""

from __future__ import annotations

import base64
import json
import time
import types
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

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
from llmtrace.pricing import load_price_table
from replay import load_cassette
from replay_bedrock import (
    CREDENTIALS,
    REGION,
    answer,
    answering_client,
    bedrock_client,
    chunk,
    frame,
    make_client,
)
from scenarios import CAPTURE, Recordings, assert_restored, assert_wrapped_once, patch_targets

boto3 = pytest.importorskip("boto3")
import botocore  # noqa: E402
import botocore.endpoint  # noqa: E402
import botocore.exceptions  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.eventstream import EventStream, EventStreamBuffer  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from llmtrace.instrumentors import _bedrock_content as content  # noqa: E402
from llmtrace.instrumentors import _bedrock_models as models  # noqa: E402
from llmtrace.instrumentors import bedrock as bedrock_instrumentor  # noqa: E402

pytestmark = pytest.mark.usefixtures("spans_end_once")

BEDROCK = Path(__file__).resolve().parent.parent / "cassettes" / "bedrock"

CONVERSE = "converse_titan-text-lite.yaml"
CONVERSE_STREAM = "converse_stream_titan-text-lite.yaml"
CONVERSE_TOOLS = "converse_tool_use_nova-micro_two_turns.yaml"
CONVERSE_STREAM_TOOLS = "converse_stream_tool_use_claude-3-sonnet.yaml"
CONVERSE_ERROR = "converse_error_400_invalid_model.yaml"
INVOKE = "invoke_model_anthropic_claude-v2.yaml"
INVOKE_COHERE = "invoke_model_cohere_command-r.yaml"
INVOKE_CACHE = "invoke_model_prompt_cache_claude-3-5-haiku.yaml"
INVOKE_STREAM = "invoke_model_stream_anthropic_claude-v2.yaml"
INVOKE_TOOLS = "invoke_model_tool_use_claude-3-5-sonnet_two_turns.yaml"

# The model ids of the recordings (in each URL: /model/{modelId}/...).
TITAN = "amazon.titan-text-lite-v1"
NOVA_MICRO = "amazon.nova-micro-v1:0"
CLAUDE_3_SONNET = "anthropic.claude-3-sonnet-20240229-v1:0"
CLAUDE_V2 = "anthropic.claude-v2"
COMMAND_R = "cohere.command-r-v1:0"
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
SONNET_PROFILE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"  # a cross-region inference profile

HOST = f"bedrock-runtime.{REGION}.amazonaws.com"
REQUEST_ID = sc.AWS_REQUEST_ID
PRICES = load_price_table()


@pytest.fixture(autouse=True)
def no_credentials(telemetry):
    """After every test: no span attribute, status or event of it holds the client's credentials or a
    SigV4 signature (llmtrace never reads request headers; this proves it for every call made here)."""
    yield
    for span in telemetry.exporter.get_finished_spans():
        values = [*span.attributes.values(), span.status.description or ""]
        values += [v for event in span.events for v in event.attributes.values()]
        text = json.dumps([str(v) for v in values])
        for secret in (*CREDENTIALS, "Signature=", "Credential="):
            assert secret not in text, f"{span.name}: telemetry holds {secret!r}"


# --- cassette contents (the oracle) --------------------------------------------------------------

RECORDINGS = Recordings(BEDROCK)
recorded_request = RECORDINGS.request
recorded_response = RECORDINGS.response


def recorded_frames(name: str) -> list[tuple[str, dict[str, Any]]]:
    """(``:event-type``, JSON payload) of each eventstream message of a recorded stream."""
    buffer = EventStreamBuffer()
    buffer.add_data(load_cassette(BEDROCK / name).interactions[0].response.content())
    return [(m.headers[":event-type"], json.loads(m.payload)) for m in buffer]


def recorded_converse_events(name: str) -> list[dict[str, Any]]:
    """The ConverseStream events botocore delivers (it drops the ``p`` padding field, not modelled)."""
    return [{kind: {k: v for k, v in p.items() if k != "p"}} for kind, p in recorded_frames(name)]


def sdk_converse_events(name: str, model: str) -> list[dict[str, Any]]:
    """The ConverseStream events the SDK delivers for recording `name`, read while not instrumented:
    what an instrumented call must deliver too (botocore drops fields its model lacks, e.g. the ``p``
    padding, or ``serverToolUsage`` in the 1.44 model)."""
    assert llmtrace._core.RUNTIME is None
    client, _ = bedrock_client(BEDROCK / name)
    return list(client.converse_stream(modelId=model, **recorded_request(name))["stream"])


def recorded_chunks(name: str) -> list[bytes]:
    """The model's JSON events of a recorded InvokeModelWithResponseStream (``chunk.bytes``, decoded)."""
    return [base64.b64decode(payload["bytes"]) for _, payload in recorded_frames(name)]


def request_id(name: str, index: int = 0) -> str:
    """The ``x-amzn-RequestId`` a recording answered with."""
    header = load_cassette(BEDROCK / name).interactions[index].response.header("x-amzn-RequestId")
    assert header
    return header


def body_of(name: str, index: int = 0) -> bytes:
    """The InvokeModel body a recording sent, as a user passes it (JSON)."""
    return json.dumps(recorded_request(name, index)).encode()


def needs(client: Any, operation: str, side: str, *path: str) -> None:
    """Skip the test when this botocore's model of `operation` has no `path` (a field added to the API
    after the oldest supported release; botocore drops unknown response fields and rejects request ones)."""
    model = client.meta.service_model.operation_model(operation)
    shape = model.input_shape if side == "input" else model.output_shape
    for name in path:
        while shape.type_name == "list":
            shape = shape.member
        if name not in getattr(shape, "members", {}):
            pytest.skip(f"botocore {botocore.__version__}: {operation} {side} has no {'.'.join(path)}")
        shape = shape.members[name]


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(model: str, operation: str = "chat", **extra: Any) -> dict[str, Any]:
    """What a Bedrock span carries from the request alone (sampling attributes first)."""
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": model,
        "server.address": HOST,
        "server.port": 443,
        **extra,
    }


def params(
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    stop: list[str] | None = None,
) -> dict[str, Any]:
    """Request-parameter attributes (given ones only)."""
    values = {
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.request.temperature": temperature,
        "gen_ai.request.top_p": top_p,
        "gen_ai.request.top_k": top_k,
        "gen_ai.request.stop_sequences": stop,
    }
    return {k: v for k, v in values.items() if v is not None}


def usage(
    price_key: str, fresh: int, output: int | None, read: int | None = None, write: int | None = None
) -> dict[str, Any]:
    """Usage attributes and cost: gen_ai.usage.input_tokens = the uncached input + cache reads + cache
    writes (Bedrock reports them apart); cost at ``PRICES[price_key]`` per ``cost()``."""
    attributes: dict[str, Any] = {"gen_ai.usage.input_tokens": fresh + (read or 0) + (write or 0)}
    if output is not None:
        attributes["gen_ai.usage.output_tokens"] = output
    if read is not None:
        attributes[CACHE_READ] = read
    if write is not None:
        attributes[CACHE_WRITE] = write
    priced = cost(
        price_key, input_tokens=fresh, output_tokens=output or 0, cache_read=read or 0, cache_write=write or 0
    )
    return {**attributes, **priced}


def converse_attributes(name: str, model: str, price_key: str, index: int = 0) -> dict[str, Any]:
    """The response side of a span of recorded Converse response `name` (no id or model: Converse has
    neither; the AWS request id instead)."""
    body = recorded_response(name, index)
    counts = body["usage"]
    return {
        "gen_ai.response.finish_reasons": [body["stopReason"]],  # raw
        REQUEST_ID: request_id(name, index),
        **usage(price_key, counts["inputTokens"], counts["outputTokens"]),
    }


SAY_THIS = [text_message("user", "Say this is a test")]


# === 1. converse ==================================================================================


@CAPTURE
def test_bedrock_converse(instrument, capture_content):
    t = instrument(capture_content=capture_content)
    sent = recorded_request(CONVERSE)
    body = recorded_response(CONVERSE)
    client, replay = bedrock_client(BEDROCK / CONVERSE)

    result = client.converse(modelId=TITAN, **sent)

    replay.assert_all_played()
    assert {k: v for k, v in result.items() if k != "ResponseMetadata"} == body  # the SDK's parse, as it was
    span = the_span(t, f"chat {TITAN}")
    config = sent["inferenceConfig"]
    assert config == {"maxTokens": 10, "temperature": 0.8, "topP": 1, "stopSequences": ["|"]}
    recorded_text = body["output"]["message"]["content"][0]["text"]
    assert_attributes(
        span,
        {
            **request_attributes(TITAN, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            **converse_attributes(CONVERSE, TITAN, "amazon.titan-text-lite"),  # 8 in, 10 out
            # max_tokens is "length" in the schema's vocabulary
            **(
                {INPUT: SAY_THIS, OUTPUT: [output_message(text_part(recorded_text), finish_reason="length")]}
                if capture_content
                else {}
            ),
        },
    )
    assert isinstance(span.attributes["gen_ai.request.top_p"], float)  # a double, as the semconv types it
    assert span.events == ()


def test_bedrock_converse_request_parameters_and_guardrail(instrument):
    t = instrument(capture_content=True)
    client, replay = bedrock_client(BEDROCK / CONVERSE)
    needs(client, "Converse", "input", "guardrailConfig")
    needs(client, "Converse", "input", "system", "cachePoint")
    # The replay matches method and path only, so the recorded answer serves these extra parameters.
    extra = {
        "system": [{"text": "Answer in one sentence."}, {"cachePoint": {"type": "default"}}],
        "additionalModelRequestFields": {"top_k": 40},
        "guardrailConfig": {"guardrailIdentifier": "gr-0123abcd", "guardrailVersion": "1"},
    }

    client.converse(modelId=TITAN, **recorded_request(CONVERSE), **extra)

    sent = replay.request_json()
    assert (sent["guardrailConfig"], sent["additionalModelRequestFields"]) == (
        extra["guardrailConfig"],
        {"top_k": 40},
    )
    span = the_span(t, f"chat {TITAN}")
    text = recorded_response(CONVERSE)["output"]["message"]["content"][0]["text"]
    assert_attributes(
        span,
        {
            **request_attributes(
                TITAN,
                **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"], top_k=40),
                **{"aws.bedrock.guardrail.id": "gr-0123abcd"},  # guardrailConfig.guardrailIdentifier
            ),
            SYSTEM: [text_part("Answer in one sentence.")],  # the cache checkpoint is no content
            INPUT: SAY_THIS,
            OUTPUT: [output_message(text_part(text), finish_reason="length")],
            **converse_attributes(CONVERSE, TITAN, "amazon.titan-text-lite"),
        },
    )
    assert isinstance(span.attributes["gen_ai.request.top_k"], int)


def test_bedrock_converse_prompt_cache_usage(instrument):
    t = instrument()
    # Converse reports the cache reads and writes apart from inputTokens (total = all four added up).
    counts = {
        "inputTokens": 11,
        "outputTokens": 310,
        "totalTokens": 3860,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 3539,
    }
    reply = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}},
        "stopReason": "end_turn",
        "usage": counts,
        "metrics": {"latencyMs": 1},
    }
    client, _ = answering_client(answer(200, reply))
    needs(client, "Converse", "output", "usage", "cacheWriteInputTokens")

    client.converse(
        modelId=HAIKU,
        system=[{"text": "A long, cached system prompt."}, {"cachePoint": {"type": "default"}}],
        messages=[{"role": "user", "content": [{"text": "Hi"}]}],
    )

    assert_attributes(
        the_span(t, f"chat {HAIKU}"),
        {
            **request_attributes(HAIKU),
            "gen_ai.response.finish_reasons": ["end_turn"],
            REQUEST_ID: "11111111-2222-3333-4444-555555555555",
            # input = 11 + 0 + 3539; the write priced at claude-3-5-haiku's cache_write price
            **usage("claude-3-5-haiku", 11, 310, read=0, write=3539),
        },
    )


WEATHER_TOOL = [{"type": "function", "name": "get_current_weather"}]


def test_bedrock_converse_tool_use_two_turns(instrument):
    t = instrument(capture_content=True)
    first_sent = recorded_request(CONVERSE_TOOLS, 0)
    second_sent = recorded_request(CONVERSE_TOOLS, 1)
    weather = {"Seattle": "50 degrees and raining", "San Francisco": "70 degrees and sunny"}
    client, replay = bedrock_client(BEDROCK / CONVERSE_TOOLS)

    first = client.converse(modelId=NOVA_MICRO, **first_sent)
    reply = first["output"]["message"]
    results = [
        {
            "toolResult": {
                "content": [{"json": {"weather": weather[b["toolUse"]["input"]["location"]]}}],
                "toolUseId": b["toolUse"]["toolUseId"],
            }
        }
        for b in reply["content"]
        if "toolUse" in b
    ]
    messages = [*first_sent["messages"], reply, {"role": "user", "content": results}]
    client.converse(modelId=NOVA_MICRO, messages=messages, toolConfig=first_sent["toolConfig"])

    replay.assert_all_played()
    assert replay.request_json(1) == second_sent  # the recorded second turn, sent again
    first_span, second_span = t.spans()
    question = text_message("user", first_sent["messages"][0]["content"][0]["text"])
    thinking, *uses = recorded_response(CONVERSE_TOOLS, 0)["output"]["message"]["content"]
    calls = [tool_call(u["toolUse"]["toolUseId"], u["toolUse"]["name"], u["toolUse"]["input"]) for u in uses]
    assert [c["arguments"] for c in calls] == [{"location": "Seattle"}, {"location": "San Francisco"}]
    assistant = output_message(text_part(thinking["text"]), *calls, finish_reason="tool_call")
    assert_attributes(
        first_span,
        {
            **request_attributes(NOVA_MICRO),
            INPUT: [question],
            TOOL_DEFINITIONS: WEATHER_TOOL,  # type and name only by default
            OUTPUT: [assistant],
            **converse_attributes(CONVERSE_TOOLS, NOVA_MICRO, "amazon.nova-micro", 0),  # 415 in, 190 out
        },
    )
    answer_text = recorded_response(CONVERSE_TOOLS, 1)["output"]["message"]["content"][0]["text"]
    assert_attributes(
        second_span,
        {
            **request_attributes(NOVA_MICRO),
            INPUT: [
                question,
                replayed(assistant),
                {
                    "role": "user",  # Converse carries tool results in a user message
                    "parts": [
                        tool_result(c["id"], {"weather": w})  # one JSON block: the JSON itself
                        for c, w in zip(calls, weather.values(), strict=True)
                    ],
                },
            ],
            TOOL_DEFINITIONS: WEATHER_TOOL,
            OUTPUT: [output_message(text_part(answer_text))],
            **converse_attributes(CONVERSE_TOOLS, NOVA_MICRO, "amazon.nova-micro", 1),  # 553 in, 59 out
        },
    )


def test_bedrock_converse_tool_definitions_schemas_opt_in(instrument):
    t = instrument(capture_content=True, capture_tool_schemas=True)
    sent = recorded_request(CONVERSE_TOOLS, 0)
    client, _ = bedrock_client(BEDROCK / CONVERSE_TOOLS, interactions=[0])

    client.converse(modelId=NOVA_MICRO, **sent)

    spec = sent["toolConfig"]["tools"][0]["toolSpec"]
    definitions = json.loads(the_span(t, f"chat {NOVA_MICRO}").attributes[TOOL_DEFINITIONS])
    assert definitions == [
        {
            "type": "function",
            "name": spec["name"],
            "description": spec["description"],
            "parameters": spec["inputSchema"]["json"],
        }
    ]


# === 2. converse_stream ===========================================================================


@CAPTURE
def test_bedrock_converse_stream(instrument, capture_content):
    expected_events = sdk_converse_events(CONVERSE_STREAM, TITAN)
    assert expected_events == recorded_converse_events(CONVERSE_STREAM)
    t = instrument(capture_content=capture_content)
    client, replay = bedrock_client(BEDROCK / CONVERSE_STREAM)

    result = client.converse_stream(modelId=TITAN, **recorded_request(CONVERSE_STREAM))

    stream = result["stream"]
    assert isinstance(stream, EventStream)  # still one, to isinstance
    assert t.spans() == []  # the span stays open while the stream is read
    events = list(stream)
    assert events == expected_events  # delivered unchanged, in order
    replay.assert_all_played()
    [delta] = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    [stop] = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    [metadata] = [e["metadata"] for e in events if "metadata" in e]
    assert (stop, metadata["usage"]) == (
        "max_tokens",
        {"inputTokens": 8, "outputTokens": 10, "totalTokens": 18},
    )
    assert_streamed(
        the_span(t, f"chat {TITAN}"),
        {
            **request_attributes(TITAN, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
            "gen_ai.response.finish_reasons": [stop],  # from messageStop
            REQUEST_ID: request_id(CONVERSE_STREAM),
            **usage("amazon.titan-text-lite", 8, 10),  # from metadata, the last event
            **(
                {INPUT: SAY_THIS, OUTPUT: [output_message(text_part(delta), finish_reason="length")]}
                if capture_content
                else {}
            ),
        },
        chunks=len(expected_events),
    )


def test_bedrock_converse_stream_tool_use_input_reassembled(instrument):
    delivered = sdk_converse_events(CONVERSE_STREAM_TOOLS, CLAUDE_3_SONNET)
    t = instrument(capture_content=True)
    sent = recorded_request(CONVERSE_STREAM_TOOLS)
    expected_events = recorded_converse_events(CONVERSE_STREAM_TOOLS)
    pieces = [e["contentBlockDelta"]["delta"] for e in expected_events if "contentBlockDelta" in e]
    fragments = [p["toolUse"]["input"] for p in pieces if "toolUse" in p]
    assert len(fragments) == 5  # the tool input really arrives in pieces
    [start] = [
        e["contentBlockStart"]["start"]["toolUse"] for e in expected_events if "contentBlockStart" in e
    ]
    client, _ = bedrock_client(BEDROCK / CONVERSE_STREAM_TOOLS)

    events = list(client.converse_stream(modelId=CLAUDE_3_SONNET, **sent)["stream"])

    assert events == delivered  # as the SDK delivers them uninstrumented
    text = "".join(p["text"] for p in pieces if "text" in p)
    counts = expected_events[-1]["metadata"]["usage"]
    assert counts == {"inputTokens": 236, "outputTokens": 58, "serverToolUsage": {}, "totalTokens": 294}
    assert_streamed(
        the_span(t, f"chat {CLAUDE_3_SONNET}"),
        {
            **request_attributes(CLAUDE_3_SONNET, **params(max_tokens=300, temperature=0.5)),
            "gen_ai.request.stream": True,
            INPUT: [text_message("user", "What is the weather in Barcelona?")],
            TOOL_DEFINITIONS: [{"type": "function", "name": "get_weather"}],
            OUTPUT: [
                output_message(
                    text_part(text),
                    # the input fragments joined and parsed into an arguments object
                    tool_call(start["toolUseId"], "get_weather", json.loads("".join(fragments))),
                    finish_reason="tool_call",
                )
            ],
            "gen_ai.response.finish_reasons": ["tool_use"],
            REQUEST_ID: request_id(CONVERSE_STREAM_TOOLS),
            **usage("claude-3-sonnet", 236, 58),  # anthropic.claude-3-sonnet-…-v1:0 prices as claude-3-sonnet
        },
        chunks=len(expected_events),
    )
    assert json.loads("".join(fragments)) == {"location": "Barcelona"}


def test_bedrock_converse_stream_closed_early(instrument):
    t = instrument(capture_content=True)
    client, _ = bedrock_client(BEDROCK / CONVERSE_STREAM)

    stream = client.converse_stream(modelId=TITAN, **recorded_request(CONVERSE_STREAM))["stream"]
    first = next(iter(stream))
    stream.close()

    assert first == {"messageStart": {"role": "assistant"}}
    assert_streamed(
        the_span(t, f"chat {TITAN}"),  # close() ended it, once
        {
            **request_attributes(TITAN, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
            INPUT: SAY_THIS,
            # nothing of the reply arrived and it never finished: no parts, no finish reason, no usage
            OUTPUT: [output_message(finish_reason="")],
            REQUEST_ID: request_id(CONVERSE_STREAM),
        },
        chunks=1,
    )


def test_bedrock_converse_stream_error_event(instrument):
    t = instrument(capture_content=True)
    client, _ = answering_client(
        answer(
            200,
            frame("messageStart", {"role": "assistant"})
            + frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Par"}})
            + frame("modelStreamErrorException", {"message": "The model stopped."}, "exception"),
        )
    )

    stream = client.converse_stream(modelId=TITAN, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as raised:
        for event in stream["stream"]:
            received.append(event)

    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert len(received) == 2
    span = the_span(t, f"chat {TITAN}", StatusCode.ERROR)
    assert_streamed(
        span,
        {
            **request_attributes(TITAN),
            "gen_ai.request.stream": True,
            INPUT: [text_message("user", "Hi")],
            OUTPUT: [output_message(text_part("Par"), finish_reason="")],  # what arrived before the error
            REQUEST_ID: "11111111-2222-3333-4444-555555555555",
            "error.type": "modelStreamErrorException",  # the provider error code, not the class
        },
        chunks=2,
    )
    assert [e.name for e in span.events] == ["exception"]


# === 3. invoke_model ==============================================================================


def assert_body_unchanged(result: dict[str, Any], recorded: bytes) -> None:
    """The user's body is a StreamingBody still holding every recorded byte, read as usual."""
    body = result["body"]
    assert type(body) is StreamingBody
    assert body.read() == recorded
    assert body.read() == b""  # consumed, as a read body is


@CAPTURE
def test_bedrock_invoke_model_anthropic(instrument, capture_content):
    t = instrument(capture_content=capture_content)
    sent = recorded_request(INVOKE)
    body = recorded_response(INVOKE)
    client, replay = bedrock_client(BEDROCK / INVOKE)

    result = client.invoke_model(modelId=CLAUDE_V2, body=body_of(INVOKE))

    replay.assert_all_played()
    assert result["contentType"] == "application/json"
    assert_body_unchanged(result, load_cassette(BEDROCK / INVOKE).interactions[0].response.content())
    span = the_span(t, f"chat {CLAUDE_V2}")
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop_sequences"]) == (
        10,
        0.8,
        1,
        ["|"],
    )
    counts = body["usage"]
    assert PRICES.resolve(CLAUDE_V2) == PRICES.resolve(body["model"]) == "claude-2.0"
    assert_attributes(
        span,
        {
            **request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.response.id": body["id"],
            "gen_ai.response.model": body["model"],  # what Anthropic's body says answered: claude-2.0
            "gen_ai.response.finish_reasons": [body["stop_reason"]],
            REQUEST_ID: request_id(INVOKE),
            **usage("claude-2.0", counts["input_tokens"], counts["output_tokens"]),  # 14 in, 10 out
            **(
                {
                    INPUT: SAY_THIS,
                    OUTPUT: [output_message(text_part(body["content"][0]["text"]), finish_reason="length")],
                }
                if capture_content
                else {}
            ),
        },
    )
    if not capture_content:
        assert_no_content(span)


def test_bedrock_invoke_model_body_readable_every_way(instrument):
    instrument()
    recorded = load_cassette(BEDROCK / INVOKE).interactions[0].response.content()

    def fresh() -> StreamingBody:
        client, _ = bedrock_client(BEDROCK / INVOKE)
        return client.invoke_model(modelId=CLAUDE_V2, body=body_of(INVOKE))["body"]

    assert b"".join(fresh().iter_chunks(7)) == recorded
    assert list(fresh().iter_lines()) == recorded.splitlines()
    with fresh() as raw:  # StreamingBody's context manager hands out the raw stream
        assert raw.read() == recorded
    body = fresh()
    assert body.read(5) + body.read() == recorded
    body.close()


def test_bedrock_invoke_model_cohere_usage_from_headers(instrument):
    t = instrument(capture_content=True)
    sent = recorded_request(INVOKE_COHERE)
    body = recorded_response(INVOKE_COHERE)
    assert "meta" not in body  # no usage in Command R's body on Bedrock: the headers have it
    recorded = load_cassette(BEDROCK / INVOKE_COHERE).interactions[0].response
    counts = [int(recorded.header(f"X-Amzn-Bedrock-{k}-Token-Count") or 0) for k in ("Input", "Output")]
    assert counts == [5, 10]
    client, _ = bedrock_client(BEDROCK / INVOKE_COHERE)

    result = client.invoke_model(modelId=COMMAND_R, body=body_of(INVOKE_COHERE))

    assert_body_unchanged(result, recorded.content())
    assert PRICES.resolve(COMMAND_R) == "command-r"
    assert_attributes(
        the_span(t, f"chat {COMMAND_R}"),
        {
            # Command R's p and k are top_p and top_k
            **request_attributes(
                COMMAND_R, **params(max_tokens=10, temperature=0.8, top_p=sent["p"], stop=["|"])
            ),
            INPUT: [text_message("user", sent["message"])],
            OUTPUT: [output_message(text_part(body["text"]), finish_reason="length")],
            "gen_ai.response.id": body["response_id"],
            "gen_ai.response.finish_reasons": ["MAX_TOKENS"],
            REQUEST_ID: request_id(INVOKE_COHERE),
            **usage("command-r", *counts),
        },
    )


def test_bedrock_invoke_model_tool_use_two_turns_inference_profile(instrument):
    t = instrument(capture_content=True)
    first_sent = recorded_request(INVOKE_TOOLS, 0)
    first_body = recorded_response(INVOKE_TOOLS, 0)
    second_body = recorded_response(INVOKE_TOOLS, 1)
    client, replay = bedrock_client(BEDROCK / INVOKE_TOOLS)
    weather = {"Seattle": "50 degrees and raining", "San Francisco": "70 degrees and sunny"}

    first = json.loads(
        client.invoke_model(modelId=SONNET_PROFILE, body=json.dumps(first_sent))["body"].read()
    )
    answers = [
        {"type": "tool_result", "tool_use_id": b["id"], "content": weather[b["input"]["location"]]}
        for b in first["content"]
        if b["type"] == "tool_use"
    ]
    messages = [
        *first_sent["messages"],
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": answers},
    ]
    client.invoke_model(modelId=SONNET_PROFILE, body=json.dumps({**first_sent, "messages": messages}))

    replay.assert_all_played()
    assert replay.request_json(1) == recorded_request(INVOKE_TOOLS, 1)
    # The inference profile prices as its model, through the table's Bedrock spelling rules.
    assert PRICES.resolve(SONNET_PROFILE) == PRICES.resolve(first_body["model"]) == "claude-3-5-sonnet"
    first_span, second_span = t.spans()
    question = text_message("user", first_sent["messages"][0]["content"][0]["text"])
    uses = [b for b in first_body["content"] if b["type"] == "tool_use"]
    reply = output_message(
        text_part(first_body["content"][0]["text"]),
        *(tool_call(u["id"], u["name"], u["input"]) for u in uses),
        finish_reason="tool_call",
    )
    response = {
        "gen_ai.response.model": "claude-3-5-sonnet-20240620",
        REQUEST_ID: request_id(INVOKE_TOOLS, 0),
    }
    assert_attributes(
        first_span,
        {
            **request_attributes(SONNET_PROFILE, **params(max_tokens=1000)),
            INPUT: [question],
            TOOL_DEFINITIONS: WEATHER_TOOL,
            OUTPUT: [reply],
            "gen_ai.response.id": first_body["id"],
            "gen_ai.response.finish_reasons": ["tool_use"],
            **response,
            **usage("claude-3-5-sonnet", 392, 135),
        },
    )
    assert_attributes(
        second_span,
        {
            **request_attributes(SONNET_PROFILE, **params(max_tokens=1000)),
            INPUT: [
                question,
                replayed(reply),
                {
                    "role": "user",
                    "parts": [tool_result(u["id"], weather[u["input"]["location"]]) for u in uses],
                },
            ],
            TOOL_DEFINITIONS: WEATHER_TOOL,
            OUTPUT: [output_message(text_part(second_body["content"][0]["text"]))],
            "gen_ai.response.id": second_body["id"],
            "gen_ai.response.finish_reasons": ["end_turn"],
            **response,
            REQUEST_ID: request_id(INVOKE_TOOLS, 1),
            **usage("claude-3-5-sonnet", 604, 146),
        },
    )


def test_bedrock_invoke_model_prompt_caching_write_then_read(instrument):
    t = instrument()
    sent = recorded_request(INVOKE_CACHE)
    client, _ = bedrock_client(BEDROCK / INVOKE_CACHE)

    for _ in range(2):
        client.invoke_model(modelId=HAIKU, body=json.dumps(sent))

    write_span, read_span = t.spans()
    attributes = request_attributes(
        HAIKU, **params(max_tokens=50, temperature=0.1, top_p=0.1, top_k=250, stop=["stop"])
    )
    for span, index in ((write_span, 0), (read_span, 1)):
        body = recorded_response(INVOKE_CACHE, index)
        counts = body["usage"]
        headers = load_cassette(BEDROCK / INVOKE_CACHE).interactions[index].response
        # Bedrock's headers say the same as Anthropic's body
        assert (
            int(headers.header("X-Amzn-Bedrock-Cache-Write-Input-Token-Count") or -1)
            == counts["cache_creation_input_tokens"]
        )
        assert_attributes(
            span,
            {
                **attributes,
                "gen_ai.response.id": body["id"],
                "gen_ai.response.model": body["model"],
                "gen_ai.response.finish_reasons": ["max_tokens"],
                REQUEST_ID: request_id(INVOKE_CACHE, index),
                # 4 fresh input tokens; 18131 written to the cache first (at 1.25x), then read (at 0.1x)
                **usage(
                    "claude-3-5-haiku",
                    counts["input_tokens"],
                    counts["output_tokens"],
                    read=counts["cache_read_input_tokens"],
                    write=counts["cache_creation_input_tokens"],
                ),
            },
        )
    assert (write_span.attributes[CACHE_WRITE], read_span.attributes[CACHE_READ]) == (18131, 18131)
    assert write_span.attributes["gen_ai.usage.input_tokens"] == 4 + 18131


def test_bedrock_metrics_token_usage_includes_cache_tokens(instrument):
    t = instrument()
    client, _ = bedrock_client(BEDROCK / INVOKE_CACHE, interactions=[0])

    client.invoke_model(modelId=HAIKU, body=body_of(INVOKE_CACHE))

    points = metric_points(t.reader)
    labels = {**request_attributes(HAIKU), "gen_ai.response.model": "claude-3-5-haiku-20241022"}
    assert_token_usage(points, labels, 4 + 18131, 50)
    [duration] = points[sc.METRIC_OPERATION_DURATION]
    assert dict(duration.attributes) == labels
    [spent] = points[sc.METRIC_COST]
    assert spent.sum == pytest.approx(
        cost("claude-3-5-haiku", input_tokens=4, output_tokens=50, cache_write=18131)[
            sc.GEN_AI_USAGE_COST_AMOUNT
        ]
    )


def test_bedrock_invoke_model_body_read_failure_reaches_the_user_unchanged(instrument):
    data = json.dumps(recorded_response(INVOKE)).encode()
    # The body is cut short of its content-length: reading it fails, as a connection broken mid-body does.
    cut = answer(200, data, {"content-length": str(len(data) + 10)})

    def read_body() -> BaseException:
        client, _ = answering_client(cut)
        body = client.invoke_model(modelId=CLAUDE_V2, body=body_of(INVOKE))["body"]
        with pytest.raises(botocore.exceptions.BotoCoreError) as raised:
            body.read()
        return raised.value

    uninstrumented = read_body()
    t = instrument()

    error = read_body()

    # the SDK's own error, met where the user would have met it: reading the body
    assert (type(error), str(error)) == (type(uninstrumented), str(uninstrumented))
    assert_attributes(
        the_span(t, f"chat {CLAUDE_V2}"),  # ended, without the response it could not read
        {
            **request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            REQUEST_ID: "11111111-2222-3333-4444-555555555555",
        },
    )


# === 4. invoke_model_with_response_stream =========================================================


@CAPTURE
def test_bedrock_invoke_model_stream(instrument, capture_content):
    t = instrument(capture_content=capture_content)
    chunks = recorded_chunks(INVOKE_STREAM)
    events = [json.loads(c) for c in chunks]
    assert len(events) == 15  # with content off only the first and the last 4 are kept: enough here
    start, delta = events[0]["message"], events[-2]
    client, _ = bedrock_client(BEDROCK / INVOKE_STREAM)

    result = client.invoke_model_with_response_stream(modelId=CLAUDE_V2, body=body_of(INVOKE_STREAM))

    assert isinstance(result["body"], EventStream)
    assert [e["chunk"]["bytes"] for e in result["body"]] == chunks  # delivered unchanged
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert (start["usage"], delta["usage"]) == (
        {"input_tokens": 14, "output_tokens": 1},
        {"output_tokens": 10},
    )
    assert_streamed(
        the_span(t, f"chat {CLAUDE_V2}"),
        {
            **request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
            "gen_ai.response.id": start["id"],
            "gen_ai.response.model": start["model"],
            "gen_ai.response.finish_reasons": ["max_tokens"],  # from message_delta
            REQUEST_ID: request_id(INVOKE_STREAM),
            # input from message_start, output from message_delta (cumulative)
            **usage("claude-2.0", 14, 10),
            **(
                {INPUT: SAY_THIS, OUTPUT: [output_message(text_part(text), finish_reason="length")]}
                if capture_content
                else {}
            ),
        },
        chunks=len(chunks),
    )


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_bedrock_invoke_model_stream_left_early(instrument, how):
    t = instrument()
    start = json.loads(recorded_chunks(INVOKE_STREAM)[0])["message"]
    client, _ = bedrock_client(BEDROCK / INVOKE_STREAM)

    def read_one() -> Any:
        result = client.invoke_model_with_response_stream(modelId=CLAUDE_V2, body=body_of(INVOKE_STREAM))
        first = next(iter(result["body"]))
        if how == "closed":
            result["body"].close()
        return first  # the stream is dropped with `result`

    first = read_one()

    assert json.loads(first["chunk"]["bytes"])["type"] == "message_start"
    span = the_span(t, f"chat {CLAUDE_V2}")  # ended once: by close(), or when the stream was collected
    assert_streamed(
        span,
        {
            **request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
            "gen_ai.response.id": start["id"],
            "gen_ai.response.model": start["model"],
            REQUEST_ID: request_id(INVOKE_STREAM),
            **usage("claude-2.0", 14, 1),  # the counts message_start reported so far; no finish reason
            **({"llmtrace.stream.abandoned": True} if how == "dropped" else {}),
        },
        chunks=1,
    )


# === 5. errors and retries ========================================================================


def test_bedrock_error_validation_exception(instrument):
    t = instrument()
    client, _ = bedrock_client(BEDROCK / CONVERSE_ERROR)

    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.converse(modelId="does-not-exist", **recorded_request(CONVERSE_ERROR))

    error = raised.value
    assert error.response["Error"] == {
        "Code": "ValidationException",
        "Message": recorded_response(CONVERSE_ERROR)["message"],
    }
    span = the_span(t, "chat does-not-exist", StatusCode.ERROR)
    # error.type is botocore's error code: the class botocore makes for it is named after it
    assert_attributes(
        span, {**request_attributes("does-not-exist"), "error.type": error.response["Error"]["Code"]}
    )
    assert_error_recorded(t, span, error, request_attributes("does-not-exist"))


def _no_sleep(monkeypatch) -> list[float]:
    """botocore's backoff sleeps (endpoint.py: time.sleep between attempts), recorded, not slept."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


def _unavailable(request: Any) -> Any:
    return answer(503, {"message": "try again"}, {"x-amzn-ErrorType": "ServiceUnavailableException"})(request)


def _throttled(request: Any) -> Any:
    return answer(429, {"message": "Too many requests"}, {"x-amzn-ErrorType": "ThrottlingException"})(request)


def test_bedrock_retries_are_one_span(instrument, monkeypatch):
    t = instrument()
    slept = _no_sleep(monkeypatch)
    client, replay = bedrock_client(BEDROCK / CONVERSE)
    sent_at: list[int] = []

    replay.before.append(_unavailable)  # the first attempt is answered 503, the retry from the recording
    client.meta.events.register("before-send.bedrock-runtime", lambda **kw: sent_at.append(time.time_ns()))

    result = client.converse(modelId=TITAN, **recorded_request(CONVERSE))

    assert result["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(replay.requests) == 2 and len(slept) == 1  # botocore retried once, after a backoff
    span = the_span(t, f"chat {TITAN}")  # one span for the call, both attempts inside it
    assert span.start_time <= min(sent_at) and max(sent_at) <= span.end_time
    assert span.attributes["gen_ai.usage.output_tokens"] == 10


def test_bedrock_retries_exhausted_are_one_failed_span(instrument, monkeypatch):
    t = instrument()
    _no_sleep(monkeypatch)
    client, sent = answering_client(
        _throttled, _throttled, config=Config(retries={"total_max_attempts": 2, "mode": "standard"})
    )

    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=TITAN, messages=[{"role": "user", "content": [{"text": "Hi"}]}])

    assert len(sent) == 2  # both attempts, one span
    span = the_span(t, f"chat {TITAN}", StatusCode.ERROR)
    assert span.attributes["error.type"] == "ThrottlingException"


# === 6. only the four Bedrock runtime operations are traced =======================================


def test_bedrock_other_calls_pass_through(instrument):
    t = instrument()
    s3, control = make_client("s3"), make_client("bedrock")  # other services, through the same method
    with Stubber(s3) as s3_stub, Stubber(control) as control_stub:
        s3_stub.add_response("list_buckets", {"Buckets": []})
        control_stub.add_response("list_foundation_models", {"modelSummaries": []})
        assert s3.list_buckets()["Buckets"] == []
        assert control.list_foundation_models()["modelSummaries"] == []
    runtime, sent = answering_client(answer(200, {"action": "NONE", "outputs": [], "assessments": []}))
    if hasattr(runtime, "apply_guardrail"):  # botocore >= 1.34.143: a runtime operation llmtrace leaves alone
        runtime.apply_guardrail(guardrailIdentifier="gr-1", guardrailVersion="1", source="INPUT", content=[])
        assert len(sent) == 1

    assert t.spans() == []


def test_bedrock_uninstrument_restores_botocore_exactly(instrument):
    before = patch_targets(bedrock_instrumentor.PATCHES)
    assert list(before) == ["botocore.client:BaseClient._make_api_call"]

    t = instrument()
    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    assert again is t.handle
    assert [p for p in t.handle.patched if p.startswith("botocore")] == list(before)
    assert_wrapped_once(before)  # even after a second instrument()

    t.handle.uninstrument()

    assert_restored(before)
    client, _ = bedrock_client(BEDROCK / CONVERSE)
    client.converse(modelId=TITAN, **recorded_request(CONVERSE))
    assert t.spans() == []


def test_bedrock_clients_made_before_instrument_are_traced(instrument):
    client, _ = bedrock_client(BEDROCK / CONVERSE)  # botocore built its class before llmtrace patched

    t = instrument()
    client.converse(modelId=TITAN, **recorded_request(CONVERSE))

    the_span(t, f"chat {TITAN}")


# === 7. containment: llmtrace's failures never reach the caller ==================================


def test_bedrock_containment_response_mapper_fails(contained, monkeypatch, caplog):
    t = contained()
    monkeypatch.setattr(models, "response_of", boom)  # called by invoke_response, after the body is read
    client, _ = bedrock_client(BEDROCK / INVOKE)

    result = client.invoke_model(modelId=CLAUDE_V2, body=body_of(INVOKE))

    assert_body_unchanged(result, load_cassette(BEDROCK / INVOKE).interactions[0].response.content())
    span = the_span(t, f"chat {CLAUDE_V2}")  # still ended, once, without the response side
    assert_attributes(
        span, request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"]))
    )
    assert_logged(caplog, "finish")


def test_bedrock_containment_request_mapper_fails(contained, monkeypatch, caplog):
    delivered = sdk_converse_events(CONVERSE_STREAM, TITAN)
    t = contained()
    monkeypatch.setattr(bedrock_instrumentor, "_request", boom)  # called by every request mapper
    client, replay = bedrock_client(BEDROCK / CONVERSE_STREAM)

    events = list(client.converse_stream(modelId=TITAN, **recorded_request(CONVERSE_STREAM))["stream"])

    assert events == delivered
    replay.assert_all_played()
    assert t.spans() == []  # passed straight through
    assert_logged(caplog, "start")


@pytest.mark.parametrize("failing", ["add", "result"])
def test_bedrock_containment_stream_accumulator_fails(contained, monkeypatch, caplog, failing):
    t = contained()
    monkeypatch.setattr(bedrock_instrumentor.InvokeAccumulator, failing, boom)
    chunks = recorded_chunks(INVOKE_STREAM)
    client, _ = bedrock_client(BEDROCK / INVOKE_STREAM)

    result = client.invoke_model_with_response_stream(modelId=CLAUDE_V2, body=body_of(INVOKE_STREAM))

    assert [e["chunk"]["bytes"] for e in result["body"]] == chunks  # every event delivered, unchanged
    assert_streamed(
        the_span(t, f"chat {CLAUDE_V2}"),  # ended once, with what llmtrace could still say
        {
            **request_attributes(CLAUDE_V2, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
            **({REQUEST_ID: request_id(INVOKE_STREAM)} if failing == "add" else {}),
        },
        chunks=len(chunks),
    )
    assert_logged(caplog, f"stream.{failing}")


def test_bedrock_containment_stream_proxy_fails(contained, monkeypatch, caplog):
    delivered = sdk_converse_events(CONVERSE_STREAM, TITAN)
    t = contained()
    monkeypatch.setattr(bedrock_instrumentor.ConverseAccumulator, "__init__", boom)
    client, _ = bedrock_client(BEDROCK / CONVERSE_STREAM)

    result = client.converse_stream(modelId=TITAN, **recorded_request(CONVERSE_STREAM))

    assert type(result["stream"]) is EventStream  # botocore's own stream, left in place
    assert list(result["stream"]) == delivered
    span = the_span(t, f"chat {TITAN}")  # ended when the proxy could not be made
    assert_attributes(
        span,
        {
            **request_attributes(TITAN, **params(max_tokens=10, temperature=0.8, top_p=1.0, stop=["|"])),
            "gen_ai.request.stream": True,
        },
    )
    assert_logged(caplog, "finish")


# === 8. the model families InvokeModel serves, by their documented body shapes ====================
#
# No recording exists for these families; each is served a body in its documented shape through the
# real client (``answer``), with Bedrock's invocation-metrics headers where the body has no usage.


def tokens(fresh: int, output: int) -> dict[str, str]:
    """Bedrock's invocation-metrics headers."""
    return {"x-amzn-bedrock-input-token-count": str(fresh), "x-amzn-bedrock-output-token-count": str(output)}


HI = [text_message("user", "Hi")]
FAMILIES = [
    pytest.param(
        "amazon.titan-text-express-v1",
        {
            "inputText": "Hi",
            "textGenerationConfig": {
                "maxTokenCount": 50,
                "temperature": 0.5,
                "topP": 0.9,
                "stopSequences": ["User:"],
            },
        },
        {
            "inputTextTokenCount": 3,
            "results": [{"tokenCount": 4, "outputText": "Hello!", "completionReason": "FINISH"}],
        },
        {},
        {
            **request_attributes(
                "amazon.titan-text-express-v1",
                "text_completion",  # a prompt, not a chat
                **params(max_tokens=50, temperature=0.5, top_p=0.9, stop=["User:"]),
            ),
            INPUT: HI,
            OUTPUT: [output_message(text_part("Hello!"))],  # FINISH is "stop"
            "gen_ai.response.finish_reasons": ["FINISH"],
            **usage("amazon.titan-text-express", 3, 4),  # inputTextTokenCount, results[].tokenCount
        },
        id="titan",
    ),
    pytest.param(
        "us.amazon.nova-lite-v1:0",
        {
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {
                "maxTokens": 100,
                "temperature": 0.7,
                "topP": 0.9,
                "topK": 20,
                "stopSequences": ["END"],
            },
        },
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 5,
                "outputTokens": 3,
                "totalTokens": 8,
                "cacheReadInputTokenCount": 0,
                "cacheWriteInputTokenCount": 0,
            },
        },
        {},
        {
            **request_attributes(
                "us.amazon.nova-lite-v1:0",
                **params(max_tokens=100, temperature=0.7, top_p=0.9, top_k=20, stop=["END"]),
            ),
            SYSTEM: [text_part("Be brief.")],
            INPUT: HI,
            OUTPUT: [output_message(text_part("Hello!"))],
            "gen_ai.response.finish_reasons": ["end_turn"],
            **usage("amazon.nova-lite", 5, 3, read=0, write=0),  # Nova spells the cache counts ...Count
        },
        id="nova",
    ),
    pytest.param(
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": "<|begin_of_text|>Hi", "max_gen_len": 64, "temperature": 0.5, "top_p": 0.9},
        {
            "generation": "Hello!",
            "prompt_token_count": 12,
            "generation_token_count": 3,
            "stop_reason": "stop",
        },
        {},
        {
            **request_attributes(
                "meta.llama3-8b-instruct-v1:0",
                "text_completion",
                **params(max_tokens=64, temperature=0.5, top_p=0.9),
            ),
            INPUT: [text_message("user", "<|begin_of_text|>Hi")],
            OUTPUT: [output_message(text_part("Hello!"))],
            "gen_ai.response.finish_reasons": ["stop"],
            **usage("meta.llama3-8b-instruct", 12, 3),  # prompt_token_count, generation_token_count
        },
        id="llama",
    ),
    pytest.param(
        "mistral.mistral-7b-instruct-v0:2",
        {
            "prompt": "<s>[INST] Hi [/INST]",
            "max_tokens": 64,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 50,
            "stop": ["</s>"],
        },
        {"outputs": [{"text": "Hello!", "stop_reason": "length"}]},
        tokens(9, 64),
        {
            **request_attributes(
                "mistral.mistral-7b-instruct-v0:2",
                "text_completion",
                **params(max_tokens=64, temperature=0.5, top_p=0.9, top_k=50, stop=["</s>"]),
            ),
            INPUT: [text_message("user", "<s>[INST] Hi [/INST]")],
            OUTPUT: [output_message(text_part("Hello!"), finish_reason="length")],
            "gen_ai.response.finish_reasons": ["length"],
            **usage("mistral.mistral-7b-instruct", 9, 64),  # no usage in the body: the headers
        },
        id="mistral-prompt",
    ),
    pytest.param(
        "mistral.mistral-large-2407-v1:0",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 64,
            "temperature": 0.3,
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        },
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "id": "call-1",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                            }
                        ],
                    },
                    "stop_reason": "tool_calls",
                }
            ],
        },
        tokens(20, 11),
        {
            **request_attributes("mistral.mistral-large-2407-v1:0", **params(max_tokens=64, temperature=0.3)),
            INPUT: HI,
            TOOL_DEFINITIONS: [{"type": "function", "name": "lookup"}],
            OUTPUT: [output_message(tool_call("call-1", "lookup", {"q": "x"}), finish_reason="tool_call")],
            "gen_ai.response.id": "cmpl-1",
            "gen_ai.response.finish_reasons": ["tool_calls"],
            **usage("mistral.mistral-large-2407", 20, 11),
        },
        id="mistral-chat",
    ),
    pytest.param(
        "cohere.command-text-v14",
        {"prompt": "Hi", "max_tokens": 20, "temperature": 0.5, "p": 0.9, "k": 10, "stop_sequences": ["--"]},
        {
            "id": "gen-1",
            "generations": [{"id": "g-0", "text": "Hello!", "finish_reason": "COMPLETE"}],
            "prompt": "Hi",
        },
        tokens(2, 3),
        {
            **request_attributes(
                "cohere.command-text-v14",
                "text_completion",
                **params(max_tokens=20, temperature=0.5, top_p=0.9, top_k=10, stop=["--"]),
            ),
            INPUT: HI,
            OUTPUT: [output_message(text_part("Hello!"))],
            "gen_ai.response.id": "gen-1",
            "gen_ai.response.finish_reasons": ["COMPLETE"],
            **usage("cohere.command-text", 2, 3),
        },
        id="cohere-command",
    ),
    pytest.param(
        "cohere.command-r-plus-v1:0",
        {
            "message": "And in Paris?",
            "preamble": "Be brief.",
            "max_tokens": 100,
            "chat_history": [
                {"role": "USER", "message": "Weather in Rome?"},
                {"role": "CHATBOT", "message": "Sunny."},
            ],
            "tools": [{"name": "weather", "description": "Weather now", "parameter_definitions": {}}],
        },
        {
            "response_id": "r-1",
            "generation_id": "g-1",
            "text": "",
            "finish_reason": "COMPLETE",
            "tool_calls": [{"name": "weather", "parameters": {"city": "Paris"}}],
            "meta": {"billed_units": {"input_tokens": 30, "output_tokens": 12}},
        },
        tokens(99, 99),  # Cohere's own billed_units win (semconv: report Cohere's billed counts)
        {
            **request_attributes("cohere.command-r-plus-v1:0", **params(max_tokens=100)),
            SYSTEM: [text_part("Be brief.")],
            INPUT: [
                text_message("user", "Weather in Rome?"),
                text_message("assistant", "Sunny."),
                text_message("user", "And in Paris?"),
            ],
            TOOL_DEFINITIONS: [{"type": "function", "name": "weather"}],
            OUTPUT: [output_message(tool_call(None, "weather", {"city": "Paris"}))],
            "gen_ai.response.id": "r-1",
            "gen_ai.response.finish_reasons": ["COMPLETE"],
            **usage("command-r-plus", 30, 12),
        },
        id="cohere-command-r-tools",
    ),
    pytest.param(
        "anthropic.claude-v2",
        {
            "prompt": "\n\nHuman: Hi\n\nAssistant:",
            "max_tokens_to_sample": 50,
            "temperature": 0.5,
            "top_k": 250,
            "stop_sequences": ["\n\nHuman:"],
        },
        {"completion": " Hello!", "stop_reason": "stop_sequence", "stop": "\n\nHuman:"},
        tokens(14, 4),
        {
            **request_attributes(
                "anthropic.claude-v2",
                "text_completion",
                **params(max_tokens=50, temperature=0.5, top_k=250, stop=["\n\nHuman:"]),
            ),
            INPUT: [text_message("user", "\n\nHuman: Hi\n\nAssistant:")],
            OUTPUT: [output_message(text_part(" Hello!"))],
            "gen_ai.response.finish_reasons": ["stop_sequence"],
            **usage("claude-2.0", 14, 4),  # Text Completions report no usage: the headers
        },
        id="anthropic-text-completions",
    ),
    pytest.param(
        "amazon.titan-embed-text-v2:0",
        {"inputText": "Hi", "dimensions": 256},
        {"embedding": [0.5] * 256, "inputTextTokenCount": 2},
        {},
        {
            **request_attributes("amazon.titan-embed-text-v2:0", "embeddings"),
            "gen_ai.embeddings.dimension.count": 256,
            **usage("amazon.titan-embed-text-v2", 2, None),  # input only
        },
        id="titan-embeddings",
    ),
    pytest.param(
        "cohere.embed-english-v3",
        {"texts": ["Hi"], "input_type": "search_document", "embedding_types": ["float"]},
        {
            "id": "e-1",
            "embeddings": {"float": [[0.5] * 1024]},
            "texts": ["hi"],
            "response_type": "embeddings_by_type",
        },
        {"x-amzn-bedrock-input-token-count": "1"},
        {
            **request_attributes(
                "cohere.embed-english-v3", "embeddings", **{"gen_ai.request.encoding_formats": ["float"]}
            ),
            "gen_ai.response.id": "e-1",
            "gen_ai.embeddings.dimension.count": 1024,
            **usage("cohere.embed-english-v3", 1, None),
        },
        id="cohere-embeddings",
    ),
]


@pytest.mark.parametrize(("model", "sent", "body", "headers", "expected"), FAMILIES)
def test_bedrock_invoke_model_families(instrument, model, sent, body, headers, expected):
    t = instrument(capture_content=True)
    client, requests = answering_client(answer(200, body, headers))

    # InvokeModel takes a guardrail beside the body
    result = client.invoke_model(
        modelId=model, body=json.dumps(sent), guardrailIdentifier="gr-0123abcd", guardrailVersion="DRAFT"
    )

    assert json.loads(result["body"].read()) == body
    assert json.loads(requests[0].body) == sent
    guardrail = requests[0].headers["X-Amzn-Bedrock-GuardrailIdentifier"]
    assert (guardrail.decode() if isinstance(guardrail, bytes) else guardrail) == "gr-0123abcd"
    operation = expected["gen_ai.operation.name"]
    assert_attributes(
        the_span(t, f"{operation} {model}"),
        {
            **expected,
            "aws.bedrock.guardrail.id": "gr-0123abcd",
            REQUEST_ID: "11111111-2222-3333-4444-555555555555",
        },
    )


METRICS = {
    "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 7,
        "outputTokenCount": 2,
        "invocationLatency": 100,
        "firstByteLatency": 50,
    }
}
STREAMED_FAMILIES = [
    pytest.param(
        "amazon.titan-text-express-v1",
        {"inputText": "Hi"},
        [
            {
                "outputText": "Hel",
                "index": 0,
                "totalOutputTextTokenCount": 1,
                "completionReason": None,
                "inputTextTokenCount": 7,
            },
            {
                "outputText": "lo",
                "index": 0,
                "totalOutputTextTokenCount": 2,
                "completionReason": "FINISH",
                "inputTextTokenCount": None,
                **METRICS,
            },
        ],
        "text_completion",
        "FINISH",
        "Hello",
        "amazon.titan-text-express",
        id="titan",
    ),
    pytest.param(
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": "Hi"},
        [
            {"generation": "Hel", "prompt_token_count": 7, "generation_token_count": 1, "stop_reason": None},
            {
                "generation": "lo",
                "prompt_token_count": None,
                "generation_token_count": 2,
                "stop_reason": "stop",
                **METRICS,
            },
        ],
        "text_completion",
        "stop",
        "Hello",
        "meta.llama3-8b-instruct",
        id="llama",
    ),
    pytest.param(
        "mistral.mistral-7b-instruct-v0:2",
        {"prompt": "Hi"},
        [
            {"outputs": [{"text": "Hel", "stop_reason": None}]},
            {"outputs": [{"text": "lo", "stop_reason": "stop"}], **METRICS},
        ],
        "text_completion",
        "stop",
        "Hello",
        "mistral.mistral-7b-instruct",
        id="mistral",
    ),
    pytest.param(
        "cohere.command-r-v1:0",
        {"message": "Hi"},
        [
            {"is_finished": False, "event_type": "stream-start", "generation_id": "g-1"},
            {"is_finished": False, "event_type": "text-generation", "text": "Hel"},
            {"is_finished": False, "event_type": "text-generation", "text": "lo"},
            {
                "is_finished": True,
                "event_type": "stream-end",
                "finish_reason": "COMPLETE",
                "response": {
                    "response_id": "r-1",
                    "generation_id": "g-1",
                    "text": "Hello",
                    "finish_reason": "COMPLETE",
                },
                **METRICS,
            },
        ],
        "chat",
        "COMPLETE",
        "Hello",  # the whole response stream-end carries
        "command-r",
        id="cohere-command-r",
    ),
    pytest.param(
        "amazon.nova-micro-v1:0",
        {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "end_turn"}},
            {
                "metadata": {"usage": {"inputTokens": 7, "outputTokens": 2}, "metrics": {}, "trace": {}},
                **METRICS,
            },
        ],
        "chat",
        "end_turn",
        "Hello",
        "amazon.nova-micro",
        id="nova",
    ),
    pytest.param(
        "anthropic.claude-v2",
        {"prompt": "Hi"},
        [
            {"completion": " Hel", "stop_reason": None, "stop": None},
            {"completion": "lo", "stop_reason": "stop_sequence", "stop": "\n\nHuman:", **METRICS},
        ],
        "text_completion",
        "stop_sequence",
        " Hello",
        "claude-2.0",
        id="anthropic-text-completions",
    ),
]


@CAPTURE
@pytest.mark.parametrize(
    ("model", "sent", "events", "operation", "stop", "text", "price_key"), STREAMED_FAMILIES
)
def test_bedrock_invoke_model_stream_families(
    instrument, capture_content, model, sent, events, operation, stop, text, price_key
):
    t = instrument(capture_content=capture_content)
    client, _ = answering_client(answer(200, b"".join(chunk(e) for e in events)))

    result = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(sent))

    assert [json.loads(e["chunk"]["bytes"]) for e in result["body"]] == events
    assert_streamed(
        the_span(t, f"{operation} {model}"),
        {
            **request_attributes(model, operation, **{"gen_ai.request.stream": True}),
            "gen_ai.response.finish_reasons": [stop],
            REQUEST_ID: "11111111-2222-3333-4444-555555555555",
            **usage(price_key, 7, 2),  # the body's own counts, or the invocation metrics of the last chunk
            **({"gen_ai.response.id": "r-1"} if model.startswith("cohere") else {}),
            **({INPUT: HI, OUTPUT: [output_message(text_part(text))]} if capture_content else {}),
        },
        chunks=len(events),
    )


# === 9. pure mappers ==============================================================================


def test_bedrock_converse_content_blocks_mapping_table():
    image = b"\x89PNG\r\n"
    table = [
        ({"text": "hi"}, text_part("hi")),
        (
            {"image": {"format": "png", "source": {"bytes": image}}},
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "content": base64.b64encode(image).decode(),
            },
        ),  # Converse takes raw bytes
        (
            {"image": {"format": "jpeg", "source": {"bytes": "aGk="}}},
            {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": "aGk="},
        ),  # Nova: base64
        (
            {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v.mp4"}}}},
            {"type": "uri", "modality": "video", "mime_type": "video/mp4", "uri": "s3://b/v.mp4"},
        ),
        (
            {"document": {"format": "pdf", "name": "d", "source": {"bytes": b"%PDF"}}},
            {"type": "blob", "modality": "document", "mime_type": "application/pdf", "content": "JVBERg=="},
        ),
        ({"document": {"format": "txt", "name": "d", "source": {"text": "plain"}}}, text_part("plain")),
        ({"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}, tool_call("t1", "f", {"a": 1})),
        (
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "a"}, {"text": "b"}]}},
            {"type": "tool_call_response", "id": "t1", "response": "ab"},
        ),  # text blocks joined
        (
            {
                "toolResult": {
                    "toolUseId": "t1",
                    "content": [{"json": {"x": 1}}, {"text": "t"}],
                    "status": "error",
                }
            },
            {"type": "tool_call_response", "id": "t1", "response": [{"x": 1}, text_part("t")]},
        ),
        (
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
            {"type": "reasoning", "content": "hmm"},
        ),  # the signature is not content
        (
            {"reasoningContent": {"redactedContent": b"\x00"}},
            {"type": "reasoning", "content": "", "redacted": True},
        ),
        ({"guardContent": {"text": {"text": "guarded", "qualifiers": ["query"]}}}, text_part("guarded")),
        ({"citationsContent": {"content": [{"text": "cited"}], "citations": []}}, text_part("cited")),
        ({"cachePoint": {"type": "default"}}, None),  # no content
        ({"somethingNew": {}}, {"type": "somethingNew"}),
    ]
    for block, part in table:
        assert content.block_part(block) == part, block


def test_bedrock_usage_input_includes_the_cache_counts_unless_already_in_it():
    # Bedrock reports the uncached input apart from the cache reads and writes: input = their sum ...
    assert content.converse_usage(
        {
            "inputTokens": 11,
            "outputTokens": 310,
            "totalTokens": 3860,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 3539,
        }
    ) == content.Usage(
        input_tokens=3550, output_tokens=310, cache_read_input_tokens=0, cache_write_input_tokens=3539
    )
    # ... unless the total shows the input already includes them.
    assert content.converse_usage(
        {"inputTokens": 3550, "outputTokens": 310, "totalTokens": 3860, "cacheReadInputTokens": 3539}
    ) == content.Usage(input_tokens=3550, output_tokens=310, cache_read_input_tokens=3539)
    assert content.converse_usage({"outputTokens": 3}) == content.Usage(output_tokens=3)
    assert content.converse_usage(None) is None
    assert content.header_usage(
        {
            "x-amzn-bedrock-input-token-count": "4",
            "x-amzn-bedrock-cache-read-input-token-count": "18131",
            "x-amzn-bedrock-output-token-count": "50",
        }
    ) == content.Usage(input_tokens=18135, output_tokens=50, cache_read_input_tokens=18131)


@pytest.mark.parametrize(
    ("model", "body", "family"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", {}, "anthropic"),
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", {}, "anthropic"),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", {}, "anthropic"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
            {"anthropic_version": "bedrock-2023-05-31"},
            "anthropic",
        ),  # by the body's shape
        ("amazon.nova-pro-v1:0", {}, "nova"),
        ("amazon.titan-text-lite-v1", {}, "titan"),
        ("amazon.titan-embed-text-v2:0", {}, "embed"),
        ("cohere.embed-multilingual-v3", {}, "embed"),
        ("cohere.command-r-v1:0", {"message": "Hi"}, "cohere"),
        ("cohere.command-text-v14", {"prompt": "Hi"}, "prompt"),
        ("meta.llama3-70b-instruct-v1:0", {"prompt": "Hi"}, "prompt"),
        ("mistral.mistral-large-2407-v1:0", {"messages": [{"role": "user", "content": "Hi"}]}, "chat"),
        (
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/x",
            {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
            "nova",
        ),  # Converse-shaped blocks
        ("stability.sd3-large-v1:0", {"mode": "text-to-image"}, "other"),
    ],
)
def test_bedrock_model_family(model, body, family):
    assert models.family_of(model, body) == family
