"""Anthropic (and Claude on Amazon Bedrock and Google Vertex AI): messages, beta messages, completions.

Only maps the SDK's shapes into call records; the core does the rest. Works with anthropic 0.30 to 2.x:
targets missing from an installed version are skipped.

One span per call. anthropic 2.x starts a CLIENT span of its own for every API call (on by default,
through the global TracerProvider; checked on 2.12.0). The SDK offers no per-call switch (its
``ANTHROPIC_OPEN_TELEMETRY*`` variables and ``open_telemetry`` option are read when a client is built),
so while llmtrace is instrumenting, the SDK's span-starting function returns no span inside a call
llmtrace traces: llmtrace's span is the inference span, with everything llmtrace records (usage with
the cache tokens, cost, estimates). Calls llmtrace does not trace (``count_tokens``, batches, files,
models, ...) keep the SDK's span, and ``uninstrument()`` restores the function. To keep the SDK's own
spans for messages too, leave Anthropic out of llmtrace (``llmtrace.instrument(providers=["openai"])``,
or ``LLMTRACE_PROVIDERS=openai``): the SDK's spans are then exactly as the SDK makes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch, remember_request, stream_helper_entry, unless_in_call
from llmtrace._records import LLMRequest, LLMResponse, Usage
from llmtrace._stream import end_stream_after
from llmtrace.instrumentors import _anthropic_content as content
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._common import given, server

PROVIDER = "anthropic"


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or of a decoded JSON body."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _provider_of(client: str, host: str | None, port: int | None) -> str:
    # The platform that serves Claude is who answers: AnthropicBedrock / AnthropicVertex clients, or
    # their hosts behind a plain client's base_url.
    if "Bedrock" in client or (host or "").startswith("bedrock-runtime."):
        return "aws.bedrock"
    if "Vertex" in client or (host or "").endswith("aiplatform.googleapis.com"):
        return "gcp.vertex_ai"
    return PROVIDER


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    config = given(kwargs, "output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if fmt is None:
        fmt = given(kwargs, "output_format")  # the beta / deprecated spelling, or a type for parse()
    if fmt is None:
        return None
    if isinstance(fmt, type):  # a pydantic class given to parse() or stream()
        return "json"
    return "json" if _get(fmt, "type") == "json_schema" else None


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str) -> LLMRequest:
    provider, host, port = server(instance, _provider_of)
    params: dict[str, Any] = {}
    for key, attr in (
        ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
        ("max_tokens_to_sample", sc.GEN_AI_REQUEST_MAX_TOKENS),  # legacy completions
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", sc.GEN_AI_REQUEST_TOP_P),
        ("top_k", sc.GEN_AI_REQUEST_TOP_K),
    ):
        value = given(kwargs, key)
        if value is not None:
            params[attr] = value
    stop = given(kwargs, "stop_sequences")
    if isinstance(stop, str) and stop:
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and stop:
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [s for s in stop if isinstance(s, str)]
    config = given(kwargs, "output_config")
    effort = config.get("effort") if isinstance(config, Mapping) else None
    if effort is not None:
        params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    output_type = _output_type(kwargs)
    if output_type is not None:
        params[sc.GEN_AI_OUTPUT_TYPE] = output_type
    # positional, as in the openai mapper (keywords cost more, once per call)
    stream = bool(given(kwargs, "stream"))
    return LLMRequest(operation, provider, given(kwargs, "model"), host, port, stream, params)


def _usage(usage: Any) -> Usage | None:
    """Anthropic's usage in semconv terms: its input_tokens exclude the cache reads and writes, which
    gen_ai.usage.input_tokens includes (and reports again as its cache subsets)."""
    if usage is None:
        return None
    fresh = _get(usage, "input_tokens")
    read = _get(usage, "cache_read_input_tokens")
    write = _get(usage, "cache_creation_input_tokens")
    return Usage(
        input_tokens=None if fresh is None else fresh + (read or 0) + (write or 0),
        output_tokens=_get(usage, "output_tokens"),
        cache_read_input_tokens=read,
        cache_write_input_tokens=write,
        cache_write_1h_input_tokens=_get(_get(usage, "cache_creation"), "ephemeral_1h_input_tokens"),
        reasoning_output_tokens=_get(_get(usage, "output_tokens_details"), "thinking_tokens"),
    )


def _unwrap(result: Any) -> Any:
    """The Message behind a ``with_raw_response`` result whose body was read (None when it is a stream
    the caller reads from an anthropic < 1 ``LegacyAPIResponse``)."""
    name = type(result).__name__
    if name == "LegacyAPIResponse":  # anthropic < 1: parse() is synchronous and cached
        return None if getattr(result, "_stream", False) else result.parse()
    if name == "APIResponse":
        return result.parse()  # cached: the caller's own parse() returns the same object
    if name == "AsyncAPIResponse":
        return result.http_response.json()  # its parse() is a coroutine; the body is read already
    return result


def is_unread_response(result: Any) -> bool:
    """An HTTP response whose body is still unread (``with_streaming_response``, or a raw streamed one):
    the span follows the caller's parse()."""
    if type(result).__name__ not in ("APIResponse", "AsyncAPIResponse"):
        return False
    http = getattr(result, "http_response", None)
    return http is not None and not http.is_closed


