"""Framework instrumentors end to end: LangChain, LlamaIndex, Chroma, Qdrant and MCP, each the real library
in a local or in-memory mode (no network, no model download).

Rules followed by every test here:

* Each span's attributes are all accounted for: ``assert_attributes`` fails on a missing *or an extra* one.
* Every traced call runs inside an ``@llmtrace.agent`` step (``in_agent()``), whose child its span must be.
* Content capture is tested off and on; async entry points run through the same scenario as sync ones.
* ``uninstrument()`` puts back the very objects that were patched, and tracing stops.
* ``pytest.importorskip`` only guards a missing library: the nox ``tests`` session installs
  ``FRAMEWORKS_NEWEST``, so in CI every section runs.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import llmtrace
from helpers import assert_attributes, metric_points
from llmtrace import _semconv as sc
from llmtrace.instrumentors import REGISTRY
from scenarios import assert_restored, assert_wrapped_once, patch_targets, resolve, run_script

FRAMEWORKS_NEWEST = ["langchain-core", "llama-index-core", "chromadb", "qdrant-client", "mcp"]
"""What the nox ``tests`` session installs for this file (PyPI names, newest releases)."""

pytestmark = pytest.mark.usefixtures("spans_end_once")

AGENT = "researcher"
RETRIEVAL = {sc.GEN_AI_OPERATION_NAME: "retrieval"}
TOOL = {sc.GEN_AI_OPERATION_NAME: "execute_tool", sc.GEN_AI_AGENT_NAME: AGENT}
CAPTURE = pytest.mark.parametrize("capture", [False, True], ids=["content-off", "content-on"])
SHAPES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def in_agent(t: Any, call: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """Run `call` (awaiting what it returns, if anything) inside an ``@llmtrace.agent`` step; its result
    and the spans made inside, each checked to be a direct child of the agent's span."""

    @llmtrace.agent(name=AGENT)
    async def researcher() -> Any:
        return await resolve(call())

    result = asyncio.run(researcher())
    spans = t.spans()
    [agent] = [s for s in spans if s.name == f"invoke_agent {AGENT}"]
    inside = [s for s in spans if s is not agent]
    for span in inside:
        assert span.parent is not None and span.parent.span_id == agent.context.span_id, span.name
        assert span.context.trace_id == agent.context.trace_id
    return result, inside


def only(
    spans: list[Any], name: str, status: StatusCode = StatusCode.UNSET, kind: SpanKind = SpanKind.INTERNAL
) -> Any:
    """The one span made inside the agent: from llmtrace, named `name`, INTERNAL (in-process frameworks)
    or CLIENT (vector databases)."""
    assert [s.name for s in spans] == [name]
    span = spans[0]
    assert span.kind is kind
    assert span.instrumentation_scope.name == "llmtrace"
    assert span.status.status_code is status
    return span


def tool_labels(name: str, tool_type: str) -> dict[str, Any]:
    """The attributes of a tool's duration metric (gen_ai.execute_tool.duration) inside the agent."""
    return {sc.GEN_AI_TOOL_NAME: name, sc.GEN_AI_TOOL_TYPE: tool_type, sc.GEN_AI_AGENT_NAME: AGENT}


def content(capture: bool, attributes: dict[str, Any]) -> dict[str, Any]:
    """`attributes` when content capture is on, else none."""
    return attributes if capture else {}


def assert_uninstrument_restores(instrument: Any, name: str, call: Callable[[], Any]) -> None:
    """Instrumenting wraps each of the `name` instrumentor's targets once; uninstrument() puts the original
    objects back and `call` makes no span any more."""
    before = patch_targets(importlib.import_module(REGISTRY[name]).PATCHES)
    assert before
    t = instrument()
    assert_wrapped_once(before)
    assert set(before) <= set(t.handle.patched)
    asyncio.run(resolve_call(call))
    assert len(t.spans()) == 1

    t.handle.uninstrument()

    assert_restored(before)
    asyncio.run(resolve_call(call))
    assert len(t.spans()) == 1


