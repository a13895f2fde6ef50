"""Amazon Bedrock InvokeModel bodies -> call records: the native JSON of each model family (Anthropic
messages and legacy completions, Amazon Nova and Titan, Meta Llama, Mistral, Cohere, OpenAI-style chat,
embeddings), requests, responses and response streams.

Pure functions over decoded JSON. The family is told by the model id's vendor (``us.anthropic.…``),
else by the body's shape; responses and stream events by their shape alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtrace import _semconv as sc
from llmtrace._records import LLMRequest, LLMResponse, Message, Part
from llmtrace.instrumentors import _anthropic_content, _openai_content
from llmtrace.instrumentors import anthropic as _anthropic
from llmtrace.instrumentors._bedrock_content import (
    ConverseFold,
    converse_messages,
    converse_output,
    converse_system,
    converse_tools,
    converse_usage,
    finish_reason,
    first,
    metrics_usage,
    set_params,
    text_message,
    usage_of,
)

_MAX_TOKENS = sc.GEN_AI_REQUEST_MAX_TOKENS
_TEMPERATURE = sc.GEN_AI_REQUEST_TEMPERATURE
_TOP_P = sc.GEN_AI_REQUEST_TOP_P
_TOP_K = sc.GEN_AI_REQUEST_TOP_K
_STOP = sc.GEN_AI_REQUEST_STOP_SEQUENCES


# --- InvokeModel: the request bodies of each model family ------------------------------------------------

_REGIONS = frozenset({"us", "eu", "apac", "au", "ca", "jp", "us-gov", "global"})


def family_of(model: Any, body: Mapping[str, Any]) -> str:
    """The model family of an InvokeModel call: by the vendor of its model id (``us.anthropic.…``,
    the part after ``/`` of an ARN), else by the body's shape (application inference profiles)."""
    name = str(model or "").lower().rsplit("/", 1)[-1]
    parts = name.split(".")
    vendor = parts[1] if len(parts) > 2 and parts[0] in _REGIONS else parts[0]
    if vendor == "anthropic" or "anthropic_version" in body:
        return "anthropic"
    if vendor == "amazon":
        return "embed" if "embed" in name else "titan" if "titan" in name else "nova"
    if (vendor == "cohere" and "embed" in name) or "texts" in body:
        return "embed"
    if "message" in body:
        return "cohere"
    if "schemaVersion" in body or "inputText" in body:
        return "nova" if "schemaVersion" in body else "titan"
    messages = body.get("messages")
    if isinstance(messages, list):
        first = messages[0] if messages else None
        content = first.get("content") if isinstance(first, Mapping) else None
        block = content[0] if isinstance(content, list) and content else None
        # Converse-shaped blocks ({"text": ...}) are Nova's; typed ones ({"type": "text", ...}) OpenAI-style.
        return "nova" if isinstance(block, Mapping) and "type" not in block else "chat"
    return "prompt" if "prompt" in body else "other"


_ANTHROPIC_PARAMS = (
    (_MAX_TOKENS, ("max_tokens", "max_tokens_to_sample")),
    (_TEMPERATURE, ("temperature",)),
    (_TOP_P, ("top_p",)),
    (_TOP_K, ("top_k",)),
    (_STOP, ("stop_sequences",)),
)
_NOVA_PARAMS = (
    (_MAX_TOKENS, ("max_new_tokens", "maxTokens")),
    (_TEMPERATURE, ("temperature",)),
    (_TOP_P, ("top_p", "topP")),
    (_TOP_K, ("top_k", "topK")),
    (_STOP, ("stopSequences", "stop_sequences")),
)
_TITAN_PARAMS = (
    (_MAX_TOKENS, ("maxTokenCount",)),
    (_TEMPERATURE, ("temperature",)),
    (_TOP_P, ("topP",)),
    (_STOP, ("stopSequences",)),
)
# Meta Llama, Mistral (prompt), Cohere Command (prompt), DeepSeek, and OpenAI-style chat bodies.
_GENERIC_PARAMS = (
    (_MAX_TOKENS, ("max_gen_len", "max_tokens", "max_completion_tokens", "maxTokens")),
    (_TEMPERATURE, ("temperature",)),
    (_TOP_P, ("top_p", "p", "topP")),
    (_TOP_K, ("top_k", "k", "topK")),
    (_STOP, ("stop", "stop_sequences", "stopSequences")),
    (sc.GEN_AI_REQUEST_SEED, ("seed",)),
    (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, ("frequency_penalty",)),
    (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, ("presence_penalty",)),
)

_COHERE_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


