"""OpenAI message shapes -> GenAI JSON-schema messages and parts (only used with content capture on)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from llmtrace._records import Message, Part
from llmtrace.instrumentors._common import as_dict, fields_of, listed

# OpenAI finish reasons that differ from the schema's `finish_reason` values.
_FINISH = {"tool_calls": "tool_call", "function_call": "tool_call"}


def arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are a JSON string (the schema prefers objects)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def output_finish_reason(reason: str | None) -> str:
    """An OpenAI finish reason in the schema's vocabulary (``tool_calls`` -> ``tool_call``); "" for a
    choice that never finished (a stream cut short), as in ``gen_ai.response.finish_reasons``."""
    if reason is None:
        return ""
    return _FINISH.get(reason, reason)


def _content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if content is None:
        return []
    parts: list[Part] = []
    for raw in content if isinstance(content, Iterable) else [content]:
        item = as_dict(raw)
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text", "refusal"):
            parts.append({"type": "text", "content": item.get("text", item.get("refusal", ""))})
        elif kind in ("image_url", "input_image"):
            url = item.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            parts.append(_media(str(url or ""), "image", item.get("file_id")))
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            mime = f"audio/{audio.get('format', 'wav')}"
            parts.append(
                {"type": "blob", "modality": "audio", "mime_type": mime, "content": audio.get("data", "")}
            )
        elif kind in ("file", "input_file"):
            file = item.get("file") or item
            parts.append({"type": "file", "modality": "document", "file_id": file.get("file_id", "")})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def _media(url: str, modality: str, file_id: Any) -> Part:
    if file_id:
        return {"type": "file", "modality": modality, "file_id": file_id}
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return {"type": "blob", "modality": modality, "mime_type": header[5:].split(";")[0], "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def _tool_call_parts(message: Mapping[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for raw in message.get("tool_calls") or ():
        call = as_dict(raw)
        function = call.get("function") or {}
        part: Part = {"type": "tool_call", "id": call.get("id"), "name": function.get("name", "")}
        part["arguments"] = arguments(function.get("arguments"))
        parts.append(part)
    legacy = message.get("function_call")
    if legacy:
        legacy = as_dict(legacy)
        parts.append(_call(None, legacy.get("name"), legacy.get("arguments")))
    return parts


def message_texts(messages: Any) -> list[str]:
    """The text of each message (content, refusals, tool-call names and arguments), for token counting."""
    texts = []
    for raw in listed(messages):
        message = as_dict(raw)
        pieces = [p.get("content", "") for p in _content_parts(message.get("content")) if p["type"] == "text"]
        for part in _tool_call_parts(message):
            raw_args = part["arguments"]
            pieces += [part["name"], raw_args if isinstance(raw_args, str) else json.dumps(raw_args)]
        if message.get("refusal"):
            pieces.append(message["refusal"])
        texts.append("".join(str(p) for p in pieces))
    return texts


def chat_input_messages(messages: Any) -> list[Message]:
    """Chat Completions ``messages`` in the order sent (system messages stay in the history)."""
    result: list[Message] = []
    for raw in listed(messages):
        message = raw if type(raw) is dict else as_dict(raw)  # only read: a plain dict needs no copy
        role = str(message.get("role", "user"))
        if role in ("tool", "function"):
            parts: list[Part] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _content_parts(message.get("content"))
            if message.get("tool_calls") or message.get("function_call"):
                parts += _tool_call_parts(message)
        entry: Message = {"role": role, "parts": parts}
        if message.get("name") and role != "function":
            entry["name"] = message["name"]
        result.append(entry)
    return result


def chat_output_message(message: Any, finish_reason: str | None) -> Message:
    """One choice's message (an SDK model or an accumulated dict) as an output message."""
    # an SDK model's own field values: the fields read here need no model_dump() of the whole message
    data = fields_of(message) if isinstance(message, BaseModel) else as_dict(message)
    parts = _content_parts(data.get("content"))
    if data.get("tool_calls") or data.get("function_call"):
        parts += _tool_call_parts(data)
    if data.get("refusal"):
        parts.append({"type": "text", "content": data["refusal"]})
    role = data.get("role") or "assistant"
    return {"role": role, "parts": parts, "finish_reason": output_finish_reason(finish_reason)}


def tool_definitions(tools: Any, functions: Any = None) -> list[dict[str, Any]]:
    """Chat or Responses tool params as definitions (the core trims them to type and name by default)."""
    result: list[dict[str, Any]] = []
    if tools is None and functions is None:  # most calls
        return result
    for raw in listed(tools):
        tool = as_dict(raw)
        nested = tool.get("function")
        function: Mapping[str, Any] = nested if isinstance(nested, Mapping) else tool
        entry: dict[str, Any] = {"type": tool.get("type", "function")}
        entry["name"] = function.get("name", tool.get("type"))
        if function.get("description"):
            entry["description"] = function["description"]
        if function.get("parameters") is not None:
            entry["parameters"] = function["parameters"]
        result.append(entry)
    for raw in listed(functions):  # the deprecated functions= parameter
        result.extend(tool_definitions([{"type": "function", "function": as_dict(raw)}]))
    return result


def _call(call_id: Any, name: Any, args: Any) -> Part:
    return {"type": "tool_call", "id": call_id, "name": name or "", "arguments": arguments(args)}


def _reasoning(item: Mapping[str, Any]) -> Part:
    summary = item.get("summary") or ()
    text = " ".join(s.get("text", "") for s in summary if isinstance(s, Mapping))
    return {"type": "reasoning", "content": text}


def responses_input_messages(value: Any) -> list[Message]:
    """Responses API ``input`` (a string or a list of items) as input messages."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    result: list[Message] = []
    for raw in listed(value):
        item = as_dict(raw)
        kind = item.get("type", "message")
        if kind == "message" or "role" in item:
            parts = _content_parts(item.get("content"))
            result.append({"role": str(item.get("role", "user")), "parts": parts})
        elif kind == "function_call":
            call = _call(item.get("call_id"), item.get("name"), item.get("arguments"))
            result.append({"role": "assistant", "parts": [call]})
        elif kind == "function_call_output":
            response = {
                "type": "tool_call_response",
                "id": item.get("call_id"),
                "response": item.get("output"),
            }
            result.append({"role": "tool", "parts": [response]})
        elif kind == "reasoning":
            result.append({"role": "assistant", "parts": [_reasoning(item)]})
        else:
            result.append({"role": "user", "parts": [{"type": str(kind)}]})
    return result


def responses_output_parts(output: Any) -> list[Part]:
    """The parts of a Responses API ``output`` list, in order."""
    parts: list[Part] = []
    for raw in output or ():
        item = as_dict(raw)
        kind = item.get("type")
        if kind == "message":
            parts.extend(_content_parts(item.get("content")))
        elif kind == "function_call":
            parts.append(_call(item.get("call_id"), item.get("name"), item.get("arguments")))
        elif kind == "reasoning":
            parts.append(_reasoning(item))
        elif kind:
            server = {"type": str(kind)}
            parts.append(
                {
                    "type": "server_tool_call",
                    "id": item.get("id"),
                    "name": str(kind),
                    "server_tool_call": server,
                }
            )
    return parts
