"""LiteLLM instrumentation end to end: the real litellm package, with HTTP replayed from the openai,
anthropic and groq recordings (no LiteLLM recording exists; LiteLLM's HTTP is the providers' own).

Every test here follows the rules listed in test_openai.py's docstring. Besides:

* Two routes are exercised: the ones LiteLLM takes through the openai SDK (``openai/...``), where
  llmtrace's openai instrumentation is active too and must add no span of its own, and the ones
  LiteLLM speaks HTTP to itself (Anthropic, Groq). llmtrace instruments every installed SDK here, as
  a user's ``instrument()`` does.
* No test reaches the network: sockets refuse to connect for the whole module, and LiteLLM is told to
  use its bundled model map (``LITELLM_LOCAL_MODEL_COST_MAP``, set by ``replay_litellm``).
"""

from __future__ import annotations

import gc
import inspect
import json
import socket
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import llmtrace
from helpers import (
    ANY,
    PRICES,
    assert_attributes,
    assert_error_recorded,
    assert_logged,
    assert_streamed,
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
from replay_litellm import http_route, openai_route, raises, run, stream
from scenarios import (
    Recordings,
    assert_restored,
    assert_wrapped_once,
    patch_targets,
    run_script,
    streamed_text,
)

litellm = pytest.importorskip("litellm")
from llmtrace.instrumentors import litellm as litellm_instrumentor  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("spans_end_once", "no_network"),
    # litellm's own types and old recordings' models make it warn; not our concern here.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TESTS = Path(__file__).resolve().parent.parent
CASSETTES = TESTS / "cassettes"
OPENAI = CASSETTES / "openai"
ANTHROPIC = CASSETTES / "anthropic"
GROQ = CASSETTES / "groq"

N2 = "chat_nonstream_n2_multiple_choices.yaml"
STREAM_USAGE = "chat_stream_gpt-4_include_usage.yaml"
TOOLS_STREAM = "chat_stream_multiple_tool_calls.yaml"
NOT_FOUND = "chat_error_404_model_not_found.yaml"
EMBED_FLOAT = "embeddings_dimensions.yaml"
EMBED_BASE64 = "embeddings_encoding_format_base64.yaml"
CLAUDE = "messages_nonstream_claude-3-opus_sdk0.21.yaml"
CLAUDE_STREAM = "messages_stream_claude-3-haiku_sdk0.36.yaml"
CLAUDE_TOOLS = "messages_tool_use_claude-3-5-sonnet_sdk0.36.yaml"
CLAUDE_THINKING = "messages_thinking_claude-3-7-sonnet.yaml"
CLAUDE_THINKING_STREAM = "messages_stream_thinking_claude-3-7-sonnet.yaml"
CLAUDE_CACHING = "messages_prompt_caching_write_then_read.yaml"
GROQ_STREAM = "chat_stream_llama3-8b.yaml"

MODES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])

INPUT = sc.GEN_AI_INPUT_MESSAGES
OUTPUT = sc.GEN_AI_OUTPUT_MESSAGES
TOOL_DEFINITIONS = sc.GEN_AI_TOOL_DEFINITIONS
CONTENT_KEYS = (INPUT, OUTPUT, sc.GEN_AI_SYSTEM_INSTRUCTIONS, TOOL_DEFINITIONS)
ROUTED = sc.LLMTRACE_LITELLM_MODEL
LITELLM_COST = sc.LLMTRACE_LITELLM_RESPONSE_COST


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails: every byte must come from a recording."""

    def refuse(self: Any, address: Any) -> None:
        raise OSError(f"test tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# --- cassette contents (the oracle) --------------------------------------------------------------

OPENAI_RECORDINGS = Recordings(OPENAI)
CLAUDE_RECORDINGS = Recordings(ANTHROPIC)


def recorded(recordings: Recordings, name: str, index: int = 0) -> dict[str, Any]:
    """The recorded request's parameters, less the model (LiteLLM takes its own model string)."""
    params = dict(recordings.request(name, index))
    params.pop("model")
    return params


# --- expected attributes -------------------------------------------------------------------------


def request_attributes(
    provider: str, model: str, host: str, *, routed: str | None = None, **extra: Any
) -> dict[str, Any]:
    """What a LiteLLM span carries from the request alone."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "server.address": host,
        "server.port": 443,
    }
    if routed is not None:
        attributes[ROUTED] = routed  # the model string given to LiteLLM, when it is not the model sent
    if provider == "openai":
        attributes["openai.api.type"] = "chat_completions"
    attributes.update(extra)
    return attributes


def openai_request(model: str, routed: str | None = None, **extra: Any) -> dict[str, Any]:
    return request_attributes("openai", model, "api.openai.com", routed=routed, **extra)


def claude_request(model: str, max_tokens: int = 1024, **extra: Any) -> dict[str, Any]:
    return request_attributes(
        "anthropic",
        model,
        "api.anthropic.com",
        routed=f"anthropic/{model}",
        **{"gen_ai.request.max_tokens": max_tokens, **extra},
    )


def answering_model(chunks: list[Any], recorded_model: str) -> str:
    """A stream's response model: the recorded (answering) one where LiteLLM hands it on with its chunks
    (newer releases, as ``provider_response_model``); older ones give only the requested name."""
    if "provider_response_model" in chunks[0]._hidden_params:
        return recorded_model
    return chunks[0].model


def litellm_cost(result: Any) -> dict[str, Any]:
    """LiteLLM's own cost of a response, as llmtrace keeps it (absent where LiteLLM has no price)."""
    value = result._hidden_params.get("response_cost")
    return {} if value is None else {LITELLM_COST: value}