async def resolve_call(call: Callable[[], Any]) -> Any:
    return await resolve(call())


# === LangChain (langchain-core) ====================================================================


@pytest.fixture
def langchain() -> SimpleNamespace:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import StructuredTool, ToolException, tool
    from pydantic import Field

    class Shelf(BaseRetriever):
        """Two documents: one with an id, one known by its source."""

        k: int | None = None
        search_kwargs: dict[str, Any] = Field(default_factory=dict)

        def _get_relevant_documents(self, query: str, *, run_manager: Any, **kwargs: Any) -> list[Document]:
            return [
                Document(id="d1", page_content=f"about {query}"),
                Document(page_content="more", metadata={"source": "b.md"}),
            ]

    @tool
    def get_weather(city: str) -> dict[str, str]:
        """Current weather in a city."""
        return {"city": city, "sky": "clear"}

    @tool
    async def local_time(city: str) -> str:
        """Local time in a city."""
        return "12:00"

    @tool
    def book(city: str) -> str:
        """Book a trip."""
        raise ValueError("no seats")

    def sold_out(city: str) -> str:
        raise ToolException(f"{city} is sold out")

    refund = StructuredTool.from_function(
        sold_out, name="refund", description="Refund a trip.", handle_tool_error=True
    )
    return SimpleNamespace(
        Shelf=Shelf, get_weather=get_weather, local_time=local_time, book=book, refund=refund
    )


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    """A LangChain ToolCall, as a chat model returns it."""
    return {"type": "tool_call", "id": call_id, "name": name, "args": args}


@CAPTURE
@SHAPES
def test_langchain_retriever_invoke_is_a_retrieval_span(instrument, langchain, capture, is_async):
    t = instrument(capture_content=capture)
    shelf = langchain.Shelf(k=2)

    docs, spans = in_agent(t, lambda: shelf.ainvoke("paris") if is_async else shelf.invoke("paris"))

    assert [d.id for d in docs] == ["d1", None]
    span = only(spans, "retrieval Shelf")
    assert_attributes(
        span,
        {
            **RETRIEVAL,
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2,  # LangChain Documents carry no score
            **content(
                capture,
                {
                    sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "paris",
                    sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "d1"}, {"id": "b.md"}],
                },
            ),
        },
    )


@pytest.mark.parametrize(
    ("fields", "kwargs", "top_k"),
    [
        ({}, {}, None),
        ({"k": 3}, {}, 3),
        ({"search_kwargs": {"k": 4}}, {}, 4),
        ({"k": 3}, {"k": 5}, 5),  # invoke(..., k=5) overrides, as VectorStoreRetriever merges it
    ],
    ids=["none", "k-field", "search_kwargs", "invoke-k"],
)
def test_langchain_retriever_top_k_from_k_search_kwargs_or_invoke(
    instrument, langchain, fields, kwargs, top_k
):
    t = instrument()
    shelf = langchain.Shelf(**fields)

    _, spans = in_agent(t, lambda: shelf.invoke("paris", **kwargs))

    top = {sc.GEN_AI_RETRIEVAL_TOP_K: top_k} if top_k is not None else {}
    assert_attributes(
        only(spans, "retrieval Shelf"), {**RETRIEVAL, **top, sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2}
    )


WEATHER = {
    sc.GEN_AI_TOOL_NAME: "get_weather",
    sc.GEN_AI_TOOL_TYPE: "function",
    sc.GEN_AI_TOOL_DESCRIPTION: "Current weather in a city.",
}


