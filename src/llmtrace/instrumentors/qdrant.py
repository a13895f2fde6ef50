"""Qdrant (qdrant-client): ``query_points`` and ``search`` of ``QdrantClient`` and ``AsyncQdrantClient``
-> ``retrieval`` spans (``search`` exists only in older qdrant-client releases; skipped where missing).

The data source is the collection name, top_k is ``limit`` and the provider is ``qdrant``. Each
document is a ScoredPoint's id and score. Qdrant's ``score`` is reported as it is: a similarity for
Cosine and Dot collections, but the distance itself (smaller is closer) for Euclid and Manhattan ones;
telling them apart would take a ``get_collection`` call per query, which a tracer must not make.
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._patch import Patch
from llmtrace.decorators import _Spec, method_wrappers, retrieval_attributes
from llmtrace.instrumentors import _frameworks as fw

PROVIDER = "qdrant"


def query_call(client: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``retrieval {collection name}``; the query text only when the query is a ``models.Document``
    (text embedded by the client), not a vector or point id."""
    name = str(call.arguments.get("collection_name"))
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_PROVIDER_NAME: PROVIDER,
        sc.GEN_AI_DATA_SOURCE_ID: name,
    }
    top_k = fw.count(call.arguments.get("limit"))
    if top_k is not None:
        attributes[sc.GEN_AI_RETRIEVAL_TOP_K] = top_k
    if capture:
        text = getattr(call.arguments.get("query"), "text", None)
        if isinstance(text, str):
            attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = text
    return fw.retrieval(
        name, attributes, points, kind=SpanKind.CLIENT
    )  # a call to the vector database (semconv: CLIENT)


def points(result: Any, capture: bool) -> dict[str, AttributeValue]:
    """query_points() returns a QueryResponse (``.points``), search() a list of ScoredPoint."""
    found = getattr(result, "points", result)
    return retrieval_attributes(found, capture)


_SYNC, _ASYNC = method_wrappers(query_call)

PATCHES = (
    Patch("qdrant_client.qdrant_client", "QdrantClient.query_points", wrapper=_SYNC),
    Patch("qdrant_client.qdrant_client", "QdrantClient.search", wrapper=_SYNC),
    Patch("qdrant_client.async_qdrant_client", "AsyncQdrantClient.query_points", wrapper=_ASYNC),
    Patch("qdrant_client.async_qdrant_client", "AsyncQdrantClient.search", wrapper=_ASYNC),
)