def is_sdk_stream(result: Any) -> bool:
    """Whether the SDK returned a stream object (not a raw or streamed-response wrapper)."""
    cls = type(result)
    return hasattr(cls, "__next__") or hasattr(cls, "__anext__")


# --- Messages -----------------------------------------------------------------------------------


def messages_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``messages.create/parse`` (and beta) arguments."""
    request = _request(instance, kwargs, sc.OP_CHAT)
    if capture:
        request.input_messages = content.input_messages(given(kwargs, "messages"))
        request.system_instructions = content.system_instructions(given(kwargs, "system"))
        request.tool_definitions = content.tool_definitions(given(kwargs, "tools"))
    return request


def stream_helper_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``messages.stream(...)`` arguments (the helper always streams)."""
    request = messages_request(instance, kwargs, capture)
    request.stream = True
    return request


def messages_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a Message (or the raw response around one)."""
    message = _unwrap(result)
    if message is None:
        return None
    stop = _get(message, "stop_reason")
    response = LLMResponse(
        response_id=_get(message, "id"),
        model=_get(message, "model"),
        finish_reasons=[stop] if stop else None,
        usage=_usage(_get(message, "usage")),
    )
    if capture:
        response.output_messages = [content.output_message(_get(message, "content"), stop)]
    return response


_USAGE_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens",
    "output_tokens_details",
)


class MessageAccumulator:
    """Folds raw message stream events: ids, usage and stop reason always; content with capture on.

    The SDK's own ``accumulate_event`` is not public API, its signature changed across the supported
    versions, the older ones fold no thinking deltas, and it re-parses the whole tool input on every
    ``input_json_delta``; this fold keeps the fragments (up to `LLMRequest.keep_chars` per block) and
    parses each input once, at the end.
    """

    __slots__ = ("_blocks", "_delta_usage", "_keep", "_message", "_stop")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._keep = kept.keep(request, capture)
        self._message: Any = None
        self._delta_usage: Any = None
        self._stop: str | None = None
        self._blocks: dict[int, dict[str, Any]] | None = {} if capture else None

    def add(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            if self._blocks is not None:
                self._fold_delta(event.index, event.delta)
        elif kind == "message_start":
            self._message = event.message
        elif kind == "message_delta":
            self._stop = event.delta.stop_reason
            self._delta_usage = event.usage
        elif kind == "content_block_start" and self._blocks is not None:
            block = content.as_dict(event.content_block)
            self._blocks[event.index] = {"block": block, "pieces": kept.pieces(self._keep)}

    def _fold_delta(self, index: int, delta: Any) -> None:
        state = self._blocks.get(index) if self._blocks is not None else None
        if state is None:
            return
        kind = delta.type
        if kind == "text_delta":
            state["pieces"].append(delta.text)
        elif kind == "input_json_delta":
            state["pieces"].append(delta.partial_json)
        elif kind == "thinking_delta":
            state["pieces"].append(delta.thinking)

    def _usage(self) -> Usage | None:
        start = _get(self._message, "usage")
        later = self._delta_usage
        if later is None:
            return _usage(start)
        # message_delta counts are cumulative totals; the optional ones are sent only when they apply,
        # so message_start's value stands where message_delta has none.
        merged = {}
        for name in _USAGE_FIELDS:
            value = _get(later, name)
            merged[name] = _get(start, name) if value is None else value
        return _usage(merged)

    def result(self) -> LLMResponse:
        message = self._message
        if message is None:  # nothing arrived (or the stream was cut before message_start)
            return LLMResponse()
        stop = self._stop
        response = LLMResponse(
            response_id=_get(message, "id"),
            model=_get(message, "model"),
            finish_reasons=[stop] if stop else None,
            usage=self._usage(),
        )
        if self._blocks is not None:
            blocks = [_assembled(self._blocks[i]) for i in sorted(self._blocks)]
            response.output_messages = [content.output_message(blocks, stop)]
        return response


def _assembled(state: dict[str, Any]) -> dict[str, Any]:
    """A content block from its content_block_start and its deltas."""
    block: dict[str, Any] = state["block"]
    text = "".join(state["pieces"])
    kind = block.get("type")
    if kind == "text":
        return {**block, "text": block.get("text", "") + text}
    if kind == "thinking":
        return {**block, "thinking": block.get("thinking", "") + text}
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use") and text:
        try:
            arguments: Any = json.loads(text)
        except ValueError:  # cut off mid-stream: keep what arrived
            arguments = text
        return {**block, "input": arguments}
    return block


# --- legacy Text Completions (anthropic < 1) ------------------------------------------------------


def completion_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``completions.create`` arguments (the prompt is one string with the Human/Assistant turns)."""
    request = _request(instance, kwargs, sc.OP_TEXT_COMPLETION)
    # The Text Completions API reports no usage: the core counts (estimates) the tokens instead.
    request.expects_usage = False
    prompt = given(kwargs, "prompt")
    if prompt is not None:
        request.prompt_texts = lambda: [str(prompt)]
        if capture:
            request.input_messages = [{"role": "user", "parts": [{"type": "text", "content": str(prompt)}]}]
    return request