@CAPTURE
@pytest.mark.parametrize(
    ("how", "call_id"),
    [("invoke", None), ("invoke", "call_1"), ("ainvoke", "call_1"), ("run", None)],
    ids=["invoke-args", "invoke-toolcall", "ainvoke-sync-tool-in-executor", "run"],
)
def test_langchain_tool_call_is_one_execute_tool_span(instrument, langchain, capture, how, call_id):
    t = instrument(capture_content=capture)
    weather = langchain.get_weather
    args = {"city": "Paris"}
    given = tool_call("get_weather", args, call_id) if call_id else args

    result, spans = in_agent(t, lambda: getattr(weather, how)(given))

    # With a call id, run() returns a ToolMessage whose content is the dict as JSON text.
    output = result.content if call_id else result
    assert output == ('{"city": "Paris", "sky": "clear"}' if call_id else {"city": "Paris", "sky": "clear"})
    span = only(spans, "execute_tool get_weather")  # one span: invoke/ainvoke go through run()
    assert_attributes(
        span,
        {
            **TOOL,
            **WEATHER,
            **({sc.GEN_AI_TOOL_CALL_ID: call_id} if call_id else {}),
            **content(
                capture,
                {
                    sc.GEN_AI_TOOL_CALL_ARGUMENTS: {"city": "Paris"},
                    sc.GEN_AI_TOOL_CALL_RESULT: {"city": "Paris", "sky": "clear"},
                },
            ),
        },
    )
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == tool_labels("get_weather", "function")


def test_langchain_async_tool_ainvoke_is_one_span_through_arun(instrument, langchain):
    t = instrument(capture_content=True)

    result, spans = in_agent(t, lambda: langchain.local_time.ainvoke({"city": "Paris"}))

    assert result == "12:00"
    assert_attributes(
        only(spans, "execute_tool local_time"),
        {
            **TOOL,
            sc.GEN_AI_TOOL_NAME: "local_time",
            sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: "Local time in a city.",
            sc.GEN_AI_TOOL_CALL_ARGUMENTS: {"city": "Paris"},
            sc.GEN_AI_TOOL_CALL_RESULT: '"12:00"',  # not JSON text: recorded as a JSON string
        },
    )


def test_langchain_tool_exception_is_recorded_and_reraised(instrument, langchain):
    t = instrument()

    with pytest.raises(ValueError, match="no seats"):
        in_agent(t, lambda: langchain.book.invoke(tool_call("book", {"city": "Oslo"}, "call_9")))

    [agent] = [s for s in t.spans() if s.name == f"invoke_agent {AGENT}"]
    [span] = [s for s in t.spans() if s.name == "execute_tool book"]
    assert span.parent.span_id == agent.context.span_id
    assert span.status.status_code is StatusCode.ERROR
    assert_attributes(
        span,
        {
            **TOOL,
            sc.GEN_AI_TOOL_NAME: "book",
            sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: "Book a trip.",
            sc.GEN_AI_TOOL_CALL_ID: "call_9",
            sc.ERROR_TYPE: "ValueError",
        },
    )
    [event] = span.events
    assert (event.name, event.attributes["exception.message"]) == ("exception", "no seats")
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == {**tool_labels("book", "function"), sc.ERROR_TYPE: "ValueError"}


def test_langchain_handled_tool_error_is_a_tool_error(instrument, langchain):
    t = instrument(capture_content=True)

    message, spans = in_agent(t, lambda: langchain.refund.invoke(tool_call("refund", {"city": "Oslo"})))

    assert (message.status, message.content) == ("error", "Oslo is sold out")
    span = only(spans, "execute_tool refund", StatusCode.ERROR)
    assert not span.events  # nothing was raised
    assert_attributes(
        span,
        {
            **TOOL,
            sc.GEN_AI_TOOL_NAME: "refund",
            sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: "Refund a trip.",
            sc.GEN_AI_TOOL_CALL_ID: "call_1",
            sc.GEN_AI_TOOL_CALL_ARGUMENTS: {"city": "Oslo"},
            sc.GEN_AI_TOOL_CALL_RESULT: '"Oslo is sold out"',
            sc.ERROR_TYPE: "tool_error",
        },
    )
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == {**tool_labels("refund", "function"), sc.ERROR_TYPE: "tool_error"}


