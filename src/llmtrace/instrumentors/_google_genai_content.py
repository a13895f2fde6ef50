"""google-genai shapes -> GenAI JSON-schema messages, parts and tool definitions (content capture only).

Requests arrive in every shape the SDK accepts: a string, a list of strings and parts, ``Content`` models,
or dicts in either spelling (``function_call`` or ``functionCall``); responses are SDK models. `field`
reads all of them alike, so nothing here depends on the SDK's classes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from llmtrace._records import Message, Part


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def field(obj: Any, name: str) -> Any:
    """``obj.<name>`` of an SDK model, or ``obj[name]`` (or its camelCase spelling) of a dict."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        value = obj.get(name)
        return obj.get(_camel(name)) if value is None and "_" in name else value
    return getattr(obj, name, None)


def _is_model(obj: Any) -> bool:
    return hasattr(
        type(obj), "model_fields"
    )  # a pydantic model (on the class: pydantic 2.11 deprecates it on instances)


def enum_value(value: Any) -> Any:
    """An SDK enum member's wire value (``FinishReason.STOP`` -> ``"STOP"``); anything else as it is."""
    return getattr(value, "value", value)


def _modality(mime_type: Any) -> str:
    kind = str(mime_type or "").split("/", 1)[0]
    return kind if kind in ("image", "audio", "video") else "document"


# Gemini finish reasons in the schema's `finish_reason` vocabulary (gen_ai.response.finish_reasons keeps the
# raw value); any other reason is kept as it is.
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}


def output_finish_reason(reason: str | None, parts: list[Part]) -> str:
    """A finish reason in the schema's vocabulary: Gemini reports STOP when it calls functions too, which
    is "tool_call" here; "" for a candidate that never finished (a cut stream)."""
    if reason is None:
        return ""
    if reason == "STOP" and any(p["type"] == "tool_call" for p in parts):
        return "tool_call"
    return _FINISH.get(reason, reason)


def part(obj: Any) -> Part | None:
    """One part (a string, a ``Part``, a part dict or an uploaded ``File``) as a schema part; None for a
    part without content (an empty text, or a bare thought signature)."""
    if isinstance(obj, str):
        return {"type": "text", "content": obj} if obj else None
    text = field(obj, "text")
    if text is not None:
        if not text:
            return None
        return {"type": "reasoning" if field(obj, "thought") else "text", "content": text}
    call = field(obj, "function_call")
    if call is not None:
        return {
            "type": "tool_call",
            "id": field(call, "id"),
            "name": field(call, "name") or "",
            "arguments": field(call, "args"),
        }
    result = field(obj, "function_response")
    if result is not None:
        # the function's name too: Gemini matches results to calls by name (call ids are optional)
        return {
            "type": "tool_call_response",
            "id": field(result, "id"),
            "name": field(result, "name"),
            "response": field(result, "response"),
        }
    blob = field(obj, "inline_data")
    if blob is not None:
        data = field(blob, "data")
        mime = field(blob, "mime_type")
        content = base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else str(data or "")
        return {"type": "blob", "modality": _modality(mime), "mime_type": mime, "content": content}
    uploaded = field(obj, "file_data")
    if uploaded is not None:
        mime = field(uploaded, "mime_type")
        return {
            "type": "uri",
            "modality": _modality(mime),
            "mime_type": mime,
            "uri": field(uploaded, "file_uri"),
        }
    code = field(obj, "executable_code")
    if code is not None:  # the built-in code-execution tool runs on Google's side
        server = {
            "type": "code_execution",
            "language": enum_value(field(code, "language")),
            "code": field(code, "code"),
        }
        return {"type": "server_tool_call", "name": "code_execution", "server_tool_call": server}
    outcome = field(obj, "code_execution_result")
    if outcome is not None:
        response = {
            "type": "code_execution",
            "outcome": enum_value(field(outcome, "outcome")),
            "output": field(outcome, "output"),
        }
        return {"type": "server_tool_call_response", "server_tool_call_response": response}
    uri = field(obj, "uri")
    if isinstance(uri, str) and not isinstance(obj, Mapping):  # a types.File from the Files API
        return {
            "type": "uri",
            "modality": _modality(field(obj, "mime_type")),
            "mime_type": field(obj, "mime_type"),
            "uri": uri,
        }
    if isinstance(obj, Mapping) or _is_model(obj):
        return None  # only a thought signature, video metadata or the like: no content of its own
    return {"type": type(obj).__name__}  # e.g. a PIL image, sent as inline data by the SDK


