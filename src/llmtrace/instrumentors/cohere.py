"""Cohere (the ``cohere`` SDK): Chat v2 and v1, streamed or not, embed and rerank; sync and async.

Only maps the SDK's shapes into call records; the core does the rest. Works with cohere 5.x to 7.x:
targets missing from an installed version are skipped (``ClientV2`` came in 5.9, its embed and rerank
later).

* Usage is what Cohere **bills** (``usage.billed_units`` in v2, ``meta.billed_units`` in v1), as the
  semconv asks for Cohere, not the larger count of tokens the model consumed (``tokens``, which adds the
  prompt template); the consumed count is used only when a response has no billed units. Cohere reports
  no cache or reasoning subsets of the billed counts (its ``cached_tokens`` counts consumed tokens).
* The responses name no model, so spans have no ``gen_ai.response.model``; cost uses the request's.
* ``rerank`` is a ``retrieval`` span (the semconv operation for "find the documents relevant to a
  query"; there is no rerank operation): ``top_n`` is ``gen_ai.retrieval.top_k``, and the results are
  documents whose id is their index in the request, with their relevance score (ids and scores with
  content capture on; the count and the score range always). Rerank is billed per search, not per
  token: it has no usage and no cost.
* A client binds ``chat`` and ``chat_stream`` per instance when it is built (cohere's ``validate_args``
  and ``experimental_kwarg_decorator`` in client.py), so a client built *before* ``llmtrace.instrument()``
  keeps calling the unpatched methods for those two: build clients after instrumenting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Usage
from llmtrace.decorators import retrieval_attributes
from llmtrace.instrumentors import _cohere_content as content
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._common import listed

PROVIDER = "cohere"

_servers: dict[str, tuple[str, str | None, int | None]] = {}


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or of a dict; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    """The request's value for `key`, treating the SDK's OMIT sentinel (``...``) as absent."""
    value = kwargs.get(key)
    return None if value is None or value is Ellipsis else value


def _server(instance: Any) -> tuple[str, str | None, int | None]:
    """(provider, host, port) of a client, from its base URL (cached per client class and URL)."""
    wrapper = getattr(instance, "_client_wrapper", None)
    base = str(wrapper.get_base_url()) if wrapper is not None else ""
    name = type(instance).__name__
    key = f"{name}|{base}"
    cached = _servers.get(key)
    if cached is not None:
        return cached
    url = urlsplit(base)
    host = url.hostname
    port = url.port or (None if host is None else (80 if url.scheme == "http" else 443))
    provider = "aws.bedrock" if "Bedrock" in name or (host or "").startswith("bedrock-runtime.") else PROVIDER
    result = (provider, host, port)
    if len(_servers) < 256:  # bounded: base URLs come from user code
        _servers[key] = result
    return result


def _request(instance: Any, kwargs: Mapping[str, Any], operation: str, stream: bool) -> LLMRequest:
    provider, host, port = _server(instance)
    params: dict[str, Any] = {}
    for key, attr in (
        ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("p", sc.GEN_AI_REQUEST_TOP_P),
        ("k", sc.GEN_AI_REQUEST_TOP_K),
        ("seed", sc.GEN_AI_REQUEST_SEED),
        ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ):
        value = given(kwargs, key)
        if value is not None:
            params[attr] = value
    stop = given(kwargs, "stop_sequences")
    if stop:
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(listed(stop))
    fmt = _get(given(kwargs, "response_format"), "type")
    if fmt in ("json_object", "json"):
        params[sc.GEN_AI_OUTPUT_TYPE] = "json"
    elif fmt == "text":
        params[sc.GEN_AI_OUTPUT_TYPE] = "text"
    return LLMRequest(
        operation=operation,
        provider=provider,
        model=given(kwargs, "model"),
        server_address=host,
        server_port=port,
        stream=stream,
        params=params,
    )


def _number(value: Any) -> int | None:
    """A token count (Cohere sends them as floats)."""
    return None if value is None else int(value)


def _usage(usage: Any) -> Usage | None:
    """Billed input and output tokens (consumed ones only if nothing is billed) of a v2 ``usage`` or v1
    ``meta``."""
    counts = _get(usage, "billed_units") or _get(usage, "tokens")
    if counts is None:
        return None
    input_tokens = _number(_get(counts, "input_tokens"))
    output_tokens = _number(_get(counts, "output_tokens"))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def _reasons(reason: Any) -> list[str] | None:
    return [str(reason)] if reason else None


# --- Chat v2 --------------------------------------------------------------------------------------


def v2_chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``ClientV2.chat`` arguments."""
    return _v2_chat(instance, kwargs, capture, stream=False)


