"""Mistral AI through the mistralai SDK: chat complete and stream, and embeddings, sync and async.

Only maps the SDK's shapes into call records; the core does the rest. Works with mistralai 1.0.1 to 3.x
(the SDK moved from ``mistralai.*`` to ``mistralai.client.*`` in 2.0; both are listed, and the targets an
installed version lacks are skipped).

Usage: ``prompt_tokens`` is the input (it includes the cached tokens, reported apart as
``prompt_tokens_details.cached_tokens`` when the API sends them), ``completion_tokens`` the output
(reasoning models' thinking included; Mistral reports no reasoning count of its own).

One span per call. mistralai 1.10 to 2.4 start a span of their own for every API call whenever the
application has a global TracerProvider, and 2.5 on do when their telemetry is switched on
(``MISTRAL_SDK_TELEMETRY``, ``configure_telemetry``). Inside a call llmtrace traces, the SDK's hook gets
"tracing off" for that request, so llmtrace's span is the one inference span; other calls (files, agents,
OCR, ...) keep the SDK's span, and ``uninstrument()`` restores the hook. To keep the SDK's own spans for
chat too, leave Mistral out of llmtrace (``llmtrace.instrument(providers=[...])``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch, unless_in_call
from llmtrace._records import LLMRequest, LLMResponse, Message, Part, Usage
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._common import as_dict, listed

PROVIDER = "mistral_ai"

_Server = tuple["str | None", "int | None"]
_servers: dict[str, _Server] = {}


def _set(value: Any) -> Any:
    """`value`, or None for the SDK's ``UNSET`` sentinel (fields the server did not send)."""
    return None if value is None or type(value).__name__ == "Unset" else value


def _server(instance: Any, kwargs: Mapping[str, Any]) -> _Server:
    """(host, port) of the server a call goes to: its ``server_url`` argument, else the client's
    (``sdk_configuration.get_server_details()``: mistralai 1.0.1 and 3.7.0 ``sdkconfiguration.py``)."""
    url = kwargs.get("server_url")
    if not url:
        config = getattr(instance, "sdk_configuration", None)
        url = config.get_server_details()[0] if config is not None else None
    key = str(url)
    cached = _servers.get(key)
    if cached is not None:
        return cached
    parts = urlsplit(key) if url else None
    host = (parts.hostname if parts is not None else None) or None
    port = parts.port if parts is not None else None
    if port is None and host is not None:
        port = 80 if parts is not None and parts.scheme == "http" else 443
    if len(_servers) < 256:  # bounded: server URLs come from user code
        _servers[key] = (host, port)
    return host, port


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str) -> LLMRequest:
    host, port = _server(instance, kwargs)
    model = _set(kwargs.get("model"))
    return LLMRequest(
        operation=operation, provider=PROVIDER, model=model, server_address=host, server_port=port
    )


_PARAMS = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("top_k", sc.GEN_AI_REQUEST_TOP_K),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("random_seed", sc.GEN_AI_REQUEST_SEED),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("reasoning_effort", sc.GEN_AI_REQUEST_REASONING_LEVEL),
)


def _output_type(response_format: Any) -> str | None:
    kind = _set(as_dict(response_format).get("type")) if response_format is not None else None
    kind = getattr(kind, "value", kind)
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    data = as_dict(usage)  # the cache details are an extra field (3.x) or unknown (1.x, dropped)
    details = data.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        input_tokens=data.get("prompt_tokens"),
        output_tokens=data.get("completion_tokens"),
        cache_read_input_tokens=cached,
    )


# --- content (capture on) -----------------------------------------------------------------------

# Mistral finish reasons in the schema's vocabulary (gen_ai.response.finish_reasons keeps the raw value).
_FINISH = {"tool_calls": "tool_call", "model_length": "length"}


def _output_finish_reason(reason: str | None) -> str:
    return "" if reason is None else _FINISH.get(reason, reason)


