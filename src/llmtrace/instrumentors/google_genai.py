"""Google Gemini through the google-genai SDK, on the Gemini Developer API (``gcp.gemini``) and on Vertex AI
(``gcp.vertex_ai``): generate_content, generate_content_stream and embed_content, sync and ``client.aio``.

Only maps the SDK's shapes into call records; the core does the rest. Works with google-genai 1.11 to 3.x.

One span per model request. ``generate_content`` may send several: automatic function calling (Python
functions given as tools) calls the model again with each function's result, and automatic continuation
(google-genai 3.x) follows continuation tokens; each request has its own usage, which the merged response
does not add up. So the SDK's per-request methods are traced (``Models._generate_content`` and
``_generate_content_stream``, and their ``AsyncModels`` twins; private, present with the same keyword
arguments from 1.11 to 3.4.0, see google-genai 3.4.0 ``models.py``), and every way in (``models.*``,
``chats``, ``client.aio``) goes through them. A stream the caller leaves early ends its span when the SDK
drops the request's stream (``llmtrace.stream.abandoned``), since the SDK's generators do not close it.

``gen_ai.request.model`` is the model as the caller named it (``gemini-2.5-flash``, ``models/...``,
``publishers/google/models/...``); ``gen_ai.response.model`` is the ``modelVersion`` that answered.
``gen_ai.response.id`` is the ``responseId``, which google-genai < 1.29 drops from Gemini API responses.

Usage, in semconv terms:

* input = ``prompt_token_count`` (which already counts the cached tokens) + ``tool_use_prompt_token_count``
  (results of Google-side tools such as search grounding or code execution fed back to the model; billed
  as input, and part of ``total_token_count``);
* cache read = ``cached_content_token_count``; Gemini reports no cache writes;
* output = ``candidates_token_count`` + ``thoughts_token_count`` (thinking is billed as output), and
  reasoning = ``thoughts_token_count``. So input + output = ``total_token_count``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Message, Part, Usage
from llmtrace.instrumentors import _google_genai_content as content
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._google_genai_content import enum_value, field

PROVIDER = "gcp.gemini"
VERTEX = "gcp.vertex_ai"

_Server = tuple[str, "str | None", "int | None"]
_servers: dict[tuple[bool, str], _Server] = {}


def _server(instance: Any) -> _Server:
    """(provider, host, port) of the client behind a ``Models``/``AsyncModels`` (cached per base URL).

    ``_api_client`` with ``vertexai`` and ``_http_options.base_url``: the same from google-genai 1.11.0
    to 3.4.0 (``_api_module.py`` and ``_api_client.py``).
    """
    api = getattr(instance, "_api_client", None)
    vertex = bool(getattr(api, "vertexai", False))
    base = field(getattr(api, "_http_options", None), "base_url")
    key = (vertex, str(base))
    cached = _servers.get(key)
    if cached is not None:
        return cached
    url = urlsplit(str(base)) if base else None
    host = (url.hostname if url is not None else None) or None
    port = url.port if url is not None else None
    if port is None and host is not None:
        port = 80 if url is not None and url.scheme == "http" else 443
    result = (VERTEX if vertex else PROVIDER, host, port)
    if len(_servers) < 256:  # bounded: base URLs come from user code
        _servers[key] = result
    return result


def _output_type(config: Any) -> str | None:
    mime = field(config, "response_mime_type")
    if (
        mime == "application/json"
        or field(config, "response_schema")
        or field(config, "response_json_schema")
    ):
        return "json"
    if mime is not None:
        return "text" if str(mime).startswith("text/") else None
    modalities = [str(enum_value(m)).upper() for m in field(config, "response_modalities") or ()]
    if "IMAGE" in modalities:
        return "image"
    if "AUDIO" in modalities:
        return "speech"
    return None


_PARAMS = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("max_output_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("seed", sc.GEN_AI_REQUEST_SEED),
)


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str) -> LLMRequest:
    provider, host, port = _server(instance)
    model = kwargs.get("model")
    return LLMRequest(
        operation=operation,
        provider=provider,
        model=model if isinstance(model, str) else None,
        server_address=host,
        server_port=port,
    )


# --- generate_content ---------------------------------------------------------------------------


def generate_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map one generateContent request: ``model``, ``contents`` and ``config`` (a dict or a model)."""
    request = _request(instance, kwargs, sc.OP_GENERATE_CONTENT)
    config = kwargs.get("config")
    params = request.params
    if config is not None:
        for key, attr in _PARAMS:
            value = field(config, key)
            if value is not None:
                params[attr] = value
        top_k = field(config, "top_k")
        if top_k is not None:
            params[sc.GEN_AI_REQUEST_TOP_K] = int(top_k)  # the SDK types it as a float; semconv: an int
        stop = field(config, "stop_sequences")
        if stop:
            params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(stop)
        count = field(config, "candidate_count")
        if count is not None and count != 1:
            params[sc.GEN_AI_REQUEST_CHOICE_COUNT] = count
        level = field(field(config, "thinking_config"), "thinking_level")
        if level is not None:
            params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = str(enum_value(level))
        output_type = _output_type(config)
        if output_type is not None:
            params[sc.GEN_AI_OUTPUT_TYPE] = output_type
    if capture:
        request.input_messages = content.input_messages(kwargs.get("contents"))
        if config is not None:
            request.system_instructions = content.system_instructions(field(config, "system_instruction"))
            request.tool_definitions = content.tool_definitions(field(config, "tools"))
    return request