def test_langchain_uninstrument_restores_base_classes(instrument, langchain):
    shelf = langchain.Shelf()
    assert_uninstrument_restores(instrument, "langchain", lambda: shelf.invoke("paris"))
    t = instrument()  # instrumenting again patches again; tools stop being traced on uninstrument too
    langchain.get_weather.invoke({"city": "Paris"})
    t.handle.uninstrument()
    langchain.get_weather.invoke({"city": "Paris"})
    assert [s.name for s in t.spans()] == ["retrieval Shelf", "execute_tool get_weather"]


# === LlamaIndex (llama-index-core) =================================================================


@pytest.fixture
def llama_index() -> SimpleNamespace:
    pytest.importorskip("llama_index.core")
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class Shelf(BaseRetriever):
        """Two scored nodes."""

        def __init__(self, similarity_top_k: int | None = None) -> None:
            super().__init__()
            self.similarity_top_k = similarity_top_k

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return [
                NodeWithScore(node=TextNode(id_="n1", text=f"about {query_bundle.query_str}"), score=0.875),
                NodeWithScore(node=TextNode(id_="n2", text="more"), score=0.5),
            ]

    return SimpleNamespace(Shelf=Shelf, QueryBundle=QueryBundle)


@CAPTURE
@SHAPES
def test_llama_index_retrieve_is_a_retrieval_span_with_scores(instrument, llama_index, capture, is_async):
    t = instrument(capture_content=capture)
    shelf = llama_index.Shelf(similarity_top_k=2)
    query = llama_index.QueryBundle("paris") if is_async else "paris"  # both query shapes

    nodes, spans = in_agent(t, lambda: shelf.aretrieve(query) if is_async else shelf.retrieve(query))

    assert [n.node.node_id for n in nodes] == ["n1", "n2"]
    assert_attributes(
        only(spans, "retrieval Shelf"),
        {
            **RETRIEVAL,
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2,
            sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.5,
            sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 0.875,
            sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.375,
            **content(
                capture,
                {
                    sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "paris",
                    sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "n1", "score": 0.875}, {"id": "n2", "score": 0.5}],
                },
            ),
        },
    )


def test_llama_index_retriever_without_top_k(instrument, llama_index):
    t = instrument()

    _, spans = in_agent(t, lambda: llama_index.Shelf().retrieve("paris"))

    assert_attributes(
        only(spans, "retrieval Shelf"),
        {
            **RETRIEVAL,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2,
            sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.5,
            sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 0.875,
            sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.375,
        },
    )


def test_llama_index_uninstrument_restores_base_retriever(instrument, llama_index):
    shelf = llama_index.Shelf()
    assert_uninstrument_restores(instrument, "llama_index", lambda: shelf.retrieve("paris"))


# === Chroma (chromadb) =============================================================================

# Exact in float32, so the distances chroma returns compare equal: squared L2 (the default space)
# from [1, 0, 0] is 0 for "a", 0.25 for "b" and 2 for "c".
VECTORS = {"a": [1.0, 0.0, 0.0], "b": [0.5, 0.0, 0.0], "c": [0.0, 0.0, 1.0]}


def never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("chromadb's default embedding model must not be used (it downloads a model)")


@pytest.fixture
def chroma(monkeypatch: pytest.MonkeyPatch) -> Any:
    chromadb = pytest.importorskip("chromadb")
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.config import Settings
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", never)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", never)

    class Letters(EmbeddingFunction[Documents]):
        """Texts with an "a" are [1, 0, 0], others [0, 0, 1]: no model."""

        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            return [[1.0, 0.0, 0.0] if "a" in text else [0.0, 0.0, 1.0] for text in input]

        @staticmethod
        def name() -> str:
            return "letters"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> Letters:
            return Letters()

    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("docs", embedding_function=Letters())
    collection.add(ids=list(VECTORS), embeddings=list(VECTORS.values()))
    yield collection
    client.delete_collection("docs")


CHROMA = {**RETRIEVAL, sc.GEN_AI_PROVIDER_NAME: "chroma", sc.GEN_AI_DATA_SOURCE_ID: "docs"}


