"""OpenAI (and Azure OpenAI, and OpenAI-compatible servers): chat, completions, embeddings, responses.

Only maps the SDK's shapes into call records; the core does the rest. Works with openai 1.x to 3.x:
targets missing from an installed version are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Message, Usage
from llmtrace._stream import end_stream_after
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors import _openai_content as content
from llmtrace.instrumentors._common import fields_of, listed, present, server

PROVIDER = "openai"

# Hosts of OpenAI-compatible services that are unambiguous from the base URL.
_HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "api.fireworks.ai": "fireworks_ai",
    "openrouter.ai": "openrouter",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.moonshot.ai": "moonshot_ai",
}
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _provider_of(client: str, host: str | None, port: int | None) -> str:
    if "Azure" in client or (host or "").endswith((".openai.azure.com", ".azure-api.net")):
        return "azure.ai.openai"
    if host in _HOSTS:
        return _HOSTS[host]
    if host in _LOCAL and port == 11434:
        return "ollama"
    return PROVIDER


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str, api_type: str | None) -> LLMRequest:
    provider, host, port = server(instance, _provider_of)
    model = kwargs.get("model")
    params: dict[str, Any] = {}
    for key, attr in (
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", sc.GEN_AI_REQUEST_TOP_P),
        ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
        ("seed", sc.GEN_AI_REQUEST_SEED),
    ):
        value = kwargs.get(key)
        if value is not None:
            params[attr] = value
    max_tokens = (
        kwargs.get("max_completion_tokens") or kwargs.get("max_tokens") or kwargs.get("max_output_tokens")
    )
    if max_tokens is not None:
        params[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)):
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [s for s in stop if isinstance(s, str)]
    n = kwargs.get("n")
    if n is not None and n != 1:
        params[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    if "response_format" in kwargs or "text_format" in kwargs or "text" in kwargs:
        output_type = _output_type(kwargs)
        if output_type is not None:
            params[sc.GEN_AI_OUTPUT_TYPE] = output_type
    if provider in ("openai", "azure.ai.openai"):
        if api_type is not None:
            params[sc.OPENAI_API_TYPE] = api_type
        tier = kwargs.get("service_tier")
        if tier is not None and tier != "auto":
            params[sc.OPENAI_REQUEST_SERVICE_TIER] = tier
    # positional (operation, provider, model, server address and port, stream, params): binding keywords
    # costs more, once per call
    return LLMRequest(operation, provider, model, host, port, bool(kwargs.get("stream")), params)


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    fmt = kwargs.get("response_format") or kwargs.get("text_format")  # text_format: responses.parse()
    if fmt is None:
        text = kwargs.get("text")
        fmt = text.get("format") if isinstance(text, Mapping) else None
        if fmt is None:
            return None
    if isinstance(fmt, type):  # a pydantic class given to parse()
        return "json"
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    values = fields_of(usage)  # Chat Completions, Responses and Embeddings name their counts differently
    prompt = values.get("prompt_tokens")
    if prompt is None:
        prompt = values.get("input_tokens")
    completion = values.get("completion_tokens")
    if completion is None:
        completion = values.get("output_tokens")
    read = write = reasoning = None
    details = values.get("prompt_tokens_details") or values.get("input_tokens_details")
    if details is not None:
        details = fields_of(details)  # SDKs older than a count keep it as an extra
        read = details.get("cached_tokens")
        write = details.get("cache_write_tokens")
    details = values.get("completion_tokens_details") or values.get("output_tokens_details")
    if details is not None:
        reasoning = fields_of(details).get("reasoning_tokens")
    # positional (input, output, cache read, cache write, of which 1h, reasoning): one construction
    return Usage(prompt, completion, read, write, None, reasoning)


def _openai_attributes(out: dict[str, Any], obj: Any) -> None:
    values = fields_of(obj)
    tier = values.get("service_tier")
    if tier:
        out[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
    fingerprint = values.get("system_fingerprint")
    if fingerprint:
        out[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def _unwrap(result: Any) -> Any:
    """The parsed object behind ``with_raw_response`` (``LegacyAPIResponse.parse()`` caches it, so the
    user's own parse() returns the same object); None for a body that is not read yet."""
    name = type(result).__name__
    if name == "LegacyAPIResponse":
        # A streamed raw response parses to the SDK's Stream, not a response object: the caller reads it.
        return None if getattr(result, "_stream", False) else result.parse()
    return result


def is_unread_response(result: Any) -> bool:
    """``with_streaming_response`` returns the HTTP response before its body is read."""
    return type(result).__name__ in ("APIResponse", "AsyncAPIResponse")


_STREAM_CLASSES: dict[type, bool] = {}


def is_sdk_stream(result: Any) -> bool:
    """Whether the SDK returned a stream object (not a raw or streamed-response wrapper)."""
    cls = type(result)
    known = _STREAM_CLASSES.get(cls)
    if known is None:  # a failed hasattr on a class raises inside: worth a lookup table per class
        known = hasattr(cls, "__next__") or hasattr(cls, "__anext__")
        if len(_STREAM_CLASSES) < 256:
            _STREAM_CLASSES[cls] = known
    return known


# --- Chat Completions ---------------------------------------------------------------------------


def chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``chat.completions.create/parse`` arguments."""
    kwargs = present(kwargs)
    request = _request(instance, kwargs, sc.OP_CHAT, "chat_completions")
    effort = kwargs.get("reasoning_effort")
    if effort is not None:
        request.params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    messages = kwargs.get("messages")
    request.prompt_texts = lambda: content.message_texts(messages)
    if request.stream:
        options = kwargs.get("stream_options")
        request.expects_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    if capture:
        request.input_messages = content.chat_input_messages(messages)
        tools = content.tool_definitions(kwargs.get("tools"), kwargs.get("functions"))
        request.tool_definitions = tools or None
    return request


def _choices_response(obj: Any, output: Callable[[Any], Message] | None) -> LLMResponse:
    """A ChatCompletion or legacy Completion: one finish reason and one output message per choice."""
    choices = getattr(obj, "choices", None) or []
    response = LLMResponse(  # positional: binding keywords costs more, once per call
        getattr(obj, "id", None),
        getattr(obj, "model", None),
        [c.finish_reason or "" for c in choices] or None,
        _usage(getattr(obj, "usage", None)),
    )
    _openai_attributes(response.attributes, obj)
    if output is not None:
        response.output_messages = [output(c) for c in choices]
    if response.usage is None:  # some OpenAI-compatible servers omit it: count instead
        response.output_texts = [_choice_text(c) for c in choices]
    return response


def _choice_text(choice: Any) -> str:
    message = getattr(choice, "message", None)
    if message is None:
        return str(getattr(choice, "text", "") or "")
    return content.message_texts([message])[0]


def _chat_choice(choice: Any) -> Message:
    return content.chat_output_message(choice.message, choice.finish_reason)


def _text_choice(choice: Any) -> Message:
    return _text_output(choice.text, choice.finish_reason)


def chat_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a ChatCompletion (or the raw response around one)."""
    completion = _unwrap(result)
    return None if completion is None else _choices_response(completion, _chat_choice if capture else None)


def _order(index: Any) -> int:
    """A choice or tool-call index to sort by (a chunk may carry none)."""
    return index if isinstance(index, int) else -1


def _first_order(item: tuple[Any, Any]) -> int:
    return _order(item[0])


class ChatAccumulator:
    """Folds ChatCompletionChunks: ids and usage always; text and tool-call fragments with capture on,
    each up to `LLMRequest.keep_chars`. Only when the stream will carry no usage (no include_usage) is
    the whole text kept, capture on or off, to count its tokens at the end."""

    __slots__ = ("_capture", "_choices", "_fold", "_keep", "_last", "_reasons", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._fold = capture or not request.expects_usage
        self._keep = kept.keep(request, capture)
        self._last: Any = None
        self._usage: Any = None
        self._reasons: dict[int, str | None] = {}
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        # Per chunk with content capture off: a few attribute reads (id and model come from the last
        # chunk: every chunk of a stream carries the same ones).
        self._last = chunk
        usage = getattr(chunk, "usage", None)  # a chunk may be anything the server sent, even null
        if usage is not None:
            self._usage = usage
        reasons = self._reasons
        for choice in getattr(chunk, "choices", None) or ():
            index = choice.index
            reason = choice.finish_reason
            if reason is not None or index not in reasons:
                reasons[index] = reason
            if self._fold and choice.delta is not None:
                state = self._choices.get(index)
                if state is None:
                    content = kept.pieces(self._keep)
                    state = self._choices[index] = {"finish_reason": None, "content": content, "tools": {}}
                self._fold_delta(state, choice.delta, self._keep)

    @staticmethod
    def _fold_delta(state: dict[str, Any], delta: Any, keep: int | None) -> None:
        text = delta.content
        if text:
            pieces = state["content"]
            if type(pieces) is kept.Pieces and type(text) is str:  # Pieces.append inlined: per chunk
                if pieces.room > 0:
                    list.append(pieces, text)
                    pieces.room -= len(text)
            else:
                pieces.append(text)
        if getattr(delta, "refusal", None):
            state["content"].append(delta.refusal)
        for fragment in delta.tool_calls or ():
            call = state["tools"].get(fragment.index)
            if call is None:
                arguments = kept.pieces(keep)
                call = state["tools"][fragment.index] = {"id": None, "name": "", "arguments": arguments}
            if fragment.id:
                call["id"] = fragment.id
            if fragment.function is not None:
                if fragment.function.name:
                    call["name"] += fragment.function.name
                if fragment.function.arguments:
                    call["arguments"].append(fragment.function.arguments)
        legacy = getattr(delta, "function_call", None)
        if legacy is not None:
            call = state["tools"].get(-1)
            if call is None:
                call = state["tools"][-1] = {"id": None, "name": "", "arguments": kept.pieces(keep)}
            call["name"] += legacy.name or ""
            call["arguments"].append(legacy.arguments or "")

    def result(self) -> LLMResponse:
        last = self._last
        if last is None:  # no chunk was folded: nothing to report (no empty output-messages list)
            return LLMResponse()
        indices = sorted(self._reasons, key=_order)
        states = []
        for index in indices:
            state = self._choices.get(index) or {"content": [], "tools": {}}
            state["finish_reason"] = self._reasons[index]
            states.append(state)
        response = LLMResponse(
            response_id=getattr(last, "id", None),
            model=getattr(last, "model", None),
            finish_reasons=[reason or "" for reason in (self._reasons[i] for i in indices)] or None,
            usage=_usage(self._usage),
        )
        _openai_attributes(response.attributes, last)
        if self._capture:
            response.output_messages = [self._message(s) for s in states]
        if response.usage is None and self._fold:
            response.output_texts = [self._text(s) for s in states]
        return response

    @staticmethod
    def _text(state: dict[str, Any]) -> str:
        tools = sorted(state["tools"].items(), key=_first_order)
        calls = [c["name"] + "".join(c["arguments"]) for _, c in tools]
        return "".join(state["content"]) + "".join(calls)

    @staticmethod
    def _message(state: dict[str, Any]) -> Message:
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": "".join(c["arguments"])},
            }
            for _, c in sorted(state["tools"].items(), key=_first_order)
        ]
        message = {"role": "assistant", "content": "".join(state["content"]) or None, "tool_calls": calls}
        return content.chat_output_message(message, state["finish_reason"])