def claude_usage(price_key: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The usage attributes and cost of a recorded Anthropic ``usage``: LiteLLM adds the cache reads and
    writes to the input (as semconv does) and reports both cache counts, 0 when there were none; the
    thinking count is not taken from LiteLLM for Claude (see test_litellm_claude_thinking)."""
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    return {
        "gen_ai.usage.input_tokens": usage["input_tokens"] + read + write,
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": read,
        "gen_ai.usage.cache_write.input_tokens": write,
        **cost(
            price_key,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_read=read,
            cache_write=write,
        ),
    }


def claude_stream_usage(
    chunks: list[Any], price_key: str, start: dict[str, Any], output_tokens: int, prompt: str, text: str
) -> dict[str, Any]:
    """The usage attributes of a Claude stream: message_start's input and message_delta's output, as
    `claude_usage`, where LiteLLM hands them on. Older LiteLLM loses message_start's input count (its usage
    says 0, without cache fields) and, in async streams, hands on no usage at all: llmtrace then counts
    what is missing (4 characters a token, plus the chat framing for the prompt) and says so."""
    handed_on = chunks[-1]._hidden_params.get("usage")
    if handed_on is not None and handed_on.prompt_tokens:
        return claude_usage(price_key, {**start, "output_tokens": output_tokens})
    input_tokens = -(-len(prompt) // 4) + 4 + 3
    if handed_on is None:
        output_tokens = -(-len(text) // 4)
    return {
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        sc.LLMTRACE_USAGE_ESTIMATED: True,
        sc.LLMTRACE_USAGE_TOKENIZER: "chars/4",
        **cost(price_key, input_tokens=input_tokens, output_tokens=output_tokens),
    }


def n2_response(body: dict[str, Any]) -> dict[str, Any]:
    """The response side of a span of the N2 recording: two choices, 12 in, 24 out."""
    usage = body["usage"]
    return {
        "gen_ai.response.id": body["id"],
        "gen_ai.response.model": body["model"],  # gpt-4o-mini-2024-07-18
        "gen_ai.response.finish_reasons": ["stop", "stop"],
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "openai.response.system_fingerprint": body["system_fingerprint"],
        **cost("gpt-4o-mini", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
    }


SAY_THIS_IS_A_TEST = [{"role": "user", "content": "Say this is a test"}]
JOKE = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]


# === 1. through the openai SDK: one span, LiteLLM's, with the response's details ===================


@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
@MODES
def test_litellm_openai_route_one_span(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)
    body = OPENAI_RECORDINGS.response(N2)
    route, transport = openai_route(OPENAI / N2, is_async=is_async)

    result = run(
        is_async, "completion", model="openai/gpt-4o-mini", **recorded(OPENAI_RECORDINGS, N2), **route
    )

    assert isinstance(result, litellm.ModelResponse)
    assert result.id == body["id"]
    transport.assert_all_played()
    # llmtrace's openai instrumentation is on and the openai SDK made the call, yet this is the only span
    assert "openai.resources.chat.completions:Completions.create" in t.handle.patched
    span = the_span(t, "chat gpt-4o-mini")
    content = {
        INPUT: [text_message("user", "Say this is a test")],
        OUTPUT: [output_text(c["message"]["content"]) for c in body["choices"]],
    }
    assert_attributes(
        span,
        {
            **openai_request(
                "gpt-4o-mini", routed="openai/gpt-4o-mini", **{"gen_ai.request.choice.count": 2}
            ),
            **(content if capture_content else {}),
            **n2_response(body),
            **litellm_cost(result),  # LiteLLM's own figure, kept beside llmtrace's
        },
    )
    assert span.attributes[LITELLM_COST] == pytest.approx(span.attributes["gen_ai.usage.cost.amount"])
    if not capture_content:
        assert not any(key in span.attributes for key in CONTENT_KEYS)


def test_litellm_openai_route_is_a_stacked_openai_call(instrument):
    # Without the litellm instrumentor, the openai SDK call LiteLLM makes is traced by the openai one:
    # the single span of the test above is the suppression of that nested call, not its absence.
    t = instrument(providers=["openai"])
    body = OPENAI_RECORDINGS.response(N2)
    route, _ = openai_route(OPENAI / N2)

    run(False, "completion", model="gpt-4o-mini", **recorded(OPENAI_RECORDINGS, N2), **route)

    span = the_span(t, "chat gpt-4o-mini")
    assert span.attributes["gen_ai.response.id"] == body["id"]
    assert ROUTED not in span.attributes
    assert LITELLM_COST not in span.attributes


@MODES
def test_litellm_openai_route_stream(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = OPENAI_RECORDINGS.sse(STREAM_USAGE)
    usage = payloads[-1]["usage"]
    route, transport = openai_route(OPENAI / STREAM_USAGE, is_async=is_async)

    chunks = stream(is_async, model="gpt-4", **recorded(OPENAI_RECORDINGS, STREAM_USAGE), **route)

    transport.assert_all_played()
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == streamed_text(payloads)[0]
    )
    assert chunks[-1].usage.prompt_tokens == usage["prompt_tokens"]  # include_usage: LiteLLM's last chunk
    span = the_span(t, "chat gpt-4")
    assert_streamed(
        span,
        {
            **openai_request("gpt-4", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Say this is a test")],
            OUTPUT: [output_text(streamed_text(payloads)[0])],
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": answering_model(chunks, payloads[0]["model"]),  # gpt-4-0613
            "gen_ai.response.finish_reasons": ["stop"],  # (this recording has no system_fingerprint)
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            **cost("gpt-4", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
        },
        chunks=len(chunks),  # what LiteLLM delivered (it re-chunks: not the recorded count)
    )


@MODES
def test_litellm_openai_route_stream_tool_calls_reassembled(instrument, is_async):
    t = instrument(capture_content=True)
    params = recorded(OPENAI_RECORDINGS, TOOLS_STREAM)
    payloads = OPENAI_RECORDINGS.sse(TOOLS_STREAM)
    usage = payloads[-1]["usage"]
    route, _ = openai_route(OPENAI / TOOLS_STREAM, is_async=is_async)

    chunks = stream(is_async, model="openai/gpt-4o-mini", **params, **route)

    fragments: dict[int, dict[str, str]] = {}  # the recorded calls: index -> id, name, arguments
    for payload in payloads:
        for choice in payload["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                entry = fragments.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] += call["function"].get("name") or ""
                entry["arguments"] += call["function"].get("arguments") or ""
    calls = [tool_call(f["id"], f["name"], json.loads(f["arguments"])) for _, f in sorted(fragments.items())]
    assert len(calls) == 2
    assert_streamed(
        the_span(t, "chat gpt-4o-mini"),
        {
            **openai_request("gpt-4o-mini", routed="openai/gpt-4o-mini", **{"gen_ai.request.stream": True}),
            INPUT: [text_message(m["role"], m["content"]) for m in params["messages"]],
            TOOL_DEFINITIONS: [{"type": "function", "name": t["function"]["name"]} for t in params["tools"]],
            OUTPUT: [output_message(*calls, finish_reason="tool_call")],
            "gen_ai.response.id": payloads[0]["id"],
            "gen_ai.response.model": answering_model(chunks, payloads[0]["model"]),
            "gen_ai.response.finish_reasons": ["tool_calls"],
            "openai.response.system_fingerprint": payloads[-1]["system_fingerprint"],
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 0,
            **cost(
                "gpt-4o-mini", input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
            ),
        },
        chunks=len(chunks),
    )


@MODES
def test_litellm_openai_route_error_reraised_unchanged(instrument, is_async):
    params = {**recorded(OPENAI_RECORDINGS, NOT_FOUND), "model": "openai/this-model-does-not-exist"}

    def attempt() -> BaseException:
        route, _ = openai_route(OPENAI / NOT_FOUND, is_async=is_async)
        return raises(is_async, "completion", **params, **route)

    bare = attempt()  # what LiteLLM raises on its own
    t = instrument()
    error = attempt()

    assert type(error) is type(bare) is litellm.NotFoundError
    assert str(error) == str(bare)
    span = the_span(t, "chat this-model-does-not-exist", StatusCode.ERROR)
    request = openai_request("this-model-does-not-exist", routed="openai/this-model-does-not-exist")
    assert_attributes(span, {**request, "error.type": "NotFoundError"})
    labels = {k: v for k, v in request.items() if k not in (ROUTED, "openai.api.type")}
    assert_error_recorded(t, span, error, labels)


@pytest.mark.parametrize(
    ("name", "dimensions"), [(EMBED_FLOAT, 512), (EMBED_BASE64, 1536)], ids=["float", "base64"]
)
@MODES
def test_litellm_embedding(instrument, is_async, name, dimensions):
    t = instrument(capture_content=True)  # embeddings carry no content attributes even so
    params = OPENAI_RECORDINGS.request(name)
    body = OPENAI_RECORDINGS.response(name)
    route, _ = openai_route(OPENAI / name, is_async=is_async)

    result = run(is_async, "embedding", **params, **route)

    assert result.usage.prompt_tokens == body["usage"]["prompt_tokens"]
    encoding = {"gen_ai.request.encoding_formats": ["base64"]} if name == EMBED_BASE64 else {}
    input_tokens = body["usage"]["prompt_tokens"]
    assert_attributes(
        the_span(t, "embeddings text-embedding-3-small"),
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "server.address": "api.openai.com",
            "server.port": 443,
            **encoding,
            "gen_ai.response.model": body["model"],
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.embeddings.dimension.count": dimensions,
            **litellm_cost(result),
            **cost("text-embedding-3-small", input_tokens=input_tokens),
        },
    )


# === 2. providers LiteLLM speaks HTTP to itself ==================================================


@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
@MODES
def test_litellm_claude(instrument, is_async, capture_content):
    t = instrument(capture_content=capture_content)  # llmtrace's anthropic instrumentation is on too
    body = CLAUDE_RECORDINGS.response(CLAUDE)
    route, transport = http_route(ANTHROPIC / CLAUDE, is_async=is_async)

    result = run(
        is_async,
        "completion",
        model="anthropic/claude-3-opus-20240229",
        **recorded(CLAUDE_RECORDINGS, CLAUDE),
        **route,
    )

    transport.assert_all_played()
    assert result.choices[0].message.content == body["content"][0]["text"]
    # LiteLLM hands out an id of its own for Claude's answers (the message id is not kept anywhere):
    # the span has the id the caller got, which is what links an evaluation to the span.
    assert result.id != body["id"]
    content = {
        INPUT: [text_message("user", "Tell me a joke about OpenTelemetry")],
        OUTPUT: [output_text(body["content"][0]["text"])],
    }
    assert_attributes(
        the_span(t, "chat claude-3-opus-20240229"),
        {
            **claude_request("claude-3-opus-20240229"),
            **(content if capture_content else {}),
            "gen_ai.response.id": result.id,
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["stop"],  # LiteLLM's (OpenAI's) name for end_turn
            **claude_usage("claude-3-opus", body["usage"]),
            **litellm_cost(result),
        },
    )


@MODES
def test_litellm_claude_stream(instrument, is_async):
    t = instrument(capture_content=True)
    events = CLAUDE_RECORDINGS.sse(CLAUDE_STREAM)
    start = events[0]["message"]
    output_tokens = next(e for e in events if e["type"] == "message_delta")["usage"]["output_tokens"]
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    route, _ = http_route(ANTHROPIC / CLAUDE_STREAM, is_async=is_async)

    chunks = stream(
        is_async,
        model="anthropic/claude-3-haiku-20240307",
        **recorded(CLAUDE_RECORDINGS, CLAUDE_STREAM),
        **route,
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    usage = claude_stream_usage(
        chunks, "claude-3-haiku", start["usage"], output_tokens, JOKE[0]["content"], text
    )
    assert_streamed(
        the_span(t, "chat claude-3-haiku-20240307"),
        {
            **claude_request("claude-3-haiku-20240307", **{"gen_ai.request.stream": True}),
            INPUT: [text_message("user", "Tell me a joke about OpenTelemetry")],
            OUTPUT: [output_text(text)],
            "gen_ai.response.id": chunks[0].id,  # LiteLLM's, as above
            "gen_ai.response.model": start["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **usage,
        },
        chunks=len(chunks),
    )


def test_litellm_claude_prompt_caching_write_then_read(instrument):
    t = instrument()
    params = recorded(CLAUDE_RECORDINGS, CLAUDE_CACHING)
    route, transport = http_route(ANTHROPIC / CLAUDE_CACHING)

    results = [
        run(False, "completion", model="anthropic/claude-3-5-sonnet-20240620", **params, **route)
        for _ in range(2)
    ]

    transport.assert_all_played()
    written, read = t.spans()
    for span, index in ((written, 0), (read, 1)):
        body = CLAUDE_RECORDINGS.response(CLAUDE_CACHING, index)
        assert_attributes(
            span,
            {
                **claude_request("claude-3-5-sonnet-20240620"),
                "gen_ai.response.id": ANY,  # LiteLLM's
                "gen_ai.response.model": body["model"],
                "gen_ai.response.finish_reasons": ["stop"],
                **claude_usage("claude-3-5-sonnet", body["usage"]),
                **litellm_cost(results[index]),
            },
        )
    assert written.attributes["gen_ai.usage.cache_write.input_tokens"] == 1163
    assert read.attributes["gen_ai.usage.cache_read.input_tokens"] == 1163
    # the same prompt: written at 3.75/M, read at 0.30/M
    assert read.attributes["llmtrace.cost.input_usd"] < written.attributes["llmtrace.cost.input_usd"]


@MODES
def test_litellm_claude_tool_use(instrument, is_async):
    t = instrument(capture_content=True)
    body = CLAUDE_RECORDINGS.response(CLAUDE_TOOLS)
    request = CLAUDE_RECORDINGS.request(CLAUDE_TOOLS)
    tools = [  # the recorded Anthropic tools, in the OpenAI shape LiteLLM takes
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
        }
        for t in request["tools"]
    ]
    route, _ = http_route(ANTHROPIC / CLAUDE_TOOLS, is_async=is_async)

    result = run(
        is_async,
        "completion",
        model="anthropic/claude-3-5-sonnet-20240620",
        max_tokens=request["max_tokens"],
        messages=request["messages"],
        tools=tools,
        **route,
    )

    assert [c.function.name for c in result.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    text, *uses = body["content"]
    assert_attributes(
        the_span(t, "chat claude-3-5-sonnet-20240620"),
        {
            **claude_request("claude-3-5-sonnet-20240620"),
            INPUT: [text_message("user", request["messages"][0]["content"])],
            TOOL_DEFINITIONS: [
                {"type": "function", "name": "get_weather"},
                {"type": "function", "name": "get_time"},
            ],
            OUTPUT: [
                output_message(
                    text_part(text["text"]),
                    *(tool_call(u["id"], u["name"], u["input"]) for u in uses),
                    finish_reason="tool_call",
                )
            ],
            "gen_ai.response.id": result.id,
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["tool_calls"],  # LiteLLM's name for tool_use
            **claude_usage("claude-3-5-sonnet", body["usage"]),
            **litellm_cost(result),
        },
    )


def test_litellm_claude_thinking(instrument):
    if "thinking" not in inspect.signature(litellm.completion).parameters:
        pytest.skip(f"litellm {version('litellm')} predates Claude's extended thinking")
    t = instrument(capture_content=True)
    body = CLAUDE_RECORDINGS.response(CLAUDE_THINKING)
    thinking, answer = body["content"]
    route, _ = http_route(ANTHROPIC / CLAUDE_THINKING)

    result = run(
        False,
        "completion",
        model="anthropic/claude-3-7-sonnet-20250219",
        **recorded(CLAUDE_RECORDINGS, CLAUDE_THINKING),
        **route,
    )

    # Anthropic reported no thinking count; LiteLLM estimates one from the text (newer releases). llmtrace
    # leaves it out rather than pass an estimate off as a reported count (the output count includes it).
    assert "output_tokens_details" not in body["usage"]
    assert_attributes(
        the_span(t, "chat claude-3-7-sonnet-20250219"),
        {
            **claude_request("claude-3-7-sonnet-20250219", max_tokens=2048),
            INPUT: [
                text_message("user", "How many times does the letter 'r' appear in the word strawberry?")
            ],
            OUTPUT: [
                output_message(
                    {"type": "reasoning", "content": thinking["thinking"]}, text_part(answer["text"])
                )
            ],
            "gen_ai.response.id": result.id,
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **claude_usage("claude-3-7-sonnet", body["usage"]),
            **litellm_cost(result),
        },
    )


@MODES
def test_litellm_groq_stream_usage_lost_by_litellm_is_counted(instrument, is_async):
    t = instrument(capture_content=True)
    payloads = Recordings(GROQ).sse(GROQ_STREAM)
    assert "usage" in payloads[-1]["x_groq"]  # Groq reported it, where LiteLLM does not look
    text = streamed_text(payloads)[0]
    route, _ = http_route(GROQ / GROQ_STREAM, is_async=is_async)

    chunks = stream(is_async, model="groq/llama3-8b-8192", **recorded(Recordings(GROQ), GROQ_STREAM), **route)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    # LiteLLM's chunks carry an all-zero usage: not taken for a count. llmtrace counts instead (no
    # tiktoken encoding for llama3: a token per 4 characters, rounded up, plus OpenAI's chat framing of
    # 4 per message and 3 for the reply) and says so.
    prompt = "Tell me a joke about opentelemetry"
    input_tokens = -(-len(prompt) // 4) + 4 + 3
    output_tokens = -(-len(text) // 4)
    assert_streamed(
        the_span(t, "chat llama3-8b-8192"),
        {
            **request_attributes(
                "groq",
                "llama3-8b-8192",
                "api.groq.com",
                routed="groq/llama3-8b-8192",
                **{"gen_ai.request.stream": True},
            ),
            INPUT: [text_message("user", prompt)],
            OUTPUT: [output_text(text)],
            "gen_ai.response.id": chunks[0].id,
            "gen_ai.response.model": payloads[0]["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            sc.LLMTRACE_USAGE_ESTIMATED: True,
            sc.LLMTRACE_USAGE_TOKENIZER: "chars/4",
            **cost("llama3-8b-8192", input_tokens=input_tokens, output_tokens=output_tokens),
        },
        chunks=len(chunks),
    )


@MODES
def test_litellm_claude_thinking_stream(instrument, is_async):
    if "thinking" not in inspect.signature(litellm.completion).parameters:
        pytest.skip(f"litellm {version('litellm')} predates Claude's extended thinking")
    t = instrument(capture_content=True)
    events = CLAUDE_RECORDINGS.sse(CLAUDE_THINKING_STREAM)
    start = events[0]["message"]
    output_tokens = next(e for e in events if e["type"] == "message_delta")["usage"]["output_tokens"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    thinking = "".join(d.get("thinking", "") for d in deltas)
    text = "".join(d.get("text", "") for d in deltas)
    params = recorded(CLAUDE_RECORDINGS, CLAUDE_THINKING_STREAM)
    prompt = params["messages"][0]["content"][0]["text"]
    route, _ = http_route(ANTHROPIC / CLAUDE_THINKING_STREAM, is_async=is_async)

    chunks = stream(is_async, model="anthropic/claude-3-7-sonnet-20250219", **params, **route)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert_streamed(
        the_span(t, "chat claude-3-7-sonnet-20250219"),
        {
            **claude_request(
                "claude-3-7-sonnet-20250219", max_tokens=2048, **{"gen_ai.request.stream": True}
            ),
            INPUT: [text_message("user", prompt)],
            # the thinking deltas, folded into one reasoning part before the answer
            OUTPUT: [output_message({"type": "reasoning", "content": thinking}, text_part(text))],
            "gen_ai.response.id": chunks[0].id,
            "gen_ai.response.model": start["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **claude_stream_usage(chunks, "claude-3-7-sonnet", start["usage"], output_tokens, prompt, text),
        },
        chunks=len(chunks),
    )


def test_litellm_request_parameters(instrument):
    t = instrument()
    body = OPENAI_RECORDINGS.response(N2)
    route, transport = openai_route(OPENAI / N2)
    params = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "seed": 7,
        "stop": "END",
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "response_format": {"type": "json_object"},
    }

    result = run(
        False, "completion", model="gpt-4o-mini", n=2, messages=SAY_THIS_IS_A_TEST, **params, **route
    )

    sent = transport.request_json()  # LiteLLM sends them on, as OpenAI's own parameters
    assert {k: sent[k] for k in params} == params
    assert_attributes(
        the_span(t, "chat gpt-4o-mini"),
        {
            **openai_request(
                "gpt-4o-mini",
                **{
                    "gen_ai.request.choice.count": 2,
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.top_p": 0.9,
                    "gen_ai.request.max_tokens": 50,
                    "gen_ai.request.seed": 7,
                    "gen_ai.request.stop_sequences": ["END"],
                    "gen_ai.request.presence_penalty": 0.5,
                    "gen_ai.request.frequency_penalty": 0.25,
                    "gen_ai.output.type": "json",
                },
            ),
            **n2_response(body),
            **litellm_cost(result),
        },
    )


def test_litellm_router_call_is_one_span(instrument):
    # LiteLLM's Router calls litellm.completion for the deployment it picks: that call is the span.
    t = instrument()
    body = CLAUDE_RECORDINGS.response(CLAUDE)
    route, transport = http_route(ANTHROPIC / CLAUDE)
    deployment = {"model": "anthropic/claude-3-opus-20240229", "api_key": "test"}
    router = litellm.Router(model_list=[{"model_name": "claude", "litellm_params": deployment}])

    result = router.completion(model="claude", messages=JOKE, max_tokens=1024, client=route["client"])

    transport.assert_all_played()
    assert_attributes(
        the_span(t, "chat claude-3-opus-20240229"),
        {
            **claude_request("claude-3-opus-20240229"),
            "gen_ai.response.id": result.id,
            "gen_ai.response.model": body["model"],
            "gen_ai.response.finish_reasons": ["stop"],
            **claude_usage("claude-3-opus", body["usage"]),
            **litellm_cost(result),
        },
    )


def test_litellm_positional_model_is_not_seen_before_the_call(instrument):
    # The core hands the request mappers the keyword arguments only: a model given positionally is
    # unknown when the span starts (provider "litellm", no request model); the response still names it.
    t = instrument()
    body = CLAUDE_RECORDINGS.response(CLAUDE)
    route, _ = http_route(ANTHROPIC / CLAUDE)

    result = litellm.completion("anthropic/claude-3-opus-20240229", JOKE, max_tokens=1024, **route)

    span = the_span(t, "chat")
    assert span.attributes["gen_ai.provider.name"] == "litellm"
    assert "gen_ai.request.model" not in span.attributes
    assert span.attributes["gen_ai.response.model"] == body["model"]
    assert span.attributes["gen_ai.response.id"] == result.id


# === 3. stream lifecycle, metrics ================================================================


@MODES
def test_litellm_stream_left_early_ends_the_span_once(instrument, is_async):
    t = instrument()
    route, _ = http_route(ANTHROPIC / CLAUDE_STREAM, is_async=is_async)

    [first] = stream(
        is_async,
        stop_after=1,
        model="anthropic/claude-3-haiku-20240307",
        **recorded(CLAUDE_RECORDINGS, CLAUDE_STREAM),
        **route,
    )
    gc.collect()  # the stream was dropped without close(): its span ends all the same

    span = the_span(t, "chat claude-3-haiku-20240307")
    assert span.attributes[sc.LLMTRACE_STREAM_CHUNKS] == 1
    assert span.attributes[sc.LLMTRACE_STREAM_ABANDONED] is True
    assert span.attributes["gen_ai.response.id"] == first.id
    assert "gen_ai.response.finish_reasons" in span.attributes


def test_litellm_async_stream_aclose_ends_the_span(instrument):
    import asyncio

    if not hasattr(litellm.CustomStreamWrapper, "aclose"):
        pytest.skip(f"litellm {version('litellm')}'s streams have no aclose()")
    t = instrument()
    route, _ = http_route(ANTHROPIC / CLAUDE_STREAM, is_async=True)
    params = {
        "model": "anthropic/claude-3-haiku-20240307",
        **recorded(CLAUDE_RECORDINGS, CLAUDE_STREAM),
        **route,
    }

    async def main() -> None:
        chunks = await litellm.acompletion(**params)
        async for _ in chunks:
            break
        await chunks.aclose()
        assert len(t.spans()) == 1  # ended by aclose(), before the stream is dropped

    asyncio.run(main())

    span = the_span(t, "chat claude-3-haiku-20240307")
    assert sc.LLMTRACE_STREAM_ABANDONED not in span.attributes


def test_litellm_metrics_name_the_routed_provider(instrument):
    t = instrument()
    route, _ = http_route(ANTHROPIC / CLAUDE)

    run(
        False,
        "completion",
        model="anthropic/claude-3-opus-20240229",
        **recorded(CLAUDE_RECORDINGS, CLAUDE),
        **route,
    )

    points = metric_points(t.reader)
    labels = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-opus-20240229",
        "gen_ai.response.model": "claude-3-opus-20240229",
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }
    [duration] = points[sc.METRIC_OPERATION_DURATION]
    assert dict(duration.attributes) == labels
    usage = CLAUDE_RECORDINGS.response(CLAUDE)["usage"]
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points[sc.METRIC_TOKEN_USAGE]}
    assert tokens == {"input": usage["input_tokens"], "output": usage["output_tokens"]}
    [spent] = points[sc.METRIC_COST]
    assert spent.sum == pytest.approx(
        cost("claude-3-opus", input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"])[
            "gen_ai.usage.cost.amount"
        ]
    )


# === 4. patching: lazy, exact, reversible ========================================================


def test_litellm_uninstrument_restores_litellm_exactly(instrument):
    before = patch_targets(litellm_instrumentor.PATCHES)
    assert sorted(before) == [
        "litellm:acompletion",
        "litellm:aembedding",
        "litellm:completion",
        "litellm:embedding",
    ]

    t = instrument()
    again = llmtrace.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    assert again is t.handle
    assert_wrapped_once(before)

    t.handle.uninstrument()

    assert_restored(before)
    route, _ = http_route(ANTHROPIC / CLAUDE)
    run(
        False,
        "completion",
        model="anthropic/claude-3-opus-20240229",
        **recorded(CLAUDE_RECORDINGS, CLAUDE),
        **route,
    )
    assert t.spans() == []


LAZY_SCRIPT = """
import json, os, socket, sys, time
sys.path.insert(0, sys.argv[1])
socket.socket.connect = lambda self, address: (_ for _ in ()).throw(OSError("network"))
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import llmtrace
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
llmtrace.instrument(tracer_provider=provider, exporter="none", raise_internal_errors=True)
imported_by_instrument = "litellm" in sys.modules
from replay_litellm import http_route
started = time.perf_counter()
import litellm
import_seconds = time.perf_counter() - started
route, _ = http_route(__import__("pathlib").Path(sys.argv[2]))
litellm.completion(model="anthropic/claude-3-opus-20240229", max_tokens=1024,
                   messages=[{"role": "user", "content": "Tell me a joke about OpenTelemetry"}], **route)