def stream_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map one streamGenerateContent request."""
    request = generate_request(instance, kwargs, capture)
    request.stream = True
    return request


def _usage(meta: Any) -> Usage | None:
    """``usage_metadata`` in semconv terms (see the module docstring); None when it has no counts yet
    (Vertex streams send only the traffic type before the last chunk)."""
    if meta is None:
        return None
    prompt = meta.prompt_token_count
    candidates = meta.candidates_token_count
    thoughts = meta.thoughts_token_count
    if prompt is None and candidates is None and thoughts is None:
        return None
    tool_use = getattr(meta, "tool_use_prompt_token_count", None)
    return Usage(
        input_tokens=None if prompt is None else prompt + (tool_use or 0),
        output_tokens=(candidates or 0) + (thoughts or 0),
        cache_read_input_tokens=getattr(meta, "cached_content_token_count", None),
        reasoning_output_tokens=thoughts,
    )


def _reason(candidate: Any) -> str | None:
    reason = candidate.finish_reason
    return None if reason is None else str(enum_value(reason))


def _finish_reasons(reasons: list[str | None]) -> list[str] | None:
    """One per candidate ("" for one that has not finished); None when none has."""
    return [r or "" for r in reasons] if any(reasons) else None


def generate_response(result: Any, capture: bool) -> LLMResponse:
    """Map a GenerateContentResponse."""
    candidates = result.candidates or []
    reasons = [_reason(c) for c in candidates]
    response = LLMResponse(
        response_id=result.response_id,
        model=result.model_version,
        finish_reasons=_finish_reasons(reasons),
        usage=_usage(result.usage_metadata),
    )
    if capture:
        response.output_messages = [
            content.output_message(c.content, reason) for c, reason in zip(candidates, reasons, strict=True)
        ]
    return response


class GenerateAccumulator:
    """Folds streamed GenerateContentResponse chunks: ids, the latest (cumulative) usage and each
    candidate's finish reason always; with capture on, each candidate's parts, text pieces joined (each
    text up to `LLMRequest.keep_chars`)."""

    __slots__ = ("_id", "_keep", "_model", "_parts", "_reasons", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._keep = kept.keep(request, capture)
        self._id: str | None = None
        self._model: str | None = None
        self._usage: Any = None
        self._reasons: dict[int, str | None] = {}
        self._parts: dict[int, list[Part]] | None = {} if capture else None

    def add(self, chunk: Any) -> None:
        if self._id is None:
            self._id = chunk.response_id
        if chunk.model_version:
            self._model = chunk.model_version
        usage = chunk.usage_metadata
        if usage is not None and usage.prompt_token_count is not None:
            self._usage = usage
        for candidate in chunk.candidates or ():
            index = candidate.index or 0
            reason = candidate.finish_reason
            if reason is not None or index not in self._reasons:
                self._reasons[index] = None if reason is None else str(enum_value(reason))
            if self._parts is not None and candidate.content is not None:
                _fold(self._parts.setdefault(index, []), candidate.content.parts, self._keep)

    def result(self) -> LLMResponse:
        indices = sorted(self._reasons)
        reasons = [self._reasons[i] for i in indices]
        response = LLMResponse(
            response_id=self._id,
            model=self._model,
            finish_reasons=_finish_reasons(reasons),
            usage=_usage(self._usage),
        )
        if self._parts is not None and indices:
            response.output_messages = [
                _message(self._parts.get(i, []), r) for i, r in zip(indices, reasons, strict=True)
            ]
        return response


def _fold(parts: list[Part], pieces: Any, keep: int | None) -> None:
    """Append a chunk's parts; a text or thought piece continues the part before it if of the same type
    (its pieces are kept in a list, joined once at the end)."""
    for piece in pieces or ():
        mapped = content.part(piece)
        if mapped is None:
            continue
        last = parts[-1] if parts else None
        kind = mapped["type"]
        if kind in ("text", "reasoning"):
            if last is not None and last["type"] == kind:
                last["content"].append(mapped["content"])
            else:
                parts.append({"type": kind, "content": kept.pieces(keep, mapped["content"])})
        else:
            parts.append(mapped)


def _message(parts: list[Part], reason: str | None) -> Message:
    joined = [
        {**p, "content": "".join(p["content"])} if p["type"] in ("text", "reasoning") else p for p in parts
    ]
    return {
        "role": "assistant",
        "parts": joined,
        "finish_reason": content.output_finish_reason(reason, joined),
    }


# --- embed_content ------------------------------------------------------------------------------


def embed_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embed_content`` arguments (embeddings carry no content attributes)."""
    return _request(instance, kwargs, sc.OP_EMBEDDINGS)