@CAPTURE
def test_chroma_query_is_a_retrieval_span_with_distances(instrument, chroma, capture):
    t = instrument(capture_content=capture)

    result, spans = in_agent(t, lambda: chroma.query(query_embeddings=[VECTORS["a"]], n_results=2))

    assert result["ids"] == [["a", "b"]]
    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **CHROMA,
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2,
            # distances as chroma reports them (smaller is closer), never as scores
            "llmtrace.retrieval.distance.min": 0.0,
            "llmtrace.retrieval.distance.max": 0.25,
            "llmtrace.retrieval.distance.spread": 0.25,
            **content(
                capture,
                {
                    sc.GEN_AI_RETRIEVAL_DOCUMENTS: [
                        {"id": "a", "distance": 0.0},
                        {"id": "b", "distance": 0.25},
                    ]
                },
            ),
        },
    )


@CAPTURE
def test_chroma_query_texts_records_the_query(instrument, chroma, capture):
    t = instrument(capture_content=capture)

    _, spans = in_agent(t, lambda: chroma.query(query_texts=["paris"], n_results=1))

    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **CHROMA,
            sc.GEN_AI_RETRIEVAL_TOP_K: 1,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 1,
            "llmtrace.retrieval.distance.min": 0.0,
            "llmtrace.retrieval.distance.max": 0.0,
            "llmtrace.retrieval.distance.spread": 0.0,
            **content(
                capture,
                {
                    sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "paris",
                    sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "a", "distance": 0.0}],
                },
            ),
        },
    )


def test_chroma_batch_query_without_distances_is_one_span(instrument, chroma):
    t = instrument(capture_content=True)

    result, spans = in_agent(
        t, lambda: chroma.query(query_embeddings=[VECTORS["a"], VECTORS["c"]], n_results=2, include=[])
    )

    assert result["ids"] == [["a", "b"], ["c", "b"]]
    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **CHROMA,
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 4,
            sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "b"}],
        },
    )


def test_chroma_default_n_results_is_the_top_k(instrument, chroma):
    t = instrument()

    _, spans = in_agent(t, lambda: chroma.query(query_embeddings=[VECTORS["a"]]))

    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **CHROMA,
            sc.GEN_AI_RETRIEVAL_TOP_K: 10,  # chroma's default, what the query asked for
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 3,
            "llmtrace.retrieval.distance.min": 0.0,
            "llmtrace.retrieval.distance.max": 2.0,
            "llmtrace.retrieval.distance.spread": 2.0,
        },
    )


def test_chroma_uninstrument_restores_collection(instrument, chroma):
    assert_uninstrument_restores(
        instrument, "chromadb", lambda: chroma.query(query_embeddings=[VECTORS["a"]])
    )


# === Qdrant (qdrant-client) ========================================================================


@pytest.fixture
def qdrant() -> ModuleType:
    return pytest.importorskip("qdrant_client")


async def qdrant_collection(client: Any) -> None:
    """Collection "docs" in a Dot space: the scores from [1, 0, 0] are exact (1.0, 0.5, 0.0)."""
    from qdrant_client import models

    await resolve(
        client.create_collection(
            "docs", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
        )
    )
    points = [models.PointStruct(id=i, vector=v) for i, v in enumerate(VECTORS.values(), start=1)]
    await resolve(client.upsert("docs", points=points))


def qdrant_client(qdrant: ModuleType, is_async: bool) -> Any:
    client = (qdrant.AsyncQdrantClient if is_async else qdrant.QdrantClient)(":memory:")
    asyncio.run(qdrant_collection(client))
    return client


QDRANT = {**RETRIEVAL, sc.GEN_AI_PROVIDER_NAME: "qdrant", sc.GEN_AI_DATA_SOURCE_ID: "docs"}


@CAPTURE
@SHAPES
def test_qdrant_query_points_is_a_retrieval_span_with_scores(instrument, qdrant, capture, is_async):
    client = qdrant_client(qdrant, is_async)
    t = instrument(capture_content=capture)

    response, spans = in_agent(t, lambda: client.query_points("docs", query=VECTORS["a"], limit=2))

    assert [(p.id, p.score) for p in response.points] == [(1, 1.0), (2, 0.5)]
    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **QDRANT,
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 2,
            sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.5,
            sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 1.0,
            sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.5,
            **content(
                capture,
                {sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "1", "score": 1.0}, {"id": "2", "score": 0.5}]},
            ),
        },
    )