def parts(items: Any) -> list[Part]:
    """Parts in order, those without content left out."""
    result = []
    for item in items or ():
        mapped = part(item)
        if mapped is not None:
            result.append(mapped)
    return result


_ROLES = {"model": "assistant", "user": "user", "function": "tool", "tool": "tool"}


def _is_content(item: Any) -> bool:
    if isinstance(item, Mapping):
        return "parts" in item or "role" in item
    return hasattr(item, "parts") and hasattr(item, "role")


def input_messages(contents: Any) -> list[Message]:
    """``contents`` in the order sent: each ``Content`` a message; loose strings and parts, as the SDK
    does, one user message per run of them. Function results stay in the message that carries them."""
    if contents is None:
        return []
    items = list(contents) if isinstance(contents, (list, tuple)) else [contents]
    messages: list[Message] = []
    loose: list[Part] = []
    for item in items:
        if _is_content(item):
            if loose:
                messages.append({"role": "user", "parts": loose})
                loose = []
            role = field(item, "role")
            messages.append({"role": _ROLES.get(role, role or "user"), "parts": parts(field(item, "parts"))})
        else:
            mapped = part(item)
            if mapped is not None:
                loose.append(mapped)
    if loose:
        messages.append({"role": "user", "parts": loose})
    return messages


def system_instructions(instruction: Any) -> list[Part] | None:
    """``config.system_instruction`` as text parts (the schema allows text only)."""
    if instruction is None:
        return None
    if _is_content(instruction):
        items: Iterable[Any] = field(instruction, "parts") or ()
    elif isinstance(instruction, (list, tuple)):
        items = instruction
    else:
        items = [instruction]
    texts = [p for p in parts(items) if p["type"] == "text"]
    return texts or None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """``config.tools``: declared functions and Python callables (automatic function calling) as
    functions; Google's built-in tools (google_search, code_execution, ...) by their field name."""
    result: list[dict[str, Any]] = []
    for tool in tools or ():
        if callable(tool) and not isinstance(tool, Mapping) and not _is_model(tool):
            entry: dict[str, Any] = {
                "type": "function",
                "name": getattr(tool, "__name__", type(tool).__name__),
            }
            doc = getattr(tool, "__doc__", None)
            if doc:
                entry["description"] = doc.strip()
            result.append(entry)
            continue
        if not isinstance(tool, Mapping) and not _is_model(tool):
            result.append({"type": type(tool).__name__, "name": type(tool).__name__})  # e.g. an MCP session
            continue
        for declaration in field(tool, "function_declarations") or ():
            entry = {"type": "function", "name": field(declaration, "name") or ""}
            description = field(declaration, "description")
            if description:
                entry["description"] = description
            schema = field(declaration, "parameters_json_schema") or field(declaration, "parameters")
            if schema is not None:
                entry["parameters"] = _plain(schema)
            result.append(entry)
        names = tool.keys() if isinstance(tool, Mapping) else type(tool).model_fields
        for name in names:
            if (
                name not in ("function_declarations", "functionDeclarations")
                and field(tool, name) is not None
            ):
                result.append({"type": name, "name": name})
    return result or None


def _plain(schema: Any) -> Any:
    """A parameters schema (a ``types.Schema`` or a dict) as JSON-ready data."""
    dump = getattr(schema, "model_dump", None)
    return dump(mode="json", exclude_none=True) if dump is not None else schema


def output_message(content: Any, reason: str | None) -> Message:
    """A candidate's content as its one output message."""
    mapped = parts(field(content, "parts"))
    return {"role": "assistant", "parts": mapped, "finish_reason": output_finish_reason(reason, mapped)}
