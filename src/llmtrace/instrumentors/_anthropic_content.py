"""Anthropic message shapes -> GenAI JSON-schema messages and parts (only used with content capture on).

Blocks arrive as TypedDict params (requests), SDK models (responses, or responses passed back in), or
plain dicts (raw responses); `as_dict` makes them all dicts. Older SDKs parse block types they do not
know (``thinking`` on anthropic 0.30) into another model with the unknown fields as extras, which
`model_dump` keeps, so the mapping goes by the ``type`` field alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmtrace._records import Message, Part
from llmtrace.instrumentors import _common


def as_dict(obj: Any) -> dict[str, Any]:
    """A block or message param or an SDK model as a plain dict; anything else as a text block."""
    if isinstance(obj, Mapping) or hasattr(obj, "model_dump"):
        return _common.as_dict(obj)
    return {"type": "text", "text": str(obj)}


# Anthropic stop reasons in the schema's `finish_reason` vocabulary (gen_ai.response.finish_reasons keeps
# the raw value); any other reason is kept as it is.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}


def output_finish_reason(reason: str | None) -> str:
    """A stop reason in the schema's vocabulary; "" for a message that never finished (a cut stream)."""
    if reason is None:
        return ""
    return _FINISH.get(reason, reason)


def _source_part(block: Mapping[str, Any], modality: str) -> Part:
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    kind = source.get("type")
    if kind == "base64":
        return {
            "type": "blob",
            "modality": modality,
            "mime_type": source.get("media_type"),
            "content": source.get("data", ""),
        }
    if kind == "url":
        return {"type": "uri", "modality": modality, "uri": source.get("url", "")}
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": source.get("file_id", "")}
    if kind == "text":  # a plain-text document
        return {"type": "text", "content": source.get("data", "")}
    return {"type": modality}


def _tool_result(content: Any) -> Any:
    """A tool_result's content: the text itself when it is only text, else the blocks as sent."""
    if isinstance(content, str) or content is None:
        return content
    blocks = [as_dict(b) for b in content] if isinstance(content, Iterable) else [as_dict(content)]
    if all(b.get("type") == "text" for b in blocks):
        return "".join(str(b.get("text", "")) for b in blocks)
    return blocks


def block_part(block: Mapping[str, Any]) -> Part:
    """One content block (request or response side) as a schema part."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind == "tool_use":
        return {
            "type": "tool_call",
            "id": block.get("id"),
            "name": block.get("name", ""),
            "arguments": block.get("input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": _tool_result(block.get("content")),
        }
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    if kind == "redacted_thinking":
        # Encrypted reasoning: there is no text to show, only the fact that the model reasoned.
        return {"type": "reasoning", "content": "", "redacted": True}
    if kind == "image":
        return _source_part(block, "image")
    if kind == "document":
        return _source_part(block, "document")
    if kind in ("server_tool_use", "mcp_tool_use"):
        name = block.get("name", "")
        server = {"type": name, "input": block.get("input")}
        return {"type": "server_tool_call", "id": block.get("id"), "name": name, "server_tool_call": server}
    if isinstance(kind, str) and kind.endswith("_tool_result"):  # web_search_tool_result, ...
        return {
            "type": "server_tool_call_response",
            "id": block.get("tool_use_id"),
            "server_tool_call_response": {"type": kind},
        }
    return {"type": str(kind or "unknown")}


def content_parts(content: Any) -> list[Part]:
    """A message's content (a string or a list of blocks) as parts, in order."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    return [block_part(as_dict(block)) for block in _common.listed(content)]


def input_messages(messages: Any) -> list[Message]:
    """``messages`` in the order sent; tool results stay in the user message that carries them."""
    result: list[Message] = []
    for raw in _common.listed(messages):
        message = as_dict(raw)
        result.append(
            {"role": str(message.get("role", "user")), "parts": content_parts(message.get("content"))}
        )
    return result


def system_instructions(system: Any) -> list[Part] | None:
    """``system`` as text parts (the schema allows text only, so other blocks are left out)."""
    if system is None:
        return None
    if isinstance(system, str):
        return [{"type": "text", "content": system}] if system else None
    parts: list[Part] = []
    for raw in _common.listed(system):
        block = as_dict(raw)
        if block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
    return parts or None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """``tools`` as definitions: client tools as functions, server tools by their versioned type."""
    result: list[dict[str, Any]] = []
    for raw in _common.listed(tools):
        tool = as_dict(raw)
        kind = tool.get("type")
        if kind in (None, "custom"):
            entry: dict[str, Any] = {"type": "function", "name": tool.get("name", "")}
            if tool.get("description"):
                entry["description"] = tool["description"]
            if tool.get("input_schema") is not None:
                entry["parameters"] = tool["input_schema"]
        else:  # e.g. {"type": "web_search_20250305", "name": "web_search"}
            entry = {"type": str(kind), "name": tool.get("name", str(kind))}
        result.append(entry)
    return result or None


def output_message(content: Any, stop_reason: str | None) -> Message:
    """The assistant's reply (content blocks) as the one output message."""
    return {
        "role": "assistant",
        "parts": content_parts(content),
        "finish_reason": output_finish_reason(stop_reason),
    }
