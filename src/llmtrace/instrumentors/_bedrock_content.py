"""Amazon Bedrock shapes -> call records: Converse content blocks, and the native JSON bodies of the model
families InvokeModel serves (Anthropic, Amazon Nova and Titan, Meta Llama, Mistral, Cohere, OpenAI-style).

Pure functions over plain data: botocore returns dicts, and InvokeModel bodies are JSON. Content mapping
runs only with content capture on; usage, finish reasons and request parameters always.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._records import LLMResponse, Message, Part, Usage
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors import _openai_content

# Stop reasons of every family in the schema's `finish_reason` vocabulary (gen_ai.response.finish_reasons
# keeps the raw value); any other reason is kept as it is.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "FINISH": "stop",
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "max_tokens": "length",
    "length": "length",
    "LENGTH": "length",
    "MAX_TOKENS": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "TOOL_CALL": "tool_call",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "CONTENT_FILTERED": "content_filter",
    "ERROR_TOXIC": "content_filter",
    "ERROR": "error",
}


def finish_reason(reason: Any) -> str:
    """A stop reason in the schema's vocabulary; "" for a message that never finished (a cut stream)."""
    if not reason:
        return ""
    return _FINISH.get(str(reason), str(reason))


def first(source: Any, *keys: str) -> Any:
    """The value of the first of `keys` that `source` (a mapping) has, not None."""
    if type(source) is not dict and not isinstance(source, Mapping):  # decoded JSON: dicts, fast
        return None
    for key in keys:
        value = source.get(key)
        if value is not None:
            return value
    return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


_INTS = frozenset({sc.GEN_AI_REQUEST_TOP_K, sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_SEED})


def set_params(
    out: dict[str, AttributeValue], source: Any, table: Iterable[tuple[str, tuple[str, ...]]]
) -> None:
    """For each (attribute, spellings) of `table`, the first spelling `source` has, as that attribute
    (semconv types: stop sequences a list of strings, counts ints, the sampling parameters doubles)."""
    for attribute, keys in table:
        value = first(source, *keys)
        if value is None or isinstance(value, bool):
            continue
        if attribute == sc.GEN_AI_REQUEST_STOP_SEQUENCES:
            if isinstance(value, (str, list, tuple)):
                out[attribute] = [value] if isinstance(value, str) else [str(v) for v in value]
        elif isinstance(value, (int, float)):
            out[attribute] = int(value) if attribute in _INTS else float(value)


CONVERSE_PARAMS = (
    (sc.GEN_AI_REQUEST_MAX_TOKENS, ("maxTokens",)),
    (sc.GEN_AI_REQUEST_TEMPERATURE, ("temperature",)),
    (sc.GEN_AI_REQUEST_TOP_P, ("topP",)),
    (sc.GEN_AI_REQUEST_STOP_SEQUENCES, ("stopSequences",)),
)
"""Converse ``inferenceConfig``."""


# --- usage ------------------------------------------------------------------------------------------


def usage_of(fresh: Any, output: Any, read: Any = None, write: Any = None, total: Any = None) -> Usage | None:
    """Usage in semconv terms from counts whose input may exclude the cache reads and writes.

    Bedrock reports the uncached input apart from the cache reads and writes (Converse ``usage``, the
    invocation-metrics headers and stream trailer, Anthropic bodies): then the input is their sum. Where
    a ``total`` shows the input already includes them (total = input + output), it is kept as it is.
    """
    fresh, output, read, write, total = (_int(v) for v in (fresh, output, read, write, total))
    if fresh is None and output is None:
        return None
    cached = (read or 0) + (write or 0)
    includes = total is not None and cached and total == (fresh or 0) + (output or 0)
    return Usage(
        input_tokens=None if fresh is None else fresh + (0 if includes else cached),
        output_tokens=output,
        cache_read_input_tokens=read,
        cache_write_input_tokens=write,
    )


def converse_usage(usage: Any) -> Usage | None:
    """Converse ``usage`` (and Nova's InvokeModel ``usage``, which spells the cache counts ``...Count``)."""
    if not isinstance(usage, Mapping):
        return None
    return usage_of(
        usage.get("inputTokens"),
        usage.get("outputTokens"),
        first(usage, "cacheReadInputTokens", "cacheReadInputTokenCount"),
        first(usage, "cacheWriteInputTokens", "cacheWriteInputTokenCount"),
        usage.get("totalTokens"),
    )


