"""Ollama (the ``ollama`` SDK): chat, generate, embed and the legacy embeddings, on ``Client`` and
``AsyncClient`` and through the module-level functions, streamed or not.

Only maps the SDK's shapes into call records; the core does the rest. Works with ollama 0.2 (plain dict
responses) to 0.6 (pydantic models): every field is read from either.

* The server is the client's host (``http://127.0.0.1:11434`` by default); the provider is ``ollama``.
* Usage: ``prompt_eval_count`` is the input, ``eval_count`` the output (thinking included: Ollama
  reports no separate reasoning count, nor cache counts; a prompt Ollama found in its cache is not
  evaluated and not counted). Local models have no price, so these calls have no cost unless the user
  adds one (``pricing=``).
* A streamed reply is a series of partial responses; the last (``done: true``) has the counts and
  ``done_reason``.
* ``generate`` is a ``text_completion`` (a prompt, not a conversation); ``system`` is its system
  instruction.
* The module-level functions (``ollama.chat`` ...) are methods of a default client bound when ollama is
  imported: they are patched as module attributes too, and a call through both layers is one span.
* Ollama's methods take their first arguments by position (``ollama.chat("llama3", messages)``): each
  endpoint names its positional parameters (`Endpoint.positional`), so the request mappers see them by
  name while the SDK gets the call as made.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Mapping
from typing import Any

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Message, Part, Usage
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._common import as_dict, listed

PROVIDER = "ollama"


def _get(obj: Any, name: str) -> Any:
    """A field of a response model (ollama >= 0.4) or of a dict (older releases)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _server(instance: Any) -> tuple[str | None, int | None]:
    """The host and port of the client's httpx client (ollama 0.6.3: _client.py, BaseClient.__init__
    keeps it as ``_client``, its base URL the ``host`` given or ``OLLAMA_HOST``)."""
    base = getattr(getattr(instance, "_client", None), "base_url", None)
    host = getattr(base, "host", None) or None
    port = getattr(base, "port", None)
    if port is None and host is not None:
        port = 443 if getattr(base, "scheme", "http") == "https" else 80
    return host, port