def v2_chat_stream_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``ClientV2.chat_stream`` arguments."""
    return _v2_chat(instance, kwargs, capture, stream=True)


def _v2_chat(instance: Any, kwargs: Mapping[str, Any], capture: bool, stream: bool) -> LLMRequest:
    request = _request(instance, kwargs, sc.OP_CHAT, stream)
    if capture:
        request.input_messages = content.v2_input_messages(given(kwargs, "messages"))
        request.tool_definitions = content.tool_definitions(given(kwargs, "tools")) or None
    return request


def v2_chat_response(result: Any, capture: bool) -> LLMResponse:
    """Map a V2ChatResponse."""
    reason = _get(result, "finish_reason")
    response = LLMResponse(
        response_id=_get(result, "id"), finish_reasons=_reasons(reason), usage=_usage(_get(result, "usage"))
    )
    if capture:
        response.output_messages = [content.v2_output_message(_get(result, "message"), reason)]
    return response


class V2ChatAccumulator:
    """Folds Chat v2 stream events (message-start ... message-end): the id, finish reason and usage
    always; the content, tool plan and tool calls with capture on (each up to `LLMRequest.keep_chars`)."""

    __slots__ = ("_calls", "_contents", "_id", "_keep", "_plan", "_reason", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._keep = kept.keep(request, capture)
        self._id: str | None = None
        self._reason: str | None = None
        self._usage: Any = None
        self._contents: dict[int, dict[str, Any]] | None = {} if capture else None
        self._calls: dict[int, dict[str, Any]] = {}
        self._plan = kept.pieces(self._keep)

    def add(self, event: Any) -> None:
        kind = event.type
        contents = self._contents
        if kind == "content-delta":
            if contents is not None:
                item = _get(_get(event.delta, "message"), "content")
                state = contents.get(event.index or 0)
                if state is None:
                    state = contents[event.index or 0] = {"type": "text", "pieces": kept.pieces(self._keep)}
                state["pieces"].append(_get(item, "text") or _get(item, "thinking") or "")
        elif kind == "message-start":
            self._id = _get(event, "id")
        elif kind == "message-end":
            self._reason = _get(event.delta, "finish_reason")
            self._usage = _get(event.delta, "usage")
        elif contents is not None:
            self._fold(kind, event, contents)

    def _fold(self, kind: str, event: Any, contents: dict[int, dict[str, Any]]) -> None:
        message = _get(_get(event, "delta"), "message")
        if kind == "content-start":
            item = _get(message, "content")
            kind_of = _get(item, "type") or "text"
            first = _get(item, "thinking" if kind_of == "thinking" else "text") or ""
            contents[event.index or 0] = {"type": kind_of, "pieces": kept.pieces(self._keep, first)}
        elif kind == "tool-plan-delta":
            self._plan.append(_get(message, "tool_plan") or "")
        elif kind == "tool-call-start":
            call = _get(message, "tool_calls")
            function = _get(call, "function")
            self._calls[event.index or 0] = {
                "id": _get(call, "id"),
                "name": _get(function, "name") or "",
                "arguments": kept.pieces(self._keep, _get(function, "arguments") or ""),
            }
        elif kind == "tool-call-delta":
            state = self._calls.get(event.index or 0)
            if state is not None:
                piece = _get(_get(_get(message, "tool_calls"), "function"), "arguments")
                state["arguments"].append(piece or "")

    def result(self) -> LLMResponse:
        response = LLMResponse(
            response_id=self._id, finish_reasons=_reasons(self._reason), usage=_usage(self._usage)
        )
        if self._contents is not None:
            items = []
            for index in sorted(self._contents):
                state = self._contents[index]
                field = "thinking" if state["type"] == "thinking" else "text"
                items.append({"type": state["type"], field: "".join(state["pieces"])})
            calls = [
                {"id": c["id"], "function": {"name": c["name"], "arguments": "".join(c["arguments"])}}
                for _, c in sorted(self._calls.items())
            ]
            message = {"tool_plan": "".join(self._plan) or None, "content": items, "tool_calls": calls}
            response.output_messages = [content.v2_output_message(message, self._reason)]
        return response


# --- Chat v1 --------------------------------------------------------------------------------------


def v1_chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``Client.chat`` arguments (this turn's ``message`` after the ``chat_history``)."""
    return _v1_chat(instance, kwargs, capture, stream=False)