def metrics_usage(metrics: Any) -> Usage | None:
    """The ``amazon-bedrock-invocationMetrics`` of a stream's last chunk: Bedrock's billed counts."""
    if not isinstance(metrics, Mapping):
        return None
    return usage_of(
        metrics.get("inputTokenCount"),
        metrics.get("outputTokenCount"),
        metrics.get("cacheReadInputTokenCount"),
        metrics.get("cacheWriteInputTokenCount"),
    )


def header_usage(headers: Any) -> Usage | None:
    """InvokeModel's ``X-Amzn-Bedrock-*-Token-Count`` headers (botocore lower-cases header names)."""
    if not isinstance(headers, Mapping):
        return None
    prefix = "x-amzn-bedrock-"
    return usage_of(
        headers.get(prefix + "input-token-count"),
        headers.get(prefix + "output-token-count"),
        headers.get(prefix + "cache-read-input-token-count"),
        headers.get(prefix + "cache-write-input-token-count"),
    )


# --- Converse content blocks --------------------------------------------------------------------------

_MIME = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _media_part(block: Any, modality: str) -> Part:
    """An image, document or video block: inline bytes as a blob, an S3 object as a uri."""
    if not isinstance(block, Mapping):
        return {"type": modality}
    fmt = block.get("format")
    mime = None
    if isinstance(fmt, str):
        mime = _MIME.get(fmt) if modality == "document" else f"{modality}/{fmt}"
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    part: Part
    if "bytes" in source:
        data = source["bytes"]
        # Converse takes raw bytes (botocore base64-encodes them); InvokeModel bodies already hold base64.
        text = base64.b64encode(data).decode("ascii") if isinstance(data, (bytes, bytearray)) else str(data)
        part = {"type": "blob", "modality": modality, "content": text}
    elif "s3Location" in source:
        part = {"type": "uri", "modality": modality, "uri": str(first(source["s3Location"], "uri") or "")}
    elif isinstance(source.get("text"), str):  # a plain-text document
        return {"type": "text", "content": source["text"]}
    else:
        return {"type": modality}
    if mime is not None:
        part["mime_type"] = mime
    return part


def _tool_result(content: Any) -> Any:
    """A toolResult's content: its text when it is only text, its JSON when it is one JSON block."""
    if not isinstance(content, list):
        return content
    if content and all(isinstance(b, Mapping) and "text" in b for b in content):
        return "".join(str(b["text"]) for b in content)
    if len(content) == 1 and isinstance(content[0], Mapping) and "json" in content[0]:
        return content[0]["json"]
    values: list[Any] = []
    for block in content:
        if isinstance(block, Mapping) and "json" in block:
            values.append(block["json"])
        elif isinstance(block, Mapping) and "text" in block:
            values.append({"type": "text", "content": block["text"]})
        else:
            values.append(block_part(block))
    return values


def block_part(block: Any) -> Part | None:
    """One Converse content block as a schema part (None for a cache checkpoint, which is no content)."""
    if not isinstance(block, Mapping) or not block:
        return {"type": "unknown"}
    if "text" in block:
        return {"type": "text", "content": block["text"]}
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_call",
            "id": use.get("toolUseId"),
            "name": use.get("name", ""),
            "arguments": use.get("input"),
        }
    if "toolResult" in block:
        result = block["toolResult"]
        return {
            "type": "tool_call_response",
            "id": result.get("toolUseId"),
            "response": _tool_result(result.get("content")),
        }
    if "reasoningContent" in block:
        reasoning = block["reasoningContent"]
        text = first(reasoning.get("reasoningText"), "text") if isinstance(reasoning, Mapping) else None
        if text is None and isinstance(reasoning, Mapping) and "redactedContent" in reasoning:
            return {"type": "reasoning", "content": "", "redacted": True}
        return {"type": "reasoning", "content": text or ""}
    for modality in ("image", "document", "video"):
        if modality in block:
            return _media_part(block[modality], modality)
    if "guardContent" in block:
        guarded = block["guardContent"]
        text = first(guarded.get("text"), "text") if isinstance(guarded, Mapping) else None
        return {"type": "text", "content": text} if isinstance(text, str) else {"type": "guard_content"}
    if "citationsContent" in block:
        pieces = first(block["citationsContent"], "content") or []
        return {"type": "text", "content": "".join(str(first(p, "text") or "") for p in pieces)}
    if "cachePoint" in block:
        return None
    return {"type": str(next(iter(block)))}