@SHAPES
def test_qdrant_search_is_a_retrieval_span(instrument, qdrant, is_async):
    client = qdrant_client(qdrant, is_async)
    if not hasattr(client, "search"):
        version = importlib.metadata.version("qdrant-client")
        pytest.skip(f"qdrant-client {version} has no search() (removed in favour of query_points)")
    t = instrument()

    points, spans = in_agent(t, lambda: client.search("docs", query_vector=VECTORS["a"], limit=3))

    assert [p.id for p in points] == [1, 2, 3]
    assert_attributes(
        only(spans, "retrieval docs", kind=SpanKind.CLIENT),
        {
            **QDRANT,
            sc.GEN_AI_RETRIEVAL_TOP_K: 3,
            sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 3,
            sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.0,
            sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 1.0,
            sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 1.0,
        },
    )


def test_qdrant_uninstrument_restores_clients(instrument, qdrant):
    client = qdrant_client(qdrant, is_async=False)
    assert_uninstrument_restores(
        instrument, "qdrant", lambda: client.query_points("docs", query=VECTORS["a"])
    )


# === MCP (mcp) =====================================================================================


@pytest.fixture
def mcp_server() -> Any:
    """An in-process MCP server with three tools; ``connect(server)`` opens a client session to it."""
    pytest.importorskip("mcp")
    try:
        from mcp.server.mcpserver import MCPServer  # mcp >= 2
        from mcp.shared.exceptions import MCPError as Error
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as MCPServer
        from mcp.shared.exceptions import McpError as Error
        from mcp.types import ErrorData

    server = MCPServer("shop")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def restock(item: str) -> str:
        """Fails: the tool raises, so the result has isError set."""
        raise ValueError(f"{item} is out of stock")

    @server.tool()
    def quota() -> str:
        """Fails with a JSON-RPC error."""
        if Error.__name__ == "MCPError":
            raise Error(code=-32001, message="quota exceeded")
        raise Error(ErrorData(code=-32001, message="quota exceeded"))

    return server


async def with_session(server: Any, use: Callable[[Any], Any]) -> Any:
    """``use(session)`` with a ClientSession connected in memory to `server`."""
    import mcp

    if hasattr(mcp, "Client"):  # mcp >= 2
        async with mcp.Client(server) as client:
            return await use(client.session)
    from mcp.shared.memory import create_connected_server_and_client_session

    async with create_connected_server_and_client_session(server._mcp_server) as session:
        return await use(session)


def mcp_tool(server: Any, name: str, arguments: dict[str, Any]) -> Callable[[], Any]:
    """The call of one tool, each time in a new session: the session's protocol version and the result,
    or the exception the call raised (returned: raised, the session's task group would wrap it)."""

    async def use(session: Any) -> tuple[Any, Any]:
        version = getattr(session, "protocol_version", None)
        try:
            return version, await session.call_tool(name, arguments)
        except Exception as exc:
            return version, exc

    return lambda: with_session(server, use)


def mcp_attributes(name: str, version: str | None) -> dict[str, Any]:
    return {
        **TOOL,
        sc.GEN_AI_TOOL_NAME: name,
        sc.GEN_AI_TOOL_TYPE: "extension",
        "mcp.method.name": "tools/call",
        **({"mcp.protocol.version": version} if version else {}),
    }


@CAPTURE
def test_mcp_call_tool_is_an_execute_tool_span(instrument, mcp_server, capture):
    t = instrument(capture_content=capture)

    (version, result), spans = in_agent(t, mcp_tool(mcp_server, "add", {"a": 1, "b": 2}))

    assert result.content[0].text == "3"
    span = only(spans, "execute_tool add")
    assert_attributes(
        span,
        {
            **mcp_attributes("add", version),
            **content(
                capture,
                {
                    sc.GEN_AI_TOOL_CALL_ARGUMENTS: {"a": 1, "b": 2},
                    sc.GEN_AI_TOOL_CALL_RESULT: {"result": 3},  # the structured content
                },
            ),
        },
    )
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == tool_labels("add", "extension")