def v1_chat_stream_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``Client.chat_stream`` arguments."""
    return _v1_chat(instance, kwargs, capture, stream=True)


def _v1_chat(instance: Any, kwargs: Mapping[str, Any], capture: bool, stream: bool) -> LLMRequest:
    request = _request(instance, kwargs, sc.OP_CHAT, stream)
    if capture:
        request.input_messages = content.v1_input_messages(
            given(kwargs, "chat_history"), given(kwargs, "message"), given(kwargs, "tool_results")
        )
        preamble = given(kwargs, "preamble")
        if preamble:
            request.system_instructions = [{"type": "text", "content": str(preamble)}]
        request.tool_definitions = content.tool_definitions(given(kwargs, "tools")) or None
    return request


def _v1_response(reply: Any, reason: Any, capture: bool) -> LLMResponse:
    response = LLMResponse(
        # the reply's id (v2's ``id`` is the same thing); response_id names the whole API response
        response_id=_get(reply, "generation_id") or _get(reply, "response_id"),
        finish_reasons=_reasons(reason),
        usage=_usage(_get(reply, "meta")),
    )
    if capture:
        text, calls = _get(reply, "text"), _get(reply, "tool_calls")
        response.output_messages = [content.v1_output_message(text, calls, reason)]
    return response


def v1_chat_response(result: Any, capture: bool) -> LLMResponse:
    """Map a v1 NonStreamedChatResponse."""
    return _v1_response(result, _get(result, "finish_reason"), capture)


class V1ChatAccumulator:
    """Folds Chat v1 stream events: stream-end carries the whole reply; before it, the generation id
    from stream-start and, with capture on, the text so far (up to `LLMRequest.keep_chars`)."""

    __slots__ = ("_capture", "_end", "_id", "_pieces")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._id: str | None = None
        self._end: Any = None
        self._pieces = kept.pieces(kept.keep(request, capture))

    def add(self, event: Any) -> None:
        kind = event.event_type
        if kind == "text-generation":
            if self._capture:
                self._pieces.append(event.text or "")
        elif kind == "stream-start":
            self._id = event.generation_id
        elif kind == "stream-end":
            self._end = event

    def result(self) -> LLMResponse:
        end = self._end
        if end is not None:
            reply = _get(end, "response")
            response = _v1_response(
                reply, _get(end, "finish_reason") or _get(reply, "finish_reason"), self._capture
            )
            response.response_id = response.response_id or self._id
            return response
        response = LLMResponse(response_id=self._id)
        if self._capture and self._id is not None:
            response.output_messages = [content.v1_output_message("".join(self._pieces), None, None)]
        return response


# --- embed ----------------------------------------------------------------------------------------


def embed_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embed`` arguments (v1 and v2; embeddings carry no content attributes)."""
    request = _request(instance, {"model": kwargs.get("model")}, sc.OP_EMBEDDINGS, False)
    types = given(kwargs, "embedding_types")
    if types:
        request.params[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(t) for t in types]
    return request


def _dimensions(embeddings: Any) -> int | None:
    """The length of the first vector: ``embeddings`` is a list of vectors (v1 floats) or, by type, an
    object of such lists (``float``, ``int8``, ...; binary types pack 8 dimensions per value)."""
    if isinstance(embeddings, list):
        return len(embeddings[0]) if embeddings and isinstance(embeddings[0], list) else None
    data = _by_type(embeddings)
    for kind, vectors in data.items():
        if vectors:
            size = len(vectors[0])
            return size * 8 if kind in ("binary", "ubinary") else size
    return None