def _cohere_message(entry: Mapping[str, Any]) -> Message:
    role = _COHERE_ROLES.get(str(entry.get("role", "USER")).upper(), str(entry.get("role")).lower())
    parts: list[Part] = []
    if entry.get("message"):
        parts.append({"type": "text", "content": entry["message"]})
    parts += cohere_calls(entry.get("tool_calls"))
    parts += _cohere_results(entry.get("tool_results"))
    return {"role": role, "parts": parts}


def cohere_calls(calls: Any) -> list[Part]:
    return [
        {"type": "tool_call", "id": None, "name": c.get("name", ""), "arguments": c.get("parameters")}
        for c in calls or ()
        if isinstance(c, Mapping)
    ]


def _cohere_results(results: Any) -> list[Part]:
    return [
        {"type": "tool_call_response", "id": None, "response": r.get("outputs")}
        for r in results or ()
        if isinstance(r, Mapping)
    ]


def _cohere_request(request: LLMRequest, body: Mapping[str, Any], capture: bool) -> None:
    set_params(request.params, body, _GENERIC_PARAMS)
    if not capture:
        return
    messages = [_cohere_message(m) for m in body.get("chat_history") or () if isinstance(m, Mapping)]
    if body.get("tool_results"):
        messages.append({"role": "tool", "parts": _cohere_results(body["tool_results"])})
    if body.get("message"):
        messages.append(text_message("user", body["message"]))
    request.input_messages = messages
    if isinstance(body.get("preamble"), str) and body["preamble"]:
        request.system_instructions = [{"type": "text", "content": body["preamble"]}]
    tools = [
        {
            "type": "function",
            "name": t.get("name", ""),
            **({"description": t["description"]} if t.get("description") else {}),
            **({"parameters": t["parameter_definitions"]} if t.get("parameter_definitions") else {}),
        }
        for t in body.get("tools") or ()
        if isinstance(t, Mapping)
    ]
    request.tool_definitions = tools or None


def invoke_request(request: LLMRequest, body: Mapping[str, Any], capture: bool) -> None:
    """Fill `request` (operation, parameters, content) from an InvokeModel JSON body."""
    family = family_of(request.model, body)
    params = request.params
    if family == "anthropic":
        legacy = "messages" not in body and "prompt" in body
        request.operation = sc.OP_TEXT_COMPLETION if legacy else sc.OP_CHAT
        set_params(params, body, _ANTHROPIC_PARAMS)
        effort = first(body.get("output_config"), "effort")
        if isinstance(effort, str):
            params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        if capture and legacy:
            request.input_messages = [text_message("user", body["prompt"])]
        elif capture:
            request.input_messages = _anthropic_content.input_messages(body.get("messages"))
            request.system_instructions = _anthropic_content.system_instructions(body.get("system"))
            request.tool_definitions = _anthropic_content.tool_definitions(body.get("tools"))
    elif family == "nova":
        set_params(params, body.get("inferenceConfig"), _NOVA_PARAMS)
        if capture:
            request.input_messages = converse_messages(body.get("messages"))
            request.system_instructions = converse_system(body.get("system"))
            request.tool_definitions = converse_tools(body.get("toolConfig"))
    elif family == "titan":
        request.operation = sc.OP_TEXT_COMPLETION
        set_params(params, body.get("textGenerationConfig"), _TITAN_PARAMS)
        if capture and isinstance(body.get("inputText"), str):
            request.input_messages = [text_message("user", body["inputText"])]
    elif family == "embed":
        request.operation = sc.OP_EMBEDDINGS
        formats = body.get("embedding_types")
        if isinstance(formats, list) and formats:
            params[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(f) for f in formats]
    elif family == "cohere":
        _cohere_request(request, body, capture)
    elif family == "chat":
        set_params(params, body, _GENERIC_PARAMS)
        if capture:
            request.input_messages = _openai_content.chat_input_messages(body.get("messages"))
            request.tool_definitions = _openai_content.tool_definitions(body.get("tools")) or None
    elif family == "prompt":
        request.operation = sc.OP_TEXT_COMPLETION
        set_params(params, body, _GENERIC_PARAMS)
        if capture:
            request.input_messages = [text_message("user", body["prompt"])]


# --- InvokeModel: response bodies -------------------------------------------------------------------


def _reasons(reasons: list[Any]) -> list[str] | None:
    return [str(r) if r else "" for r in reasons] or None


def _texts_response(texts: list[tuple[str, Any]], capture: bool, **fields: Any) -> LLMResponse:
    """One output message (and finish reason) per (text, stop reason) generated."""
    response = LLMResponse(finish_reasons=_reasons([stop for _, stop in texts]), **fields)
    if capture:
        response.output_messages = [text_output(text, stop) for text, stop in texts]
    return response


def text_output(text: str, stop: Any) -> Message:
    return {
        "role": "assistant",
        "parts": [{"type": "text", "content": text}],
        "finish_reason": finish_reason(stop),
    }