def _arguments(raw: Any) -> Any:
    """Tool-call arguments (a JSON string or an object) as an object, which the schema prefers."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _chunk_part(chunk: Mapping[str, Any]) -> Part:
    kind = chunk.get("type")
    if kind == "text":
        return {"type": "text", "content": chunk.get("text", "")}
    if kind == "thinking":
        thoughts = chunk.get("thinking") or ()
        text = "".join(str(as_dict(t).get("text", "")) for t in thoughts)
        return {"type": "reasoning", "content": text}
    if kind == "image_url":
        url = chunk.get("image_url")
        url = str((url.get("url") if isinstance(url, Mapping) else url) or "")
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            return {
                "type": "blob",
                "modality": "image",
                "mime_type": header[5:].split(";")[0],
                "content": data,
            }
        return {"type": "uri", "modality": "image", "uri": url}
    if kind == "document_url":
        return {"type": "uri", "modality": "document", "uri": chunk.get("document_url", "")}
    if kind == "file":
        return {"type": "file", "modality": "document", "file_id": chunk.get("file_id", "")}
    if kind == "input_audio":
        return {"type": "blob", "modality": "audio", "content": chunk.get("input_audio", "")}
    return {"type": str(kind or "unknown")}


def _content_parts(content: Any) -> list[Part]:
    content = _set(content)
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    chunks = content if isinstance(content, Iterable) else [content]
    return [_chunk_part(as_dict(c)) for c in chunks]


def _tool_call_parts(calls: Any) -> list[Part]:
    parts: list[Part] = []
    for raw in _set(calls) or ():
        call = as_dict(raw)
        function = as_dict(call.get("function") or {})
        call_id = call.get("id")
        parts.append(
            {
                "type": "tool_call",
                "id": None if call_id in (None, "null") else call_id,  # the SDK's default id is "null"
                "name": function.get("name", ""),
                "arguments": _arguments(function.get("arguments")),
            }
        )
    return parts


def input_messages(messages: Any) -> list[Message]:
    """``messages`` in the order sent (system messages stay in the history, as the API takes them)."""
    result: list[Message] = []
    for raw in listed(messages):
        message = as_dict(raw)
        role = str(message.get("role") or "user")
        if role == "tool":
            parts: list[Part] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _content_parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
        result.append({"role": role, "parts": parts})
    return result


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """``tools`` as definitions (the core trims them to type and name by default)."""
    result: list[dict[str, Any]] = []
    for raw in listed(_set(tools)):
        tool = as_dict(raw)
        function = as_dict(tool.get("function") or {})
        entry: dict[str, Any] = {
            "type": str(tool.get("type") or "function"),
            "name": function.get("name", ""),
        }
        if function.get("description"):
            entry["description"] = function["description"]
        if function.get("parameters") is not None:
            entry["parameters"] = function["parameters"]
        result.append(entry)
    return result or None


def _output_message(message: Any, reason: str | None) -> Message:
    data = as_dict(message) if message is not None else {}
    parts = _content_parts(data.get("content")) + _tool_call_parts(data.get("tool_calls"))
    return {"role": "assistant", "parts": parts, "finish_reason": _output_finish_reason(reason)}


# --- chat ---------------------------------------------------------------------------------------


def chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``chat.complete(_async)`` arguments."""
    request = _request(instance, kwargs, sc.OP_CHAT)
    params = request.params
    for key, attr in _PARAMS:
        value = _set(kwargs.get(key))
        if value is not None:
            params[attr] = getattr(value, "value", value)
    stop = _set(kwargs.get("stop"))
    if stop:
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(listed(stop))
    n = _set(kwargs.get("n"))
    if n is not None and n != 1:
        params[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    output_type = _output_type(_set(kwargs.get("response_format")))
    if output_type is not None:
        params[sc.GEN_AI_OUTPUT_TYPE] = output_type
    if capture:
        request.input_messages = input_messages(kwargs.get("messages"))
        request.tool_definitions = tool_definitions(kwargs.get("tools"))
    return request


def stream_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``chat.stream(_async)`` arguments (always a stream)."""
    request = chat_request(instance, kwargs, capture)
    request.stream = True
    return request


def chat_response(result: Any, capture: bool) -> LLMResponse:
    """Map a ChatCompletionResponse."""
    choices = result.choices or []
    reasons = [_set(c.finish_reason) for c in choices]
    response = LLMResponse(
        response_id=result.id,
        model=result.model,
        finish_reasons=[str(r or "") for r in reasons] or None,
        usage=_usage(_set(result.usage)),
    )
    if capture:
        response.output_messages = [
            _output_message(_set(c.message), r) for c, r in zip(choices, reasons, strict=True)
        ]
    return response


class ChatAccumulator:
    """Folds streamed CompletionEvents: id, model, usage (in the last chunk) and finish reasons always;
    with capture on, each choice's text, thinking and tool calls (each up to `LLMRequest.keep_chars`)."""

    __slots__ = ("_choices", "_id", "_keep", "_model", "_reasons", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._keep = kept.keep(request, capture)
        self._id: str | None = None
        self._model: str | None = None
        self._usage: Any = None
        self._reasons: dict[int, str | None] = {}
        self._choices: dict[int, dict[str, Any]] | None = {} if capture else None

    def add(self, event: Any) -> None:
        chunk = event.data
        if self._id is None:
            self._id = chunk.id
            self._model = chunk.model
        usage = _set(chunk.usage)
        if usage is not None:
            self._usage = usage
        for choice in chunk.choices:
            reason = _set(choice.finish_reason)
            if reason is not None or choice.index not in self._reasons:
                self._reasons[choice.index] = reason
            if self._choices is not None:
                state = self._choices.get(choice.index)
                if state is None:
                    state = self._choices[choice.index] = _choice_state(self._keep)
                _fold(state, choice.delta)

    def result(self) -> LLMResponse:
        indices = sorted(self._reasons)
        reasons = [self._reasons[i] for i in indices]
        response = LLMResponse(
            response_id=self._id,
            model=self._model,
            finish_reasons=[str(r or "") for r in reasons] if any(reasons) else None,
            usage=_usage(self._usage),
        )
        if self._choices is not None and indices:
            response.output_messages = [
                _assembled(self._choices.get(i), r) for i, r in zip(indices, reasons, strict=True)
            ]
        return response


def _choice_state(keep: int | None) -> dict[str, Any]:
    return {"text": kept.pieces(keep), "thinking": kept.pieces(keep), "calls": [], "keep": keep}


def _fold(state: dict[str, Any], delta: Any) -> None:
    content = _set(delta.content)
    if isinstance(content, str):
        state["text"].append(content)
    elif content is not None:
        for part in _content_parts(content):
            if part["type"] == "text":
                state["text"].append(part["content"])
            elif part["type"] == "reasoning":
                state["thinking"].append(part["content"])
    calls: list[dict[str, Any]] = state["calls"]
    for raw in _set(delta.tool_calls) or ():
        call_id = _set(raw.id)
        call_id = None if call_id == "null" else call_id
        name = raw.function.name
        arguments = raw.function.arguments
        last = calls[-1] if calls else None
        if last is not None and (call_id == last["id"] if call_id else not name):
            last["arguments"].append(arguments)  # a continuation of the call before it
        else:
            calls.append(
                {"id": call_id, "name": name or "", "arguments": kept.pieces(state["keep"], arguments)}
            )


def _assembled(state: dict[str, Any] | None, reason: str | None) -> Message:
    parts: list[Part] = []
    if state is not None:
        if state["thinking"]:
            parts.append({"type": "reasoning", "content": "".join(state["thinking"])})
        text = "".join(state["text"])
        if text:
            parts.append({"type": "text", "content": text})
        for call in state["calls"]:
            pieces = call["arguments"]
            raw = (
                pieces[0]
                if len(pieces) == 1
                else "".join(p if isinstance(p, str) else json.dumps(p) for p in pieces)
            )
            parts.append(
                {"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": _arguments(raw)}
            )
    return {"role": "assistant", "parts": parts, "finish_reason": _output_finish_reason(reason)}


# --- embeddings ---------------------------------------------------------------------------------


def embeddings_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embeddings.create(_async)`` arguments (embeddings carry no content attributes)."""
    request = _request(instance, kwargs, sc.OP_EMBEDDINGS)
    encoding = _set(kwargs.get("encoding_format"))
    if encoding is not None:
        request.params[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(getattr(encoding, "value", encoding))]
    return request


def embeddings_response(result: Any, capture: bool) -> LLMResponse:
    """Map an EmbeddingResponse."""
    response = LLMResponse(response_id=result.id, model=result.model, usage=_usage(_set(result.usage)))
    if response.usage is not None:
        response.usage.output_tokens = None
    data = result.data or []
    vector = _set(data[0].embedding) if data else None
    if isinstance(vector, list):
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
    return response


# --- the SDK's own spans --------------------------------------------------------------------------


def sdk_span_unless_in_call(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Raw wrapper for the SDK's ``get_traced_request_and_span(tracing_enabled, tracer, span, operation_id,
    request)``: inside a call llmtrace traces, call it with tracing off, its own "no span" path, which
    returns the request untouched and no span (mistralai 1.12.4 and 3.7.0
    ``extra/observability/otel.py``); elsewhere call it as it is."""
    traced = unless_in_call(wrapped, instance, args, kwargs)
    if traced is not None:  # outside a traced call (the function always returns a tuple)
        return traced
    if args:
        return wrapped(False, *args[1:], **kwargs)
    return wrapped(*args, **{**kwargs, "tracing_enabled": False})


# --- the patch table ----------------------------------------------------------------------------

CHAT = Endpoint(chat_request, chat_response)
STREAM = Endpoint(stream_request, chat_response, ChatAccumulator)
EMBEDDINGS = Endpoint(embeddings_request, embeddings_response)


def _patches(package: str) -> tuple[Patch, ...]:
    return (
        Patch(f"{package}.chat", "Chat.complete", CHAT),
        Patch(f"{package}.chat", "Chat.complete_async", CHAT),
        Patch(f"{package}.chat", "Chat.stream", STREAM),
        Patch(f"{package}.chat", "Chat.stream_async", STREAM),
        Patch(f"{package}.embeddings", "Embeddings.create", EMBEDDINGS),
        Patch(f"{package}.embeddings", "Embeddings.create_async", EMBEDDINGS),
        # The SDK's span-starting function, as its tracing hook imported it (mistralai 1.12.4
        # _hooks/tracing.py, 3.7.0 client/_hooks/tracing.py); absent before 1.10.
        Patch(f"{package}._hooks.tracing", "get_traced_request_and_span", wrapper=sdk_span_unless_in_call),
    )


PATCHES = (*_patches("mistralai.client"), *_patches("mistralai"))
"""mistralai >= 2 (``mistralai.client``) and 1.x (``mistralai``)."""
