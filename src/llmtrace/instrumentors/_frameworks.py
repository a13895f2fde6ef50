"""Span specs shared by the framework instrumentors (LangChain, LlamaIndex, Chroma, Qdrant, MCP).

A framework's retriever or tool call is traced like a decorated step of the user's own: these build
the decorators' `_Spec` for it, and `decorators.method_wrappers` runs it, so attributes, metrics,
content rules and error containment are the decorators'.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace.decorators import _json, _Spec, _tool_result, retrieval_attributes, set_attributes

ResultMapper = Callable[[Any, bool], Mapping[str, AttributeValue]]
Failure = Callable[[Any, BaseException | None], dict[str, AttributeValue] | None]


def retrieval(
    label: str,
    attributes: Mapping[str, AttributeValue],
    results: ResultMapper = retrieval_attributes,
    kind: SpanKind = SpanKind.INTERNAL,
) -> _Spec:
    """A ``retrieval {label}`` span with `attributes` (top_k, data source, provider, query text when
    content capture is on); `results` maps the method's return value to the result attributes."""

    def on_result(span: Span, result: Any, capture: bool) -> None:
        set_attributes(span, results(result, capture))

    return _Spec(
        sc.OP_RETRIEVAL,
        f"retrieval {label}",
        {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL, **attributes},
        None,
        None,
        on_result,
        kind=kind,
    )


def tool(
    name: str,
    attributes: Mapping[str, AttributeValue],
    result: Callable[[Any], Any] | None = None,
    failure: Failure | None = None,
) -> _Spec:
    """An ``execute_tool {name}`` span with `attributes` (type, description, call id, arguments when
    content capture is on); with capture on, `result` maps the method's return value to the tool's
    result (default: as is). `failure` reports results that mean the tool failed."""

    def on_result(span: Span, value: Any, capture: bool) -> None:
        if capture:
            _tool_result(span, result(value) if result is not None else value, capture)

    return _Spec(
        sc.OP_EXECUTE_TOOL,
        f"execute_tool {name}",
        {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name, **attributes},
        sc.METRIC_TOOL_DURATION,
        None,
        on_result,
        failure,
    )


def tool_arguments(value: Any) -> str:
    """``gen_ai.tool.call.arguments``: a JSON document, string arguments decoded when they are JSON."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return _json(value)


def count(value: Any) -> int | None:
    """`value` if it is an int (not a bool): a top_k / limit."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