# --- legacy Completions -------------------------------------------------------------------------


def completion_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map legacy ``completions.create`` arguments."""
    kwargs = present(kwargs)
    request = _request(instance, kwargs, sc.OP_TEXT_COMPLETION, None)
    prompt = kwargs.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else listed(prompt)  # a generator is the SDK's to read
    request.prompt_texts = lambda: [p if isinstance(p, str) else str(p) for p in prompts]
    if request.stream:
        options = kwargs.get("stream_options")
        request.expects_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    if capture:
        request.input_messages = [
            {"role": "user", "parts": [{"type": "text", "content": p if isinstance(p, str) else str(p)}]}
            for p in prompts
        ]
    return request


def completion_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a legacy Completion."""
    completion = _unwrap(result)
    return None if completion is None else _choices_response(completion, _text_choice if capture else None)


def _text_output(text: str, finish_reason: str | None) -> Message:
    part = {"type": "text", "content": text}
    return {
        "role": "assistant",
        "parts": [part],
        "finish_reason": content.output_finish_reason(finish_reason),
    }


class CompletionAccumulator:
    """Folds legacy Completion stream chunks: the first chunk's id and model, usage and finish reasons
    always; each choice's text with capture on (up to `LLMRequest.keep_chars`), or all of it when the
    stream will carry no usage (no include_usage), to count its tokens."""

    __slots__ = ("_capture", "_first", "_keep", "_reasons", "_texts", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._keep = kept.keep(request, capture)
        self._first: Any = None
        self._usage: Any = None
        self._reasons: dict[int, str] = {}
        self._texts: dict[int, list[str]] = {}

    def add(self, chunk: Any) -> None:
        if self._first is None:
            self._first = chunk
        usage = getattr(chunk, "usage", None)
        if usage:
            self._usage = usage
        texts = self._texts
        for choice in chunk.choices:
            index = choice.index
            text = texts.get(index)
            if text is None:
                text = texts[index] = kept.pieces(self._keep)
            text.append(choice.text or "")
            if choice.finish_reason:
                self._reasons[index] = choice.finish_reason

    def result(self) -> LLMResponse:
        first = self._first
        if first is None:
            return LLMResponse()
        texts, reasons = self._texts, self._reasons
        response = LLMResponse(
            response_id=first.id,
            model=first.model,
            finish_reasons=[reasons.get(i, "") for i in sorted(texts)] or None,
            usage=_usage(self._usage),
        )
        if self._capture:
            response.output_messages = [
                _text_output("".join(texts[i]), reasons.get(i)) for i in sorted(texts)
            ]
        if response.usage is None:
            response.output_texts = ["".join(texts[i]) for i in sorted(texts)]
        return response


# --- Embeddings ---------------------------------------------------------------------------------


def embeddings_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embeddings.create`` arguments (embeddings carry no content attributes)."""
    kwargs = present(kwargs)
    request = _request(instance, kwargs, sc.OP_EMBEDDINGS, None)
    encoding = kwargs.get("encoding_format")
    if encoding is not None:
        request.params[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
    return request


def embeddings_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a CreateEmbeddingResponse."""
    embeddings = _unwrap(result)
    if embeddings is None:
        return None
    response = LLMResponse(
        model=getattr(embeddings, "model", None), usage=_usage(getattr(embeddings, "usage", None))
    )
    data = getattr(embeddings, "data", None)
    if data:
        vector = data[0].embedding
        # base64 vectors are packed float32s: 4 bytes per dimension
        size = len(vector) if not isinstance(vector, str) else (len(vector) * 3 // 4 - vector.count("=")) // 4
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = size
    if response.usage is not None:
        response.usage.output_tokens = None
    return response


# --- Responses ----------------------------------------------------------------------------------


def responses_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``responses.create/parse`` arguments."""
    kwargs = present(kwargs)
    request = _request(instance, kwargs, sc.OP_CHAT, "responses")
    reasoning = kwargs.get("reasoning")
    if isinstance(reasoning, Mapping) and reasoning.get("effort"):
        request.params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = reasoning["effort"]
    previous = kwargs.get("previous_response_id")
    if previous:
        request.params[sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous
    conversation = kwargs.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, Mapping) else conversation
    if isinstance(conversation_id, str):
        request.params[sc.GEN_AI_CONVERSATION_ID] = conversation_id
    if capture:
        request.input_messages = content.responses_input_messages(kwargs.get("input"))
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            request.system_instructions = [{"type": "text", "content": instructions}]
        request.tool_definitions = content.tool_definitions(kwargs.get("tools")) or None
    return request


def _responses_finish_reason(response: Any) -> str:
    status = getattr(response, "status", None)
    if status in ("in_progress", "queued"):
        return ""  # not finished (a stream left early): no finish reason to claim
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None)
        return "length" if reason == "max_output_tokens" else (reason or "incomplete")
    if status == "failed":
        return "error"
    if any(
        getattr(item, "type", None) == "function_call" for item in getattr(response, "output", None) or ()
    ):
        return "tool_call"
    return "stop"


def responses_response(result: Any, capture: bool) -> LLMResponse | None:
    """Map a Responses API Response."""
    obj = _unwrap(result)
    if obj is None:
        return None
    finish = _responses_finish_reason(obj)
    response = LLMResponse(
        response_id=getattr(obj, "id", None),
        model=getattr(obj, "model", None),
        finish_reasons=[finish] if finish else None,
        usage=_usage(getattr(obj, "usage", None)),
    )
    _openai_attributes(response.attributes, obj)
    if capture:
        parts = content.responses_output_parts(getattr(obj, "output", None))
        response.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": finish}]
    return response


class ResponsesAccumulator:
    """Keeps the last full Response carried by the typed events (created ... completed): the server's
    own object, one at a time; no text is folded here."""

    __slots__ = ("_capture", "_response")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._response: Any = None

    def add(self, event: Any) -> None:
        response = getattr(event, "response", None)
        if response is not None:
            self._response = response

    def result(self) -> LLMResponse:
        if self._response is None:
            return LLMResponse()
        return responses_response(self._response, self._capture) or LLMResponse()


# --- the patch table ----------------------------------------------------------------------------

CHAT = Endpoint(chat_request, chat_response, ChatAccumulator, is_sdk_stream, is_unread_response)
CHAT_PARSE = Endpoint(chat_request, chat_response, is_deferred=is_unread_response)
COMPLETIONS = Endpoint(
    completion_request, completion_response, CompletionAccumulator, is_sdk_stream, is_unread_response
)
EMBEDDINGS = Endpoint(embeddings_request, embeddings_response, is_deferred=is_unread_response)
RESPONSES = Endpoint(
    responses_request, responses_response, ResponsesAccumulator, is_sdk_stream, is_unread_response
)
RESPONSES_PARSE = Endpoint(responses_request, responses_response, is_deferred=is_unread_response)


# The SDK's stream helpers close the HTTP response directly, bypassing the stream we returned from
# create(); end our span with them. `_raw_stream` is set in their __init__ (openai 3.54.0,
# lib/streaming/chat/_completions.py and lib/streaming/responses/_responses.py).
_CLOSE, _ACLOSE = end_stream_after("_raw_stream")

_CHAT = "openai.resources.chat.completions"
_BETA_CHAT = "openai.resources.beta.chat.completions"
_RESPONSES = "openai.resources.responses"
_CHAT_STREAM = "openai.lib.streaming.chat._completions"
_RESPONSES_STREAM = "openai.lib.streaming.responses._responses"

PATCHES = (
    Patch(_CHAT, "Completions.create", CHAT),
    Patch(_CHAT, "AsyncCompletions.create", CHAT),
    Patch(_CHAT, "Completions.parse", CHAT_PARSE),
    Patch(_CHAT, "AsyncCompletions.parse", CHAT_PARSE),
    Patch(_BETA_CHAT, "Completions.parse", CHAT_PARSE),  # openai < 1.92 had parse() under beta
    Patch(_BETA_CHAT, "AsyncCompletions.parse", CHAT_PARSE),
    Patch("openai.resources.completions", "Completions.create", COMPLETIONS),
    Patch("openai.resources.completions", "AsyncCompletions.create", COMPLETIONS),
    Patch("openai.resources.embeddings", "Embeddings.create", EMBEDDINGS),
    Patch("openai.resources.embeddings", "AsyncEmbeddings.create", EMBEDDINGS),
    Patch(_RESPONSES, "Responses.create", RESPONSES),
    Patch(_RESPONSES, "AsyncResponses.create", RESPONSES),
    Patch(_RESPONSES, "Responses.parse", RESPONSES_PARSE),
    Patch(_RESPONSES, "AsyncResponses.parse", RESPONSES_PARSE),
    Patch(_CHAT_STREAM, "ChatCompletionStream.close", wrapper=_CLOSE),
    Patch(_CHAT_STREAM, "AsyncChatCompletionStream.close", wrapper=_ACLOSE),
    Patch(_RESPONSES_STREAM, "ResponseStream.close", wrapper=_CLOSE),
    Patch(_RESPONSES_STREAM, "AsyncResponseStream.close", wrapper=_ACLOSE),
)