def content_parts(content: Any) -> list[Part]:
    """A message's content blocks as parts, in order."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = [block_part(block) for block in content or ()]
    return [p for p in parts if p is not None]


def converse_messages(messages: Any) -> list[Message]:
    """Converse ``messages`` in the order sent (tool results stay in the user message carrying them)."""
    return [
        {"role": str(first(m, "role") or "user"), "parts": content_parts(first(m, "content"))}
        for m in messages or ()
        if isinstance(m, Mapping)
    ]


def converse_system(system: Any) -> list[Part] | None:
    """Converse ``system`` blocks as text parts (the schema allows text only)."""
    if isinstance(system, str):
        return [{"type": "text", "content": system}] if system else None
    parts = [
        {"type": "text", "content": b["text"]} for b in system or () if isinstance(b, Mapping) and "text" in b
    ]
    return parts or None


def converse_tools(config: Any) -> list[dict[str, Any]] | None:
    """``toolConfig.tools`` as definitions: tool specs as functions, system tools by name."""
    result: list[dict[str, Any]] = []
    for tool in first(config, "tools") or ():
        if not isinstance(tool, Mapping):
            continue
        spec = tool.get("toolSpec")
        if isinstance(spec, Mapping):
            entry: dict[str, Any] = {"type": "function", "name": spec.get("name", "")}
            if spec.get("description"):
                entry["description"] = spec["description"]
            schema = first(spec.get("inputSchema"), "json")
            if schema is not None:
                entry["parameters"] = schema
            result.append(entry)
        elif isinstance(tool.get("systemTool"), Mapping):
            result.append({"type": "system_tool", "name": tool["systemTool"].get("name", "")})
    return result or None


def converse_output(message: Any, stop: Any) -> Message:
    """The assistant's reply (``output.message``) as the one output message."""
    return {
        "role": "assistant",
        "parts": content_parts(first(message, "content")),
        "finish_reason": finish_reason(stop),
    }


def text_message(role: str, text: Any) -> Message:
    return {"role": role, "parts": [{"type": "text", "content": str(text)}]}


# --- ConverseStream (and Nova's InvokeModelWithResponseStream, which streams the same events) ----------


class ConverseFold:
    """Folds Converse stream events: stop reason and usage always, content blocks with capture on (each
    block's text up to `keep` characters; None: all)."""

    __slots__ = ("_blocks", "_keep", "_seen", "_stop", "_usage")

    def __init__(self, capture: bool, keep: int | None = None) -> None:
        self._keep = keep
        self._seen = False
        self._stop: Any = None
        self._usage: Any = None
        self._blocks: dict[int, dict[str, Any]] | None = {} if capture else None

    def add(self, event: Mapping[str, Any]) -> None:
        self._seen = True
        blocks = self._blocks
        if blocks is not None:
            delta = event.get("contentBlockDelta")
            if delta is not None:
                self._fold(blocks, delta)
                return
            start = event.get("contentBlockStart")
            if start is not None:
                self._block(blocks, start)["start"] = start.get("start")
                return
        stop = event.get("messageStop")
        if stop is not None:
            self._stop = stop.get("stopReason")
            return
        metadata = event.get("metadata")
        if metadata is not None:
            self._usage = metadata.get("usage")

    def _block(self, blocks: dict[int, dict[str, Any]], event: Mapping[str, Any]) -> dict[str, Any]:
        index = event.get("contentBlockIndex", 0)
        state = blocks.get(index)
        if state is None:
            state = blocks[index] = {"pieces": kept.pieces(self._keep), "thinking": kept.pieces(self._keep)}
        return state

    def _fold(self, blocks: dict[int, dict[str, Any]], delta: Mapping[str, Any]) -> None:
        state = self._block(blocks, delta)
        piece = delta.get("delta") or {}
        if "text" in piece:
            state["pieces"].append(piece["text"])
        elif "toolUse" in piece:
            state["pieces"].append(piece["toolUse"].get("input") or "")
        elif "reasoningContent" in piece:
            state["thinking"].append(piece["reasoningContent"].get("text") or "")

    def result(self) -> LLMResponse:
        if not self._seen:
            return LLMResponse()
        stop = self._stop
        response = LLMResponse(finish_reasons=[stop] if stop else None, usage=converse_usage(self._usage))
        if self._blocks is not None:
            content = [_converse_block(self._blocks[i]) for i in sorted(self._blocks)]
            response.output_messages = [converse_output({"content": content}, stop)]
        return response


def _converse_block(state: dict[str, Any]) -> dict[str, Any]:
    """A Converse content block from its start and deltas."""
    text = "".join(state["pieces"])
    use = first(state.get("start"), "toolUse")
    if isinstance(use, Mapping):
        return {"toolUse": {**use, "input": _openai_content.arguments(text) if text else {}}}
    if state["thinking"] and not text:
        return {"reasoningContent": {"reasoningText": {"text": "".join(state["thinking"])}}}
    return {"text": text}