def _embeddings_response(body: Mapping[str, Any]) -> LLMResponse:
    vectors = body.get("embeddings")
    if isinstance(vectors, Mapping):  # Cohere with embedding_types: {"float": [[...]], ...}
        vectors = next(iter(vectors.values()), None)
    vector = body.get("embedding") if "embedding" in body else (vectors[0] if vectors else None)
    response = LLMResponse(response_id=body.get("id"))
    count = body.get("inputTextTokenCount")
    if count is not None:
        response.usage = usage_of(count, None)
    if isinstance(vector, list):
        response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
    return response


def _cohere_response(body: Mapping[str, Any], capture: bool) -> LLMResponse:
    stop = body.get("finish_reason")
    billed = first(body.get("meta"), "billed_units")  # semconv: Cohere's billed counts
    response = LLMResponse(
        response_id=body.get("response_id"),
        finish_reasons=[str(stop)] if stop else None,
        usage=usage_of(first(billed, "input_tokens"), first(billed, "output_tokens")),
    )
    if capture:
        parts: list[Part] = [{"type": "text", "content": body["text"]}] if body.get("text") else []
        parts += cohere_calls(body.get("tool_calls"))
        response.output_messages = [
            {"role": "assistant", "parts": parts, "finish_reason": finish_reason(stop)}
        ]
    return response


def _chat_response(body: Mapping[str, Any], capture: bool) -> LLMResponse:
    """An OpenAI-style body (Mistral chat, OpenAI and DeepSeek models): choices and usage."""
    choices = [c for c in body.get("choices") or () if isinstance(c, Mapping)]
    reasons = [first(c, "finish_reason", "stop_reason") for c in choices]
    usage = body.get("usage")
    response = LLMResponse(
        response_id=body.get("id"),
        model=body.get("model"),
        finish_reasons=_reasons(reasons),
        usage=usage_of(first(usage, "prompt_tokens"), first(usage, "completion_tokens")),
    )
    if capture:
        response.output_messages = []
        for choice, reason in zip(choices, reasons, strict=True):
            message = first(choice, "message", "delta") or {"content": choice.get("text")}
            output = _openai_content.chat_output_message(message, reason)
            # Mistral sends "" beside tool calls where OpenAI sends null: no empty text part
            output["parts"] = [p for p in output["parts"] if p != {"type": "text", "content": ""}]
            response.output_messages.append(output)
    return response


def response_of(body: Mapping[str, Any], capture: bool) -> LLMResponse:
    """An InvokeModel response body, told apart by its shape."""
    if body.get("type") == "message" or ("content" in body and "stop_reason" in body):
        return _anthropic.messages_response(body, capture) or LLMResponse()
    if "completion" in body:  # Anthropic Text Completions
        return _texts_response([(str(body["completion"]), body.get("stop_reason"))], capture)
    output = body.get("output")
    if isinstance(output, Mapping):  # Nova: the Converse shape
        stop = body.get("stopReason")
        response = LLMResponse(
            finish_reasons=[stop] if stop else None, usage=converse_usage(body.get("usage"))
        )
        if capture:
            response.output_messages = [converse_output(output.get("message"), stop)]
        return response
    if "results" in body:  # Titan Text
        results = [r for r in body["results"] or () if isinstance(r, Mapping)]
        out = sum(r.get("tokenCount") or 0 for r in results) if results else None
        usage = usage_of(body.get("inputTextTokenCount"), out)
        texts = [(str(r.get("outputText") or ""), r.get("completionReason")) for r in results]
        return _texts_response(texts, capture, usage=usage)
    if "embedding" in body or "embeddings" in body:
        return _embeddings_response(body)
    if "generation" in body:  # Meta Llama
        usage = usage_of(body.get("prompt_token_count"), body.get("generation_token_count"))
        return _texts_response([(str(body["generation"]), body.get("stop_reason"))], capture, usage=usage)
    if "outputs" in body:  # Mistral (prompt)
        outputs = [o for o in body["outputs"] or () if isinstance(o, Mapping)]
        return _texts_response([(str(o.get("text") or ""), o.get("stop_reason")) for o in outputs], capture)
    if "choices" in body:
        return _chat_response(body, capture)
    if "generations" in body:  # Cohere Command (prompt)
        generations = [g for g in body["generations"] or () if isinstance(g, Mapping)]
        texts = [(str(g.get("text") or ""), g.get("finish_reason")) for g in generations]
        return _texts_response(texts, capture, response_id=body.get("id"))
    if "text" in body:  # Cohere Command R
        return _cohere_response(body, capture)
    return LLMResponse()


# --- InvokeModelWithResponseStream: the decoded chunks --------------------------------------------------


