"""MCP (the ``mcp`` SDK): ``ClientSession.call_tool`` -> ``execute_tool {tool name}`` spans.

Every client (``mcp.Client``, ``ClientSessionGroup``) calls tools through ``ClientSession.call_tool``.
The span carries the MCP attributes: ``mcp.method.name`` ("tools/call") and ``mcp.protocol.version``
once negotiated. ``mcp.session.id`` is left out: the session id lives in the streamable-HTTP transport,
which the session does not expose. A JSON-RPC error is ``error.type`` = its code (also as
``rpc.response.status_code``); a result with ``isError`` set is ``error.type`` = ``tool_error``.

The tool runs in another process reached through a protocol, so its ``gen_ai.tool.type`` is
``extension`` (semconv: "executed on the agent-side, to directly call external APIs").
mcp >= 2 also makes its own CLIENT span per request ("MCP send tools/call ..."); it is a child of ours.
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._patch import Patch
from llmtrace.decorators import _Spec, method_wrappers
from llmtrace.instrumentors import _frameworks as fw

TOOLS_CALL = "tools/call"


def call_tool(session: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``execute_tool {name}`` for ``session.call_tool(name, arguments, ...)``."""
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_TOOL_TYPE: "extension",
        sc.MCP_METHOD_NAME: TOOLS_CALL,
    }
    version = getattr(session, "protocol_version", None)  # mcp >= 2: negotiated at initialize()
    if isinstance(version, str):
        attributes[sc.MCP_PROTOCOL_VERSION] = version
    if capture:
        attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = fw.tool_arguments(call.arguments.get("arguments") or {})
    return fw.tool(str(call.arguments["name"]), attributes, tool_output, tool_failure)


def _field(result: Any, name: str, alias: str) -> Any:
    """A CallToolResult field: snake_case in mcp >= 2, camelCase in mcp 1.x."""
    value = getattr(result, name, None)
    return getattr(result, alias, None) if value is None else value


def tool_output(result: Any) -> Any:
    """The tool's result: its structured content when it has some, else its content blocks."""
    structured = _field(result, "structured_content", "structuredContent")
    if structured is not None:
        return structured
    content = getattr(result, "content", None)
    if not isinstance(content, list):
        return result
    return [
        block.model_dump(mode="json", by_alias=True, exclude_none=True)
        if hasattr(block, "model_dump")
        else block
        for block in content
    ]


def tool_failure(result: Any, exc: BaseException | None) -> dict[str, AttributeValue] | None:
    """JSON-RPC errors (McpError in mcp 1.x, MCPError in 2.x) by code; ``isError`` results."""
    if exc is not None:
        code = getattr(getattr(exc, "error", None), "code", None)
        if type(exc).__name__ in ("McpError", "MCPError") and isinstance(code, int):
            return {sc.ERROR_TYPE: str(code), sc.RPC_RESPONSE_STATUS_CODE: str(code)}
        return None
    if _field(result, "is_error", "isError") is True:
        return {sc.ERROR_TYPE: "tool_error"}
    return None


_ASYNC = method_wrappers(call_tool)[1]

PATCHES = (Patch("mcp.client.session", "ClientSession.call_tool", wrapper=_ASYNC),)
