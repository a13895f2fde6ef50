"""Chroma (chromadb): ``Collection.query`` (and ``AsyncCollection.query``) -> ``retrieval`` spans.

The data source is the collection name, top_k is ``n_results`` and the provider is ``chroma``.

Chroma returns *distances*, not scores: smaller is closer, and their scale depends on the collection's
space (``l2`` by default, ``cosine``, ``ip``). They are reported as they are, never converted into scores
(a conversion would need the space and would still not be a relevance score): the result attributes are
``llmtrace.retrieval.distance.min/max/spread`` instead of the ``llmtrace.retrieval.score.*`` ones, and
each captured document is ``{"id": ..., "distance": ...}`` (the semconv document schema allows extra
fields). A batch query (several query embeddings or texts) is one span over all its results.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._patch import Patch
from llmtrace.decorators import _json, _Spec, method_wrappers
from llmtrace.instrumentors import _frameworks as fw

PROVIDER = "chroma"


def query_call(collection: Any, call: inspect.BoundArguments, capture: bool) -> _Spec:
    """``retrieval {collection name}``; the query text only for a single ``query_texts`` query."""
    name = str(collection.name)
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_PROVIDER_NAME: PROVIDER,
        sc.GEN_AI_DATA_SOURCE_ID: name,
    }
    top_k = fw.count(call.arguments.get("n_results"))
    if top_k is not None:
        attributes[sc.GEN_AI_RETRIEVAL_TOP_K] = top_k
    if capture:
        texts = call.arguments.get("query_texts")
        if isinstance(texts, (list, tuple)) and len(texts) == 1:
            texts = texts[0]
        if isinstance(texts, str):
            attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = texts
    return fw.retrieval(
        name, attributes, query_results, kind=SpanKind.CLIENT
    )  # a call to the vector database (semconv: CLIENT)


def _flat(per_query: Any) -> list[Any] | None:
    if not isinstance(per_query, (list, tuple)):
        return None
    return [item for results in per_query if isinstance(results, (list, tuple)) for item in results]


def query_results(result: Any, capture: bool) -> dict[str, AttributeValue]:
    """A QueryResult (one list per query of ids and, when included, distances) as result attributes."""
    if not isinstance(result, Mapping):
        return {}
    ids = _flat(result.get("ids")) or []
    distances = _flat(result.get("distances"))
    if distances is not None and len(distances) != len(ids):
        distances = None
    out: dict[str, AttributeValue] = {sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: len(ids)}
    values = [float(d) for d in distances or () if isinstance(d, (int, float))]
    if values:
        low, high = min(values), max(values)
        out[sc.LLMTRACE_RETRIEVAL_DISTANCE_MIN] = low
        out[sc.LLMTRACE_RETRIEVAL_DISTANCE_MAX] = high
        out[sc.LLMTRACE_RETRIEVAL_DISTANCE_SPREAD] = high - low
    if capture:
        docs: list[dict[str, Any]] = []
        for i, doc_id in enumerate(ids):
            entry: dict[str, Any] = {"id": str(doc_id)}
            if distances is not None and isinstance(distances[i], (int, float)):
                entry["distance"] = float(distances[i])
            docs.append(entry)
        out[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = _json(docs)
    return out


_QUERY, _AQUERY = method_wrappers(query_call)

PATCHES = (
    Patch("chromadb.api.models.Collection", "Collection.query", wrapper=_QUERY),
    Patch("chromadb.api.models.AsyncCollection", "AsyncCollection.query", wrapper=_AQUERY),
)