print(json.dumps({
    "imported_by_instrument": imported_by_instrument,
    "import_seconds": import_seconds,
    "spans": [s.name for s in exporter.get_finished_spans()],
}))
"""


def test_litellm_is_not_imported_by_instrument_and_is_patched_on_import():
    summary = run_script(
        LAZY_SCRIPT,
        str(TESTS),
        str(ANTHROPIC / CLAUDE),
        drop_env=("OPENAI_", "ANTHROPIC_", "OTEL_", "LLMTRACE_", "LITELLM_"),
        LLMTRACE_EXPORTER="none",
    )

    assert summary["imported_by_instrument"] is False  # LiteLLM is heavy: only the user imports it
    assert summary["spans"] == ["chat claude-3-opus-20240229"]


# === 5. containment ==============================================================================


@MODES
def test_litellm_containment_response_mapper_fails(contained, monkeypatch, caplog, is_async):
    t = contained()
    monkeypatch.setattr(litellm_instrumentor, "_usage", boom)
    body = OPENAI_RECORDINGS.response(N2)
    route, _ = openai_route(OPENAI / N2, is_async=is_async)

    result = run(is_async, "completion", model="gpt-4o-mini", **recorded(OPENAI_RECORDINGS, N2), **route)

    assert type(result) is litellm.ModelResponse
    assert result.id == body["id"]
    assert [c.message.content for c in result.choices] == [c["message"]["content"] for c in body["choices"]]
    span = the_span(t, "chat gpt-4o-mini")  # still ended, once, without the response side
    assert_attributes(span, openai_request("gpt-4o-mini", **{"gen_ai.request.choice.count": 2}))
    assert_logged(caplog, "finish")


def test_litellm_containment_request_mapper_fails(contained, monkeypatch, caplog):
    t = contained()
    monkeypatch.setattr(litellm_instrumentor, "_request", boom)
    route, transport = http_route(ANTHROPIC / CLAUDE)

    result = run(
        False,
        "completion",
        model="anthropic/claude-3-opus-20240229",
        **recorded(CLAUDE_RECORDINGS, CLAUDE),
        **route,
    )

    assert result.choices[0].message.content == CLAUDE_RECORDINGS.response(CLAUDE)["content"][0]["text"]
    transport.assert_all_played()
    assert t.spans() == []  # the call passed straight through
    assert_logged(caplog, "start")


# === 6. the mapping functions ====================================================================


@pytest.mark.parametrize(
    ("model", "custom_llm_provider", "routed", "sent", "provider"),
    [
        ("gpt-4o-mini", None, "openai", "gpt-4o-mini", "openai"),  # LiteLLM's model map
        ("openai/gpt-4o-mini", None, "openai", "gpt-4o-mini", "openai"),
        ("anthropic/claude-3-haiku-20240307", None, "anthropic", "claude-3-haiku-20240307", "anthropic"),
        ("groq/llama3-8b-8192", None, "groq", "llama3-8b-8192", "groq"),
        ("bedrock/anthropic.claude-v2", None, "bedrock", "anthropic.claude-v2", "aws.bedrock"),
        ("vertex_ai/gemini-2.0-flash", None, "vertex_ai", "gemini-2.0-flash", "gcp.vertex_ai"),
        ("gemini/gemini-2.0-flash", None, "gemini", "gemini-2.0-flash", "gcp.gemini"),
        ("mistral/mistral-tiny", None, "mistral", "mistral-tiny", "mistral_ai"),
        ("azure/my-deployment", None, "azure", "my-deployment", "azure.ai.openai"),
        ("xai/grok-2", None, "xai", "grok-2", "x_ai"),
        ("ollama_chat/llama3", None, "ollama_chat", "llama3", "ollama"),
        ("openrouter/openai/gpt-4o", None, "openrouter", "openai/gpt-4o", "openrouter"),
        ("my-deployment", "azure", "azure", "my-deployment", "azure.ai.openai"),
        ("azure/my-deployment", "azure", "azure", "my-deployment", "azure.ai.openai"),
        ("not-a-model-anyone-knows", None, None, "not-a-model-anyone-knows", "litellm"),
    ],
)
def test_litellm_route(model, custom_llm_provider, routed, sent, provider):
    assert litellm_instrumentor.route(model, custom_llm_provider) == (routed, sent)
    assert litellm_instrumentor.provider_name(routed) == provider


# OpenAI's shape, as LiteLLM normalizes every provider's: the details give the subsets
OPENAI_USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 9,
    "prompt_tokens_details": {"cached_tokens": 8},
    "completion_tokens_details": {"reasoning_tokens": 4},
}
# Claude's: prompt_tokens already include the cache reads and writes; the 1-hour writes are priced apart
CLAUDE_USAGE = {
    "prompt_tokens": 1170,
    "completion_tokens": 5,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 160,
    "prompt_tokens_details": {
        "cached_tokens": 160,
        "cache_creation_token_details": {"ephemeral_1h_input_tokens": 600},
    },
    "completion_tokens_details": {"reasoning_tokens": 3},
}
# a Claude stream's (LiteLLM rebuilds it without the top-level cache fields): still no thinking count
CLAUDE_STREAM_USAGE = {
    "prompt_tokens": 17,
    "completion_tokens": 171,
    "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


@pytest.mark.parametrize(
    ("usage", "model", "expected"),
    [
        (OPENAI_USAGE, "gpt-5-nano",
         {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 8,
          "reasoning_output_tokens": 4}),
        (CLAUDE_USAGE, "claude-sonnet-4-6",
         {"input_tokens": 1170, "output_tokens": 5, "cache_read_input_tokens": 160,
          "cache_write_input_tokens": 1000, "cache_write_1h_input_tokens": 600}),
        (CLAUDE_STREAM_USAGE, "claude-3-haiku-20240307",
         {"input_tokens": 17, "output_tokens": 171, "cache_read_input_tokens": 0,
          "cache_write_input_tokens": 0}),
        ({"prompt_tokens": 8, "completion_tokens": 0}, "text-embedding-3-small",
         {"input_tokens": 8, "output_tokens": 0}),
    ],
    ids=["openai", "claude", "claude-stream", "plain"],
)  # fmt: skip
def test_litellm_usage_mapping(usage, model, expected):
    result = litellm_instrumentor._usage(usage, model)
    assert {k: v for k, v in vars_of(result).items() if v is not None and k not in ("estimated",)} == expected


def vars_of(usage: Any) -> dict[str, Any]:
    return {name: getattr(usage, name) for name in usage.__slots__}


def test_litellm_cache_hit_costs_nothing():
    # An answer served from LiteLLM's cache (its caching handler marks it so): no tokens were spent.
    result = litellm.ModelResponse(
        id="chatcmpl-1",
        model="gpt-4o-mini-2024-07-18",
        choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
        usage={"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
    )
    result._hidden_params = {"cache_hit": True, "custom_llm_provider": "openai"}

    response = litellm_instrumentor.chat_response(result, capture=False)

    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)
    assert response.attributes[sc.LLMTRACE_LITELLM_CACHE_HIT] is True
    assert PRICES["gpt-4o-mini"]  # priced, so the core records a cost of 0