def embed_response(result: Any, capture: bool) -> LLMResponse:
    """Map an EmbedContentResponse: the Gemini API's usage metadata when it sends one, else the token
    counts Vertex AI reports per embedding (the Gemini API's older responses report none)."""
    response = LLMResponse()
    embeddings = result.embeddings or []
    if embeddings and embeddings[0].values:
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(embeddings[0].values)
    meta = getattr(result, "usage_metadata", None)
    tokens = None if meta is None else meta.prompt_token_count
    if tokens is None:
        counts = [field(e.statistics, "token_count") for e in embeddings]
        if counts and all(c is not None for c in counts):
            tokens = int(sum(counts))
    if tokens is not None:
        response.usage = Usage(input_tokens=tokens)
    return response


# --- the patch table ----------------------------------------------------------------------------

GENERATE = Endpoint(generate_request, generate_response)
GENERATE_STREAM = Endpoint(stream_request, generate_response, GenerateAccumulator)
EMBED = Endpoint(embed_request, embed_response)

_MODELS = "google.genai.models"

PATCHES = (
    Patch(_MODELS, "Models._generate_content", GENERATE),
    Patch(_MODELS, "AsyncModels._generate_content", GENERATE),
    Patch(_MODELS, "Models._generate_content_stream", GENERATE_STREAM),
    Patch(_MODELS, "AsyncModels._generate_content_stream", GENERATE_STREAM),
    Patch(_MODELS, "Models.embed_content", EMBED),
    Patch(_MODELS, "AsyncModels.embed_content", EMBED),
)