_OPTIONS = (
    ("num_predict", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("top_k", sc.GEN_AI_REQUEST_TOP_K),
    ("seed", sc.GEN_AI_REQUEST_SEED),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str) -> LLMRequest:
    host, port = _server(instance)
    params: dict[str, Any] = {}
    options = kwargs.get("options")
    if options is not None:
        for key, attr in _OPTIONS:
            value = _get(options, key)
            if value is not None:
                params[attr] = value
        stop = _get(options, "stop")
        if stop:
            params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(listed(stop))
    fmt = kwargs.get("format")
    if fmt:  # "json", or a JSON schema
        params[sc.GEN_AI_OUTPUT_TYPE] = "json"
    think = kwargs.get("think")
    if isinstance(think, str):  # "low" / "medium" / "high" (True/False only switch thinking on or off)
        params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = think
    model = kwargs.get("model")
    return LLMRequest(
        operation=operation,
        provider=PROVIDER,
        model=model or None,
        server_address=host,
        server_port=port,
        stream=bool(kwargs.get("stream")),
        params=params,
    )


def _usage(response: Any) -> Usage | None:
    prompt, generated = _get(response, "prompt_eval_count"), _get(response, "eval_count")
    if prompt is None and generated is None:
        return None
    return Usage(input_tokens=prompt, output_tokens=generated)


# --- content --------------------------------------------------------------------------------------


def _image(image: Any) -> Part:
    value = _get(image, "value") if not isinstance(image, (str, bytes)) else image
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode("ascii")
    return {"type": "blob", "modality": "image", "content": str(value)}


def _tool_calls(calls: Any) -> list[Part]:
    parts: list[Part] = []
    for call in calls or ():
        function = _get(call, "function")
        part = {"type": "tool_call", "id": _get(call, "id"), "name": _get(function, "name") or ""}
        part["arguments"] = _get(function, "arguments")  # an object already
        parts.append(part)
    return parts


def _message_parts(message: Any) -> list[Part]:
    parts: list[Part] = []
    thinking = _get(message, "thinking")
    if thinking:
        parts.append({"type": "reasoning", "content": thinking})
    text = _get(message, "content")
    if text:
        parts.append({"type": "text", "content": text})
    parts.extend(_image(i) for i in _get(message, "images") or ())
    parts.extend(_tool_calls(_get(message, "tool_calls")))
    return parts


def input_messages(messages: Any) -> list[Message]:
    """Chat ``messages`` in the order sent; a ``tool`` message is the result of a tool call."""
    result: list[Message] = []
    for message in listed(messages):
        role = str(_get(message, "role") or "user")
        if role == "tool":
            part: Part = {"type": "tool_call_response", "id": None, "response": _get(message, "content")}
            if _get(message, "tool_name"):
                part["name"] = _get(message, "tool_name")
            result.append({"role": role, "parts": [part]})
        else:
            result.append({"role": role, "parts": _message_parts(message)})
    return result


def output_finish_reason(reason: Any, tool_calls: bool) -> str:
    """``done_reason`` in the schema's vocabulary: Ollama says "stop" for a reply that calls tools."""
    if not reason:
        return ""
    return "tool_call" if tool_calls and reason == "stop" else str(reason)


def _output(parts: list[Part], reason: Any, tool_calls: bool) -> Message:
    return {"role": "assistant", "parts": parts, "finish_reason": output_finish_reason(reason, tool_calls)}


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """``tools``: JSON schemas, ollama Tools, or Python functions (named by the function)."""
    result: list[dict[str, Any]] = []
    for tool in listed(tools):
        if callable(tool) and not isinstance(tool, Mapping):
            entry: dict[str, Any] = {"type": "function", "name": getattr(tool, "__name__", str(tool))}
            doc = inspect.getdoc(tool)
            if doc:
                entry["description"] = doc.split("\n\n")[0].strip()
            result.append(entry)
            continue
        data = as_dict(tool)
        function = as_dict(data.get("function") or {})
        entry = {"type": data.get("type") or "function", "name": function.get("name") or ""}
        if function.get("description"):
            entry["description"] = function["description"]
        if function.get("parameters") is not None:
            entry["parameters"] = function["parameters"]
        result.append(entry)
    return result


# --- chat -----------------------------------------------------------------------------------------


def chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``chat`` arguments."""
    request = _request(instance, kwargs, sc.OP_CHAT)
    if capture:
        request.input_messages = input_messages(kwargs.get("messages"))
        request.tool_definitions = tool_definitions(kwargs.get("tools")) or None
    return request


def _reply(response: Any, message_parts: list[Part] | None, calls: bool) -> LLMResponse:
    reason = _get(response, "done_reason")
    result = LLMResponse(
        model=_get(response, "model"),
        finish_reasons=[str(reason)] if reason else None,
        usage=_usage(response) if _get(response, "done") else None,
    )
    if message_parts is not None:
        result.output_messages = [_output(message_parts, reason, calls)]
    return result


def chat_response(result: Any, capture: bool) -> LLMResponse:
    """Map a ChatResponse."""
    message = _get(result, "message")
    return _reply(result, _message_parts(message) if capture else None, bool(_get(message, "tool_calls")))


class ChatAccumulator:
    """Folds streamed ChatResponses: the model, counts and done_reason of the last one always; the
    message fragments (text, thinking, tool calls) with capture on (text and thinking each up to
    `LLMRequest.keep_chars`)."""

    __slots__ = ("_calls", "_last", "_text", "_thinking")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        keep = kept.keep(request, capture)
        self._last: Any = None
        self._text: list[str] | None = kept.pieces(keep) if capture else None
        self._thinking = kept.pieces(keep)
        self._calls: list[Any] = []

    def add(self, chunk: Any) -> None:
        self._last = chunk
        text = self._text
        if text is not None:
            message = _get(chunk, "message")
            piece = _get(message, "content")
            if piece:
                text.append(piece)
            thought = _get(message, "thinking")
            if thought:
                self._thinking.append(thought)
            self._calls.extend(_get(message, "tool_calls") or ())

    def result(self) -> LLMResponse:
        if self._last is None:
            return LLMResponse()
        parts: list[Part] | None = None
        if self._text is not None:
            message = {
                "thinking": "".join(self._thinking),
                "content": "".join(self._text),
                "tool_calls": self._calls,
            }
            parts = _message_parts(message)
        return _reply(self._last, parts, bool(self._calls))


# --- generate -------------------------------------------------------------------------------------


def generate_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``generate`` arguments: a text completion of ``prompt`` under the ``system`` instruction."""
    request = _request(instance, kwargs, sc.OP_TEXT_COMPLETION)
    if capture:
        prompt: Message = {"role": "user", "parts": [{"type": "text", "content": kwargs.get("prompt") or ""}]}
        prompt["parts"].extend(_image(i) for i in kwargs.get("images") or ())
        request.input_messages = [prompt]
        system = kwargs.get("system")
        if system:
            request.system_instructions = [{"type": "text", "content": str(system)}]
    return request


def _generated(thinking: Any, text: Any) -> list[Part]:
    parts: list[Part] = [{"type": "reasoning", "content": thinking}] if thinking else []
    parts.append({"type": "text", "content": text or ""})
    return parts


def generate_response(result: Any, capture: bool) -> LLMResponse:
    """Map a GenerateResponse."""
    parts = _generated(_get(result, "thinking"), _get(result, "response")) if capture else None
    return _reply(result, parts, False)


class GenerateAccumulator:
    """Folds streamed GenerateResponses (the text with capture on, up to `LLMRequest.keep_chars`)."""

    __slots__ = ("_last", "_text", "_thinking")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        keep = kept.keep(request, capture)
        self._last: Any = None
        self._text: list[str] | None = kept.pieces(keep) if capture else None
        self._thinking = kept.pieces(keep)

    def add(self, chunk: Any) -> None:
        self._last = chunk
        if self._text is not None:
            self._text.append(_get(chunk, "response") or "")
            thought = _get(chunk, "thinking")
            if thought:
                self._thinking.append(thought)

    def result(self) -> LLMResponse:
        if self._last is None:
            return LLMResponse()
        parts = None if self._text is None else _generated("".join(self._thinking), "".join(self._text))
        return _reply(self._last, parts, False)


# --- embed, embeddings ----------------------------------------------------------------------------


def embed_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embed`` / ``embeddings`` arguments (embeddings carry no content attributes)."""
    return _request(
        instance, {"model": kwargs.get("model"), "options": kwargs.get("options")}, sc.OP_EMBEDDINGS
    )


def embed_response(result: Any, capture: bool) -> LLMResponse:
    """Map an EmbedResponse (``embeddings``, with the input count) or an EmbeddingsResponse
    (``embedding``, without counts)."""
    prompt = _get(result, "prompt_eval_count")
    response = LLMResponse(
        model=_get(result, "model"), usage=None if prompt is None else Usage(input_tokens=prompt)
    )
    vectors = _get(result, "embeddings")
    vector = vectors[0] if vectors else _get(result, "embedding")
    if vector:
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
    return response


# --- the patch table ------------------------------------------------------------------------------

# The positional parameters: ollama 0.3 takes every parameter by position; later releases make those after
# the first two or three keyword-only (ollama 0.3.0 and 0.6.3: _client.py).
_CHAT_ARGS = ("model", "messages", "tools", "stream", "format", "options", "keep_alive")
_GENERATE_ARGS = (
    "model", "prompt", "suffix", "system", "template", "context", "stream", "raw", "format", "images",
    "options", "keep_alive",
)  # fmt: skip
_EMBED_ARGS = ("model", "input", "truncate", "options", "keep_alive", "dimensions")
_EMBEDDINGS_ARGS = ("model", "prompt", "options", "keep_alive")

CHAT = Endpoint(chat_request, chat_response, ChatAccumulator, positional=_CHAT_ARGS)
GENERATE = Endpoint(generate_request, generate_response, GenerateAccumulator, positional=_GENERATE_ARGS)
EMBED = Endpoint(embed_request, embed_response, positional=_EMBED_ARGS)
EMBEDDINGS = Endpoint(embed_request, embed_response, positional=_EMBEDDINGS_ARGS)

_ENDPOINTS = (("chat", CHAT), ("generate", GENERATE), ("embed", EMBED), ("embeddings", EMBEDDINGS))


def _patches(module: str, owners: tuple[str, ...]) -> tuple[Patch, ...]:
    return tuple(
        Patch(module, f"{owner}{method}", endpoint) for owner in owners for method, endpoint in _ENDPOINTS
    )


# A streamed call returns a generator (an async one from AsyncClient) that sends the request when read.
PATCHES: tuple[Patch, ...] = (
    *_patches("ollama._client", ("Client.", "AsyncClient.")),
    # `chat = _client.chat` ...: bound methods of the default client, made when ollama is imported
    # (ollama 0.6.3: __init__.py). Patched after the classes: when ollama is imported after instrument(),
    # they are bound to the patched class already, and a call through both layers is one span.
    *_patches("ollama", ("",)),
)
