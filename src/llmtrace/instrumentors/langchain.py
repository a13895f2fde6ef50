"""LangChain (langchain-core): retrievers -> ``retrieval`` spans, tools -> ``execute_tool`` spans.

Patched on the base classes, so every subclass that keeps their entry points is traced:
``BaseRetriever.invoke/ainvoke`` and ``BaseTool.run/arun``. ``BaseTool.invoke/ainvoke`` are not patched:
they only unpack a ToolCall and call run/arun, and ``StructuredTool/Tool.ainvoke`` of a sync tool runs
``invoke`` in an executor (with the context copied), so a span there would double every tool span
(langchain-core 1.7.2, tools/base.py BaseTool.invoke, tools/structured.py StructuredTool.ainvoke).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._patch import Patch
from llmtrace.decorators import _Spec, method_wrappers
from llmtrace.instrumentors._frameworks import count, retrieval, tool, tool_arguments


def retriever_call(retriever: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``retrieval {retriever name}``: top_k from a ``k`` given to invoke(), the retriever's
    ``search_kwargs['k']`` (VectorStoreRetriever) or its ``k`` field (BM25Retriever and the like)."""
    extra = call.arguments.get("kwargs") or {}
    search_kwargs = getattr(retriever, "search_kwargs", None)
    top_k = (
        count(extra.get("k"))
        or (count(search_kwargs.get("k")) if isinstance(search_kwargs, Mapping) else None)
        or count(getattr(retriever, "k", None))
    )
    attributes: dict[str, AttributeValue] = {}
    if top_k is not None:
        attributes[sc.GEN_AI_RETRIEVAL_TOP_K] = top_k
    query = call.arguments.get("input")
    if capture and isinstance(query, str):
        attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
    return retrieval(retriever.get_name(), attributes)  # Documents: id (or metadata id/source), no score


def tool_call(lc_tool: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``execute_tool {tool name}``; the call id is the one invoke() took from a ToolCall."""
    arguments = call.arguments
    call_id = arguments.get("tool_call_id") or (arguments.get("kwargs") or {}).get("tool_call_id")
    attributes: dict[str, AttributeValue] = {sc.GEN_AI_TOOL_TYPE: "function"}
    if lc_tool.description:
        attributes[sc.GEN_AI_TOOL_DESCRIPTION] = lc_tool.description
    if isinstance(call_id, str):
        attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
    if capture:
        attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = tool_arguments(arguments.get("tool_input"))
    return tool(lc_tool.name, attributes, tool_output, tool_failure)


def _is_tool_message(value: Any) -> bool:
    return getattr(value, "type", None) == "tool" and hasattr(value, "tool_call_id")


def tool_output(value: Any) -> Any:
    """The tool's result: a ToolMessage's content (run() returns one when it had a call id)."""
    return value.content if _is_tool_message(value) else value


def tool_failure(value: Any, exc: BaseException | None) -> dict[str, AttributeValue] | None:
    """A tool error the tool handled (``handle_tool_error``) still failed the call: run() reports it as
    a ToolMessage with status "error" (only when it had a call id; otherwise it is not visible)."""
    if exc is None and _is_tool_message(value) and getattr(value, "status", None) == "error":
        return {sc.ERROR_TYPE: "tool_error"}
    return None


_RETRIEVER, _ARETRIEVER = method_wrappers(retriever_call)
_TOOL, _ATOOL = method_wrappers(tool_call)

PATCHES = (
    Patch("langchain_core.retrievers", "BaseRetriever.invoke", wrapper=_RETRIEVER),
    Patch("langchain_core.retrievers", "BaseRetriever.ainvoke", wrapper=_ARETRIEVER),
    Patch("langchain_core.tools.base", "BaseTool.run", wrapper=_TOOL),
    Patch("langchain_core.tools.base", "BaseTool.arun", wrapper=_ATOOL),
)
