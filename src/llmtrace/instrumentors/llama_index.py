"""LlamaIndex (llama-index-core): ``BaseRetriever.retrieve/aretrieve`` -> ``retrieval`` spans.

Patched on the base class; retrievers implement ``_retrieve``/``_aretrieve`` and inherit these entry
points. The results are NodeWithScore: each document is its node id and score.
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._patch import Patch
from llmtrace.decorators import _Spec, method_wrappers
from llmtrace.instrumentors._frameworks import count, retrieval


def retriever_call(retriever: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``retrieval {retriever class}``: top_k from ``similarity_top_k`` (VectorIndexRetriever and the
    like); the query is a string or a QueryBundle."""
    attributes: dict[str, AttributeValue] = {}
    top_k = count(getattr(retriever, "similarity_top_k", None))
    if top_k is not None:
        attributes[sc.GEN_AI_RETRIEVAL_TOP_K] = top_k
    if capture:
        query = call.arguments.get("str_or_query_bundle")
        text = query if isinstance(query, str) else getattr(query, "query_str", None)
        if isinstance(text, str):
            attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = text
    return retrieval(type(retriever).__name__, attributes)


_RETRIEVE, _ARETRIEVE = method_wrappers(retriever_call)

_BASE = "llama_index.core.base.base_retriever"

PATCHES = (
    Patch(_BASE, "BaseRetriever.retrieve", wrapper=_RETRIEVE),
    Patch(_BASE, "BaseRetriever.aretrieve", wrapper=_ARETRIEVE),
)
