"""Cohere message shapes (Chat v1 and v2) -> GenAI JSON-schema messages and parts (content capture only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmtrace._records import Message, Part
from llmtrace.instrumentors._common import as_dict, listed

# Cohere's finish reasons in the schema's vocabulary; the others are kept, lower-cased.
_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "ERROR_LIMIT": "length",
    "TOOL_CALL": "tool_call",
    "ERROR": "error",
    "ERROR_TOXIC": "content_filter",
}
# Chat v1 roles
_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


def output_finish_reason(reason: str | None, tool_calls: bool = False) -> str:
    """A Cohere finish reason in the schema's vocabulary; "" for a reply that never finished. A reply
    that asks for tools is ``tool_call`` (Chat v1 says COMPLETE then)."""
    if reason is None:
        return ""
    mapped = _FINISH.get(reason, reason.lower())
    return "tool_call" if tool_calls and mapped == "stop" else mapped


def arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are a JSON string (the schema prefers objects)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _media(url: str) -> Part:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return {"type": "blob", "modality": "image", "mime_type": header[5:].split(";")[0], "content": data}
    return {"type": "uri", "modality": "image", "uri": url}


def content_parts(content: Any) -> list[Part]:
    """A v2 message's ``content``: a string, or text / thinking / image_url / document items."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[Part] = []
    for raw in content:
        item = as_dict(raw)
        kind = item.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": item.get("text", "")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": item.get("thinking", "")})
        elif kind == "image_url":
            image = item.get("image_url")
            parts.append(_media(str(image.get("url", "") if isinstance(image, Mapping) else image or "")))
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def _tool_results(content: Any) -> Any:
    """What a v2 tool message answered: its text, or its documents' data."""
    if content is None or isinstance(content, str):
        return content
    results = []
    for raw in content:
        item = as_dict(raw)
        if item.get("type") == "text":
            results.append(item.get("text", ""))
        else:
            document = item.get("document")
            results.append(document.get("data", document) if isinstance(document, Mapping) else item)
    return results[0] if len(results) == 1 else results


def tool_call_parts(calls: Any) -> list[Part]:
    """v2 ``tool_calls`` ({id, function: {name, arguments}}) as tool_call parts."""
    parts: list[Part] = []
    for raw in calls or ():
        call = as_dict(raw)
        function = call.get("function") or {}
        args = arguments(function.get("arguments"))
        parts.append(
            {"type": "tool_call", "id": call.get("id"), "name": function.get("name", ""), "arguments": args}
        )
    return parts


def _assistant_parts(message: Mapping[str, Any]) -> list[Part]:
    """In the order a stream delivers them: the content (thinking, text), the tool plan, the calls."""
    parts = content_parts(message.get("content"))
    if message.get("tool_plan"):  # the model's plan before it calls tools: its reasoning
        parts.append({"type": "reasoning", "content": message["tool_plan"]})
    parts.extend(tool_call_parts(message.get("tool_calls")))
    return parts


def v2_input_messages(messages: Any) -> list[Message]:
    """Chat v2 ``messages`` in the order sent (system messages stay in the history)."""
    result: list[Message] = []
    for raw in listed(messages):
        message = as_dict(raw)
        role = str(message.get("role", "user"))
        if role == "tool":
            response = _tool_results(message.get("content"))
            parts: list[Part] = [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": response}
            ]
        elif role == "assistant":
            parts = _assistant_parts(message)
        else:
            parts = content_parts(message.get("content"))
        result.append({"role": role, "parts": parts})
    return result


def v2_output_message(message: Any, finish_reason: str | None) -> Message:
    """A v2 reply (an AssistantMessageResponse, or an accumulated dict) as an output message."""
    data = as_dict(message) if message is not None else {}
    parts = _assistant_parts(data)
    finish = output_finish_reason(finish_reason, bool(data.get("tool_calls")))
    return {"role": "assistant", "parts": parts, "finish_reason": finish}


def _v1_tool_calls(calls: Any) -> list[Part]:
    # Chat v1 tool calls have no id
    return [
        {"type": "tool_call", "id": None, "name": c.get("name", ""), "arguments": c.get("parameters")}
        for c in (as_dict(raw) for raw in calls or ())
    ]


def _v1_tool_results(results: Any) -> list[Part]:
    parts: list[Part] = []
    for raw in listed(results):
        result = as_dict(raw)
        outputs = result.get("outputs")
        response = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs
        call = as_dict(result.get("call") or {})
        parts.append(
            {"type": "tool_call_response", "id": None, "name": call.get("name"), "response": response}
        )
    return parts


def v1_input_messages(history: Any, message: Any, tool_results: Any) -> list[Message]:
    """Chat v1 ``chat_history``, then this turn's ``tool_results`` and ``message``."""
    result: list[Message] = []
    for raw in listed(history):
        entry = as_dict(raw)
        role = _ROLES.get(str(entry.get("role", "USER")).upper(), str(entry.get("role")).lower())
        parts: list[Part] = []
        if entry.get("message"):
            parts.append({"type": "text", "content": entry["message"]})
        parts.extend(_v1_tool_calls(entry.get("tool_calls")))
        parts.extend(_v1_tool_results(entry.get("tool_results")))
        result.append({"role": role, "parts": parts})
    if tool_results:
        result.append({"role": "tool", "parts": _v1_tool_results(tool_results)})
    if message:
        result.append({"role": "user", "parts": [{"type": "text", "content": str(message)}]})
    return result


def v1_output_message(text: Any, tool_calls: Any, finish_reason: str | None) -> Message:
    """A Chat v1 reply: its text and tool calls."""
    parts: list[Part] = [{"type": "text", "content": text}] if text else []
    parts.extend(_v1_tool_calls(tool_calls))
    finish = output_finish_reason(finish_reason, bool(tool_calls))
    return {"role": "assistant", "parts": parts, "finish_reason": finish}


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """v2 tools ({type, function: {name, description, parameters}}) or v1 tools ({name, description,
    parameter_definitions}) as definitions (the core trims them to type and name by default)."""
    result: list[dict[str, Any]] = []
    for raw in listed(tools):
        tool = as_dict(raw)
        nested = tool.get("function")
        function: Mapping[str, Any] = nested if isinstance(nested, Mapping) else tool
        entry: dict[str, Any] = {"type": tool.get("type", "function"), "name": function.get("name", "")}
        if function.get("description"):
            entry["description"] = function["description"]
        parameters = function.get("parameters", function.get("parameter_definitions"))
        if parameters is not None:
            entry["parameters"] = parameters
        result.append(entry)
    return result