def _anthropic_stream(events: list[Mapping[str, Any]], capture: bool) -> LLMResponse:
    """Anthropic message events folded into the final message, mapped like a non-streamed one."""
    message: Mapping[str, Any] | None = None
    later: Mapping[str, Any] = {}
    stop = None
    blocks: dict[int, dict[str, Any]] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
        elif kind == "message_delta":
            stop = first(event.get("delta"), "stop_reason") or stop
            later = event.get("usage") or later
        elif kind == "content_block_start" and capture:
            blocks[event.get("index", 0)] = {"block": dict(event.get("content_block") or {}), "pieces": []}
        elif kind == "content_block_delta" and capture:
            state = blocks.get(event.get("index", 0))
            delta = event.get("delta") or {}
            piece = first(delta, "text", "partial_json", "thinking")
            if state is not None and isinstance(piece, str):
                state["pieces"].append(piece)
    if message is None:
        return LLMResponse()
    # message_delta's counts are cumulative; message_start's stand where it has none.
    usage = {**(message.get("usage") or {}), **{k: v for k, v in later.items() if v is not None}}
    # the Anthropic instrumentor's block assembly (text, thinking, tool input JSON), shared, not copied
    content = [_anthropic._assembled(blocks[i]) for i in sorted(blocks)]
    final = {**message, "stop_reason": stop, "usage": usage, "content": content}
    return _anthropic.messages_response(final, capture) or LLMResponse()


_TEXT_KEYS = ("outputText", "generation", "completion", "text")
_STOP_KEYS = ("completionReason", "stop_reason", "finish_reason")


def _piece(event: Mapping[str, Any]) -> tuple[Any, Any]:
    """(text, stop reason) of one chunk of a text-generating family."""
    for key in ("outputs", "choices"):  # Mistral (prompt), OpenAI-style
        items = event.get(key)
        if isinstance(items, list) and items and isinstance(items[0], Mapping):
            item = items[0]
            message = first(item, "delta", "message")
            return first(item, "text") or first(message, "content"), first(item, *_STOP_KEYS)
    return first(event, *_TEXT_KEYS), first(event, *_STOP_KEYS)


def _text_stream(events: list[Mapping[str, Any]], capture: bool) -> LLMResponse:
    """Titan, Llama, Mistral, Cohere and legacy Anthropic chunks: text pieces, the last stop reason."""
    last = events[-1]
    final = last.get("response")
    if isinstance(final, Mapping) and "text" in final:  # Cohere's stream-end carries the whole response
        return _cohere_response(final, capture)
    pieces: list[str] = []
    stop = fresh = output = None
    for event in events:
        text, reason = _piece(event)
        if isinstance(text, str):
            pieces.append(text)
        stop = reason or stop
        if fresh is None:
            fresh = first(event, "inputTextTokenCount", "prompt_token_count")
        output = first(event, "totalOutputTextTokenCount", "generation_token_count") or output
    return _texts_response([("".join(pieces), stop)], capture, usage=usage_of(fresh, output))


def stream_text(event: Mapping[str, Any]) -> tuple[Any, int] | None:
    """(the part, its length) of the text a decoded stream chunk carries (a content block, the one
    generated text), as the folds here read it; None for a chunk carrying none (starts, stops, usage)."""
    if event.get("type") == "content_block_delta":  # Anthropic
        piece = first(event.get("delta"), "text", "partial_json", "thinking")
        return (event.get("index", 0), len(piece)) if isinstance(piece, str) else None
    delta = event.get("contentBlockDelta")  # Nova: the Converse events
    if isinstance(delta, Mapping):
        body = delta.get("delta")
        piece = first(body, "text") or first(first(body, "toolUse"), "input")
        piece = piece or first(first(body, "reasoningContent"), "text")
        return (delta.get("contentBlockIndex", 0), len(piece)) if isinstance(piece, str) else None
    text, _ = _piece(event)
    return (None, len(text)) if isinstance(text, str) else None


def stream_response(events: list[Mapping[str, Any]], capture: bool) -> LLMResponse:
    """The decoded chunks of an InvokeModelWithResponseStream (all, or with capture off the first and
    the last few), folded by the family their shape shows; usage from the body's own counts, else from
    the ``amazon-bedrock-invocationMetrics`` Bedrock adds to the last chunk."""
    if not events:
        return LLMResponse()
    head = events[0]
    if str(head.get("type", "")).startswith(("message_", "content_block_")):
        response = _anthropic_stream(events, capture)
    elif any(key in head for key in ("messageStart", "contentBlockDelta", "contentBlockStart", "metadata")):
        fold = ConverseFold(capture)  # Nova streams the Converse events
        for event in events:
            fold.add(event)
        response = fold.result()
    else:
        response = _text_stream(events, capture)
    if response.usage is None:
        response.usage = metrics_usage(events[-1].get("amazon-bedrock-invocationMetrics"))
    return response