def _by_type(obj: Any) -> dict[str, Any]:
    """An embeddings-by-type object as {type: vectors} (only the types present)."""
    if isinstance(obj, Mapping):
        return {k: v for k, v in obj.items() if v}
    fields = getattr(type(obj), "model_fields", None) or {}
    extra = getattr(obj, "model_extra", None) or {}
    return {k: v for k in [*fields, *extra] if (v := getattr(obj, k, None))}


def embed_response(result: Any, capture: bool) -> LLMResponse:
    """Map an embed response (v1 floats or by type, v2 by type): billed input tokens, dimensions."""
    usage = _usage(_get(result, "meta"))
    if usage is not None:
        usage.output_tokens = None
    response = LLMResponse(response_id=_get(result, "id"), usage=usage)
    size = _dimensions(_get(result, "embeddings"))
    if size is not None:
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = size
    return response


# --- rerank ---------------------------------------------------------------------------------------


def rerank_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``rerank`` arguments (v1 and v2): a ``retrieval`` whose top_k is ``top_n``."""
    request = _request(instance, {"model": kwargs.get("model")}, sc.OP_RETRIEVAL, False)
    top_n = given(kwargs, "top_n")
    if isinstance(top_n, int):
        request.params[sc.GEN_AI_RETRIEVAL_TOP_K] = top_n
    query = given(kwargs, "query")
    if capture and isinstance(query, str):
        request.query = query  # content: the core puts it through the scrubbers, hook and limits
    return request


def rerank_response(result: Any, capture: bool) -> LLMResponse:
    """Map a rerank response: the ranked documents (id: their index in the request) and their scores."""
    documents = [
        {"id": str(_get(r, "index")), "score": _get(r, "relevance_score")}
        for r in _get(result, "results") or ()
    ]
    response = LLMResponse(response_id=_get(result, "id"))
    response.attributes.update(retrieval_attributes(documents, capture))
    return response


# --- the patch table ------------------------------------------------------------------------------

V2_CHAT = Endpoint(v2_chat_request, v2_chat_response)
V2_CHAT_STREAM = Endpoint(v2_chat_stream_request, v2_chat_response, V2ChatAccumulator)
V1_CHAT = Endpoint(v1_chat_request, v1_chat_response)
V1_CHAT_STREAM = Endpoint(v1_chat_stream_request, v1_chat_response, V1ChatAccumulator)
EMBED = Endpoint(embed_request, embed_response)
RERANK = Endpoint(rerank_request, rerank_response)

# chat_stream is a generator function (an async generator on the async clients): the request is sent
# when the caller starts reading, and the generator is the stream the span follows.
_V2 = "cohere.v2.client"
_V1 = "cohere.base_client"
# Client.embed (v1) splits long input into batches, each a BaseCohere.embed call made in a thread pool
# (asyncio.gather on the async client): the span is the user's call, the batches run inside it.
_BATCHING = "cohere.client"

PATCHES = (
    Patch(_V2, "V2Client.chat", V2_CHAT),
    Patch(_V2, "AsyncV2Client.chat", V2_CHAT),
    Patch(_V2, "V2Client.chat_stream", V2_CHAT_STREAM),
    Patch(_V2, "AsyncV2Client.chat_stream", V2_CHAT_STREAM),
    Patch(_V2, "V2Client.embed", EMBED),
    Patch(_V2, "AsyncV2Client.embed", EMBED),
    Patch(_V2, "V2Client.rerank", RERANK),
    Patch(_V2, "AsyncV2Client.rerank", RERANK),
    Patch(_V1, "BaseCohere.chat", V1_CHAT),
    Patch(_V1, "AsyncBaseCohere.chat", V1_CHAT),
    Patch(_V1, "BaseCohere.chat_stream", V1_CHAT_STREAM),
    Patch(_V1, "AsyncBaseCohere.chat_stream", V1_CHAT_STREAM),
    Patch(_V1, "BaseCohere.embed", EMBED),
    Patch(_V1, "AsyncBaseCohere.embed", EMBED),
    Patch(_V1, "BaseCohere.rerank", RERANK),
    Patch(_V1, "AsyncBaseCohere.rerank", RERANK),
    Patch(_BATCHING, "Client.embed", EMBED),
    Patch(_BATCHING, "AsyncClient.embed", EMBED),
)