@CAPTURE
def test_mcp_is_error_result_is_a_tool_error(instrument, mcp_server, capture):
    t = instrument(capture_content=capture)

    (version, result), spans = in_agent(t, mcp_tool(mcp_server, "restock", {"item": "tea"}))

    assert _is_error(result)
    span = only(spans, "execute_tool restock", StatusCode.ERROR)
    assert not span.events  # call_tool returned normally
    text = result.content[0].text
    assert_attributes(
        span,
        {
            **mcp_attributes("restock", version),
            sc.ERROR_TYPE: "tool_error",
            **content(
                capture,
                {
                    sc.GEN_AI_TOOL_CALL_ARGUMENTS: {"item": "tea"},
                    sc.GEN_AI_TOOL_CALL_RESULT: [{"type": "text", "text": text}],  # the content blocks
                },
            ),
        },
    )
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == {**tool_labels("restock", "extension"), sc.ERROR_TYPE: "tool_error"}


def _is_error(result: Any) -> bool:
    return (getattr(result, "is_error", None) or getattr(result, "isError", None)) is True


def test_mcp_json_rpc_error_is_its_code(instrument, mcp_server):
    if not hasattr(importlib.import_module("mcp"), "Client"):
        pytest.skip("mcp 1.x servers turn a tool's McpError into an isError result, not a JSON-RPC error")
    t = instrument()

    (version, error), spans = in_agent(t, mcp_tool(mcp_server, "quota", {}))

    assert type(error).__name__ in ("MCPError", "McpError")
    assert "quota exceeded" in str(error)
    span = only(spans, "execute_tool quota", StatusCode.ERROR)
    assert_attributes(
        span,
        {
            **mcp_attributes("quota", version),
            sc.ERROR_TYPE: "-32001",
            "rpc.response.status_code": "-32001",
        },
    )
    [event] = span.events
    assert event.attributes["exception.type"] == type(error).__qualname__
    [point] = metric_points(t.reader)[sc.METRIC_TOOL_DURATION]
    assert dict(point.attributes) == {**tool_labels("quota", "extension"), sc.ERROR_TYPE: "-32001"}


def test_mcp_uninstrument_restores_client_session(instrument, mcp_server):
    assert_uninstrument_restores(instrument, "mcp", mcp_tool(mcp_server, "add", {"a": 1, "b": 2}))


# === all: patched lazily, on import, only when installed ===========================================

LAZY_SCRIPT = """
import importlib, json, sys
import llmtrace
roots = sys.argv[1].split(",")
handle = llmtrace.instrument(exporter="none", raise_internal_errors=True)
imported = [r for r in roots if r in sys.modules]
before = [p for p in handle.patched if p.split(".")[0] in roots]
for module in sys.argv[2].split(","):
    importlib.import_module(module)
after = sorted({p.split(".")[0] for p in handle.patched if p.split(".")[0] in roots})
print(json.dumps({"imported": imported, "before": before, "after": after}))
"""


def test_frameworks_are_patched_lazily_on_import():
    roots = ["langchain_core", "llama_index", "chromadb", "qdrant_client", "mcp"]
    for root in roots:
        pytest.importorskip(root)
    modules = ["langchain_core.retrievers", "langchain_core.tools", "llama_index.core", *roots[2:]]

    summary = run_script(
        LAZY_SCRIPT,
        ",".join(roots),
        ",".join(modules),
        drop_env=("OTEL_", "LLMTRACE_"),
        LLMTRACE_EXPORTER="none",
    )

    # instrument() imported none of them and patched nothing; importing them applied every patch
    assert summary == {"imported": [], "before": [], "after": sorted(roots)}