def _completion(completion_id: Any, model: Any, text: str, stop: Any, capture: bool) -> LLMResponse:
    response = LLMResponse(response_id=completion_id, model=model, finish_reasons=[stop] if stop else None)
    response.output_texts = [text]
    if capture:
        part = {"type": "text", "content": text}
        finish = content.output_finish_reason(stop)
        response.output_messages = [{"role": "assistant", "parts": [part], "finish_reason": finish}]
    return response


def completion_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a Completion (the Text Completions API reports no token usage)."""
    obj = _unwrap(result)
    if obj is None:
        return None
    text = _get(obj, "completion") or ""
    return _completion(_get(obj, "id"), _get(obj, "model"), text, _get(obj, "stop_reason"), capture)


class CompletionAccumulator:
    """Folds streamed Completion events (each carries the id, the model and a piece of the text); the
    text is kept whole even with capture off: the API reports no usage, its tokens are counted."""

    __slots__ = ("_capture", "_last", "_pieces", "_stop")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._last: Any = None
        self._stop: str | None = None
        self._pieces = kept.pieces(kept.keep(request, capture))

    def add(self, event: Any) -> None:
        self._last = event
        stop = getattr(event, "stop_reason", None)
        if stop:
            self._stop = stop
        self._pieces.append(getattr(event, "completion", None) or "")

    def result(self) -> LLMResponse:
        last = self._last
        if last is None:
            return LLMResponse()
        text = "".join(self._pieces)
        return _completion(_get(last, "id"), _get(last, "model"), text, self._stop, self._capture)


# --- the patch table ----------------------------------------------------------------------------

MESSAGES = Endpoint(
    messages_request, messages_response, MessageAccumulator, is_sdk_stream, is_unread_response
)
MESSAGES_PARSE = Endpoint(messages_request, messages_response, is_deferred=is_unread_response)
STREAM_HELPER = Endpoint(stream_helper_request, messages_response, MessageAccumulator)
COMPLETIONS = Endpoint(
    completion_request, completion_response, CompletionAccumulator, is_sdk_stream, is_unread_response
)

# messages.stream() returns a manager that sends its request only when entered, through the client's
# private _post (not create()), and hands the SDK's raw event stream to a MessageStream helper as
# `_raw_stream` (anthropic 2.12.0: lib/streaming/_messages.py, MessageStreamManager.__enter__; anthropic
# 0.30.0 builds a second Stream over the same response there). The stream() call's arguments are kept
# on the manager; entering it is the traced call, and the helper reads the raw stream through our proxy.
_ENTER, _AENTER = stream_helper_entry(STREAM_HELPER, "_raw_stream")


# Older helpers close the HTTP response directly, bypassing the raw stream (anthropic 0.30.0:
# lib/streaming/_messages.py, MessageStream.close -> self.response.close()): end our span with them.
# Newer ones close the raw stream, our proxy, which has ended the span already (then a no-op).
_CLOSE, _ACLOSE = end_stream_after("_raw_stream")


# Each a module in old SDKs and a package re-exporting the same classes in newer ones: patch the class
# once, through the name both have.
_MESSAGES = "anthropic.resources.messages"
_BETA = "anthropic.resources.beta.messages"
_HELPERS = "anthropic.lib.streaming._messages"
_BETA_HELPERS = "anthropic.lib.streaming._beta_messages"

PATCHES = (
    Patch(_MESSAGES, "Messages.create", MESSAGES),
    Patch(_MESSAGES, "AsyncMessages.create", MESSAGES),
    Patch(_MESSAGES, "Messages.parse", MESSAGES_PARSE),
    Patch(_MESSAGES, "AsyncMessages.parse", MESSAGES_PARSE),
    Patch(_MESSAGES, "Messages.stream", wrapper=remember_request),
    Patch(_MESSAGES, "AsyncMessages.stream", wrapper=remember_request),
    Patch(_BETA, "Messages.create", MESSAGES),
    Patch(_BETA, "AsyncMessages.create", MESSAGES),
    Patch(_BETA, "Messages.parse", MESSAGES_PARSE),
    Patch(_BETA, "AsyncMessages.parse", MESSAGES_PARSE),
    Patch(_BETA, "Messages.stream", wrapper=remember_request),
    Patch(_BETA, "AsyncMessages.stream", wrapper=remember_request),
    Patch(_HELPERS, "MessageStreamManager.__enter__", wrapper=_ENTER),
    Patch(_HELPERS, "AsyncMessageStreamManager.__aenter__", wrapper=_AENTER),
    Patch(_HELPERS, "MessageStream.close", wrapper=_CLOSE),
    Patch(_HELPERS, "AsyncMessageStream.close", wrapper=_ACLOSE),
    Patch(_BETA_HELPERS, "BetaMessageStreamManager.__enter__", wrapper=_ENTER),
    Patch(_BETA_HELPERS, "BetaAsyncMessageStreamManager.__aenter__", wrapper=_AENTER),
    Patch(_BETA_HELPERS, "BetaMessageStream.close", wrapper=_CLOSE),
    Patch(_BETA_HELPERS, "BetaAsyncMessageStream.close", wrapper=_ACLOSE),
    Patch("anthropic.resources.completions", "Completions.create", COMPLETIONS),
    Patch("anthropic.resources.completions", "AsyncCompletions.create", COMPLETIONS),
    # anthropic 2.x starts a CLIENT span of its own per API call here; inside a call llmtrace traces
    # it gets None, which the SDK documents as "the call goes on without one" (anthropic 2.12.0:
    # _tracing.py, start_api_call_span; called by _base_client.SyncAPIClient/AsyncAPIClient.request).
    Patch("anthropic._base_client", "start_api_call_span", wrapper=unless_in_call),
)
