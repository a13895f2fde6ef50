"""The decorators for the user's own code: agent, tool, retriever, workflow, step.

Every decorator (bare and with arguments) is run in every call shape: function, instance method,
classmethod, staticmethod, coroutine function, generator function, async generator function. The
decorated functions are built before ``instrument()`` is called, as a user's module-level code would be.
Each span's attributes are all accounted for (``assert_attributes`` fails on an extra one too).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import llmtrace
from helpers import ANY, assert_attributes
from llmtrace import _semconv as sc
from steps import (
    allm_call,
    assert_exception_event,
    assert_internal,
    counts_by_labels,
    histogram_points,
    instrument_fake,
    is_child,
    label_set,
    labels_of,
    llm_call,
    named,
    run,
)


@pytest.fixture
def fake(instrument, monkeypatch):
    return lambda **settings: instrument_fake(instrument, monkeypatch, **settings)


class UserError(Exception):
    """What the user's code raises."""


OP = sc.GEN_AI_OPERATION_NAME
DOC_LINE = "Do the work."
STEP_METRICS = (sc.METRIC_AGENT_DURATION, sc.METRIC_TOOL_DURATION, sc.METRIC_WORKFLOW_DURATION)


# --- the decorators, bare and with arguments, and what their spans look like ---------------------


@dataclass(frozen=True)
class Kind:
    id: str
    decorate: Callable[[Any], Any]
    span_name: str
    attributes: dict[str, Any]
    metric: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    buckets: tuple[float, ...] = ()


KINDS = [
    Kind(
        "agent",
        llmtrace.agent,
        "invoke_agent work",
        {OP: "invoke_agent", sc.GEN_AI_AGENT_NAME: "work", sc.GEN_AI_AGENT_DESCRIPTION: DOC_LINE},
        sc.METRIC_AGENT_DURATION,
        {sc.GEN_AI_AGENT_NAME: "work"},
        sc.AGENT_BUCKETS,
    ),
    Kind(
        "agent(name,description,version)",
        llmtrace.agent(name="planner", description="Plans the trip.", version="2.1"),
        "invoke_agent planner",
        {
            OP: "invoke_agent",
            sc.GEN_AI_AGENT_NAME: "planner",
            sc.GEN_AI_AGENT_DESCRIPTION: "Plans the trip.",
            sc.LLMTRACE_AGENT_VERSION: "2.1",
        },
        sc.METRIC_AGENT_DURATION,
        {sc.GEN_AI_AGENT_NAME: "planner"},
        sc.AGENT_BUCKETS,
    ),
    Kind(
        "tool",
        llmtrace.tool,
        "execute_tool work",
        {
            OP: "execute_tool",
            sc.GEN_AI_TOOL_NAME: "work",
            sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: DOC_LINE,
        },
        sc.METRIC_TOOL_DURATION,
        {sc.GEN_AI_TOOL_NAME: "work", sc.GEN_AI_TOOL_TYPE: "function"},
        sc.DURATION_BUCKETS,
    ),
    Kind(
        "tool(name,description,type)",
        llmtrace.tool(name="lookup", description="Looks it up.", type="extension"),
        "execute_tool lookup",
        {
            OP: "execute_tool",
            sc.GEN_AI_TOOL_NAME: "lookup",
            sc.GEN_AI_TOOL_TYPE: "extension",
            sc.GEN_AI_TOOL_DESCRIPTION: "Looks it up.",
        },
        sc.METRIC_TOOL_DURATION,
        {sc.GEN_AI_TOOL_NAME: "lookup", sc.GEN_AI_TOOL_TYPE: "extension"},
        sc.DURATION_BUCKETS,
    ),
    Kind("retriever", llmtrace.retriever, "retrieval work", {OP: "retrieval"}),
    Kind("retriever(name)", llmtrace.retriever(name="kb"), "retrieval kb", {OP: "retrieval"}),
    Kind(
        "retriever(name,data_source)",
        llmtrace.retriever(name="kb", data_source="docs-v1"),
        "retrieval docs-v1",
        {OP: "retrieval", sc.GEN_AI_DATA_SOURCE_ID: "docs-v1"},
    ),
    Kind(
        "workflow",
        llmtrace.workflow,
        "invoke_workflow work",
        {OP: "invoke_workflow", sc.GEN_AI_WORKFLOW_NAME: "work"},
        sc.METRIC_WORKFLOW_DURATION,
        {sc.GEN_AI_WORKFLOW_NAME: "work"},
        sc.WORKFLOW_BUCKETS,
    ),
    Kind(
        "workflow(name)",
        llmtrace.workflow(name="pipeline"),
        "invoke_workflow pipeline",
        {OP: "invoke_workflow", sc.GEN_AI_WORKFLOW_NAME: "pipeline"},
        sc.METRIC_WORKFLOW_DURATION,
        {sc.GEN_AI_WORKFLOW_NAME: "pipeline"},
        sc.WORKFLOW_BUCKETS,
    ),
    Kind("step", llmtrace.step, "work", {OP: "step", sc.LLMTRACE_STEP_NAME: "work"}),
    Kind(
        "step(name)", llmtrace.step(name="prepare"), "prepare", {OP: "step", sc.LLMTRACE_STEP_NAME: "prepare"}
    ),
]
kinds = pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])


# --- the call shapes -------------------------------------------------------------------------------
#
# Each builder decorates a fresh `work` (docstring first line: DOC_LINE) whose body makes one model call
# through the fake SDK and then returns 2*x (or yields x, makes the call, yields 2*x), raising `error`
# instead when one is given. It returns (what the decorator returned, the original, a call that returns
# the result).


def function_shape(decorate, error=None):
    def work(x: int, *, scale: int = 2) -> int:
        """Do the work.

        More detail, not part of the description.
        """
        llm_call()
        if error is not None:
            raise error
        return x * scale

    wrapped = decorate(work)
    return wrapped, work, lambda: wrapped(21)


def method_shape(decorate, error=None):
    def work(self, x: int, *, scale: int = 2) -> int:
        """Do the work.

        More detail, not part of the description.
        """
        assert isinstance(self, Box)
        llm_call()
        if error is not None:
            raise error
        return x * scale

    class Box:
        pass

    Box.work = decorate(work)  # type: ignore[attr-defined]
    return Box.__dict__["work"], work, lambda: Box().work(21)  # type: ignore[attr-defined]


def classmethod_shape(decorate, error=None):
    class Box:
        @classmethod
        @decorate
        def work(cls, x: int, *, scale: int = 2) -> int:
            """Do the work.

            More detail, not part of the description.
            """
            assert cls is Box
            llm_call()
            if error is not None:
                raise error
            return x * scale

    wrapped = Box.__dict__["work"].__func__
    return wrapped, wrapped.__wrapped__, lambda: Box.work(21)


def staticmethod_shape(decorate, error=None):
    class Box:
        @staticmethod
        @decorate
        def work(x: int, *, scale: int = 2) -> int:
            """Do the work.

            More detail, not part of the description.
            """
            llm_call()
            if error is not None:
                raise error
            return x * scale

    wrapped = Box.__dict__["work"].__func__
    return wrapped, wrapped.__wrapped__, lambda: Box().work(21)


def async_shape(decorate, error=None):
    async def work(x: int, *, scale: int = 2) -> int:
        """Do the work.

        More detail, not part of the description.
        """
        await asyncio.sleep(0)
        await allm_call()
        if error is not None:
            raise error
        return x * scale

    wrapped = decorate(work)
    return wrapped, work, lambda: run(wrapped(21))


def generator_shape(decorate, error=None):
    def work(x: int, *, scale: int = 2) -> Iterator[int]:
        """Do the work.

        More detail, not part of the description.
        """
        yield x
        llm_call()
        if error is not None:
            raise error
        yield x * scale

    wrapped = decorate(work)
    return wrapped, work, lambda: list(wrapped(21))


def async_generator_shape(decorate, error=None):
    async def work(x: int, *, scale: int = 2) -> AsyncIterator[int]:
        """Do the work.

        More detail, not part of the description.
        """
        yield x
        await allm_call()
        if error is not None:
            raise error
        await asyncio.sleep(0)
        yield x * scale

    wrapped = decorate(work)

    async def consume() -> list[int]:
        return [item async for item in wrapped(21)]

    return wrapped, work, lambda: run(consume())


SHAPES = {
    "function": (function_shape, 42),
    "method": (method_shape, 42),
    "classmethod": (classmethod_shape, 42),
    "staticmethod": (staticmethod_shape, 42),
    "async": (async_shape, 42),
    "generator": (generator_shape, [21, 42]),
    "async_generator": (async_generator_shape, [21, 42]),
}
shapes = pytest.mark.parametrize("shape", list(SHAPES))


def assert_step_metric(t, kind: Kind, error: str | None = None) -> None:
    """One duration point for `kind` (labels, semconv buckets); no other step metric."""
    for name in STEP_METRICS:
        points = histogram_points(t.reader, name)
        if name != kind.metric:
            assert points == [], f"{name} recorded for {kind.id}"
            continue
        [point] = points
        expected = dict(kind.labels)
        if error is not None:
            expected[sc.ERROR_TYPE] = error
        assert dict(point.attributes) == expected
        assert point.count == 1
        assert tuple(point.explicit_bounds) == tuple(kind.buckets)


# --- every decorator x every call shape ------------------------------------------------------------


@shapes
@kinds
def test_span_for_each_call_shape(fake, kind, shape):
    build, expected = SHAPES[shape]
    _, _, call = build(kind.decorate)  # decorated before instrument()
    t = fake()

    assert call() == expected

    spans = t.spans()
    assert len(spans) == 2, [s.name for s in spans]
    own = named(spans, kind.span_name)
    assert_internal(own, kind.span_name)
    assert_attributes(own, kind.attributes)
    assert own.parent is None
    assert own.events == ()
    llm = named(spans, "chat m")
    assert is_child(llm, own)
    assert llm.end_time <= own.end_time
    assert_step_metric(t, kind)


@shapes
@kinds
def test_exception_recorded_and_reraised_as_is(fake, kind, shape):
    build, _ = SHAPES[shape]
    error = UserError("the tool broke")
    _, _, call = build(kind.decorate, error)
    t = fake()

    with pytest.raises(UserError) as caught:
        call()

    assert caught.value is error
    spans = t.spans()
    own = named(spans, kind.span_name)
    assert_internal(own, kind.span_name, StatusCode.ERROR)
    assert_attributes(own, {**kind.attributes, sc.ERROR_TYPE: "UserError"})
    assert_exception_event(own, error)
    llm = named(spans, "chat m")
    assert is_child(llm, own)
    assert llm.status.status_code is StatusCode.UNSET
    assert_step_metric(t, kind, error="UserError")


@shapes
@kinds
def test_wrapper_keeps_name_doc_signature_and_kind(kind, shape):
    build, _ = SHAPES[shape]
    wrapped, original, _ = build(kind.decorate)

    assert wrapped is not original
    assert wrapped.__wrapped__ is original
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__", "__annotations__"):
        assert getattr(wrapped, attribute) == getattr(original, attribute), attribute
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert inspect.getdoc(wrapped).splitlines()[0] == DOC_LINE
    for predicate in (
        inspect.iscoroutinefunction,
        inspect.isgeneratorfunction,
        inspect.isasyncgenfunction,
        inspect.isfunction,
    ):
        assert predicate(wrapped) == predicate(original), predicate.__name__
    assert inspect.iscoroutinefunction(wrapped) == (shape == "async")
    assert inspect.isgeneratorfunction(wrapped) == (shape == "generator")
    assert inspect.isasyncgenfunction(wrapped) == (shape == "async_generator")


def test_wraps_copies_the_functions_own_attributes():
    def work() -> None:
        pass

    work.registry_key = "tools/work"  # type: ignore[attr-defined]
    for kind in KINDS:
        wrapped = kind.decorate(work)
        assert wrapped.registry_key == "tools/work"
        assert wrapped.__wrapped__ is work


def test_bound_method_signature_drops_self(fake):
    class Box:
        @llmtrace.tool
        def work(self, x: int, *, scale: int = 2) -> int:
            """Do the work."""
            return x * scale

    assert list(inspect.signature(Box().work).parameters) == ["x", "scale"]
    assert list(inspect.signature(Box.work).parameters) == ["self", "x", "scale"]
    assert Box().work(3, scale=3) == 9


# --- not instrumenting -----------------------------------------------------------------------------


@shapes
@kinds
def test_not_instrumented_calls_straight_through(telemetry, kind, shape):
    build, expected = SHAPES[shape]
    _, _, call = build(kind.decorate)
    assert call() == expected
    error = UserError("still raised")
    _, _, failing = build(kind.decorate, error)
    with pytest.raises(UserError) as caught:
        failing()
    assert caught.value is error
    assert telemetry.spans() == []


def test_not_instrumented_no_span_is_current_inside(telemetry):
    seen = []

    @llmtrace.agent
    def work() -> None:
        seen.append(trace.get_current_span().get_span_context().is_valid)

    work()
    assert seen == [False]


@llmtrace.tool
def module_level_tool(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


def test_decorated_at_import_traces_only_while_instrumented(fake, telemetry):
    assert module_level_tool("Oslo") == "sunny in Oslo"
    assert telemetry.spans() == []

    handle = fake().handle
    assert module_level_tool("Paris") == "sunny in Paris"
    assert [s.name for s in telemetry.spans()] == ["execute_tool module_level_tool"]

    llmtrace.uninstrument()
    assert module_level_tool("Rome") == "sunny in Rome"
    assert len(telemetry.spans()) == 1

    fake()
    assert telemetry.handle is not handle
    module_level_tool("Nice")
    assert [s.name for s in telemetry.spans()] == ["execute_tool module_level_tool"] * 2


def test_not_instrumented_generator_keeps_send_throw_and_return(telemetry):
    @llmtrace.step
    def echo() -> Iterator[Any]:
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except UserError:
            yield "recovered"
        return received

    def drive() -> Any:
        gen = echo()
        assert next(gen) == 0
        assert gen.send("a") == 1
        assert gen.throw(UserError("stop")) == "recovered"
        with pytest.raises(StopIteration) as stop:
            next(gen)
        return stop.value.value

    assert drive() == ["a"]
    assert telemetry.spans() == []


# --- generators: items, send, return value, early close, exceptions ----------------------------------


@kinds
def test_generator_consumer_span_between_items_is_not_a_child(fake, kind):
    t = fake()
    other = t.tracer_provider.get_tracer("consumer-lib")

    @kind.decorate
    def work(n: int) -> Iterator[int]:
        """Do the work."""
        for i in range(n):
            llm_call(model=f"m{i}")
            yield i

    with other.start_as_current_span("request"):
        for item in work(2):
            with other.start_as_current_span(f"consume {item}"):
                llm_call(model=f"consumer{item}")

    spans = t.spans()
    own = named(spans, kind.span_name)
    request_span = named(spans, "request")
    assert is_child(own, request_span)
    for i in range(2):
        assert is_child(named(spans, f"chat m{i}"), own)
        consumer = named(spans, f"consume {i}")
        assert is_child(consumer, request_span)
        assert is_child(named(spans, f"chat consumer{i}"), consumer)


@kinds
def test_async_generator_consumer_span_between_items_is_not_a_child(fake, kind):
    t = fake()
    other = t.tracer_provider.get_tracer("consumer-lib")

    @kind.decorate
    async def work(n: int) -> AsyncIterator[int]:
        """Do the work."""
        for i in range(n):
            await allm_call(model=f"m{i}")
            yield i

    async def main() -> None:
        with other.start_as_current_span("request"):
            async for item in work(2):
                assert not trace.get_current_span().name.startswith(kind.span_name)
                with other.start_as_current_span(f"consume {item}"):
                    await asyncio.sleep(0)

    run(main())
    spans = t.spans()
    own = named(spans, kind.span_name)
    request_span = named(spans, "request")
    assert is_child(own, request_span)
    for i in range(2):
        assert is_child(named(spans, f"chat m{i}"), own)
        assert is_child(named(spans, f"consume {i}"), request_span)


def test_generator_send_and_return_value_pass_through(fake):
    t = fake()

    @llmtrace.step
    def accumulate() -> Iterator[int]:
        total = 0
        while True:
            value = yield total
            if value is None:
                return total
            total += value

    def outer() -> Iterator[int]:
        result = yield from accumulate()
        yield -result

    gen = outer()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.send(7) == 12
    assert next(gen) == -12
    assert [s.name for s in t.spans()] == ["accumulate"]


def test_async_generator_asend_passes_through(fake):
    t = fake()

    @llmtrace.step
    async def accumulate() -> AsyncIterator[int]:
        total = 0
        while True:
            total += yield total

    async def main() -> list[int]:
        gen = accumulate()
        got = [await gen.asend(None), await gen.asend(5), await gen.asend(7)]
        await gen.aclose()
        return got

    assert run(main()) == [0, 5, 12]
    assert_internal(t.span(), "accumulate")


@kinds
def test_generator_closed_early_ends_span_without_error(fake, kind):
    t = fake()
    cleaned = []

    @kind.decorate
    def work() -> Iterator[int]:
        """Do the work."""
        try:
            yield 1
            llm_call(model="never")
            yield 2
        finally:
            cleaned.append(True)
            llm_call(model="cleanup")  # the generator's own code: inside its span

    gen = work()
    assert next(gen) == 1
    assert t.spans() == []  # still open
    gen.close()

    assert cleaned == [True]
    spans = t.spans()
    assert len(spans) == 2
    own = named(spans, kind.span_name)
    assert_internal(own, kind.span_name)
    assert_attributes(own, kind.attributes)
    assert own.events == ()
    assert is_child(named(spans, "chat cleanup"), own)
    if kind.metric is not None:
        assert labels_of(histogram_points(t.reader, kind.metric)) == [kind.labels]


@kinds
def test_generator_failing_while_closed_ends_span_with_the_error(fake, kind):
    t = fake()
    error = UserError("cleanup failed")

    @kind.decorate
    def work() -> Iterator[int]:
        """Do the work."""
        try:
            yield 1
        finally:
            raise error

    gen = work()
    next(gen)
    with pytest.raises(UserError) as caught:
        gen.close()

    assert caught.value is error
    own = t.span()
    assert_internal(own, kind.span_name, StatusCode.ERROR)
    assert_attributes(own, {**kind.attributes, sc.ERROR_TYPE: "UserError"})
    assert_exception_event(own, error)


@kinds
def test_generator_abandoned_in_a_for_loop_ends_span(fake, kind):
    t = fake()

    @kind.decorate
    def work() -> Iterator[int]:
        """Do the work."""
        yield from range(10)

    for item in work():
        if item == 3:
            break
    # CPython closes the unreferenced generator at once
    assert_internal(t.span(), kind.span_name)


@kinds
def test_async_generator_closed_early_ends_span_without_error(fake, kind):
    t = fake()
    cleaned = []

    @kind.decorate
    async def work() -> AsyncIterator[int]:
        """Do the work."""
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            cleaned.append(True)
            await allm_call(model="cleanup")

    async def main() -> None:
        gen = work()
        assert await gen.__anext__() == 1
        await gen.aclose()

    run(main())
    assert cleaned == [True]
    spans = t.spans()
    assert len(spans) == 2
    own = named(spans, kind.span_name)
    assert_internal(own, kind.span_name)
    assert own.events == ()
    assert is_child(named(spans, "chat cleanup"), own)


@kinds
def test_async_generator_failing_while_closed_ends_span_with_the_error(fake, kind):
    t = fake()
    error = UserError("cleanup failed")

    @kind.decorate
    async def work() -> AsyncIterator[int]:
        """Do the work."""
        try:
            yield 1
        finally:
            raise error

    async def main() -> None:
        gen = work()
        await gen.__anext__()
        with pytest.raises(UserError) as caught:
            await gen.aclose()
        assert caught.value is error

    run(main())
    own = t.span()
    assert_internal(own, kind.span_name, StatusCode.ERROR)
    assert_exception_event(own, error)


@kinds
def test_generator_exception_thrown_in_and_not_handled(fake, kind):
    t = fake()
    error = UserError("consumer gave up")

    @kind.decorate
    def work() -> Iterator[int]:
        """Do the work."""
        yield 1
        yield 2

    gen = work()
    next(gen)
    with pytest.raises(UserError) as caught:
        gen.throw(error)

    assert caught.value is error
    own = t.span()
    assert_internal(own, kind.span_name, StatusCode.ERROR)
    assert_attributes(own, {**kind.attributes, sc.ERROR_TYPE: "UserError"})
    assert_exception_event(own, error)
    with pytest.raises(StopIteration):
        next(gen)
    assert len(t.spans()) == 1


@kinds
def test_generator_exception_thrown_in_and_handled_continues(fake, kind):
    t = fake()

    @kind.decorate
    def work() -> Iterator[str]:
        """Do the work."""
        try:
            yield "first"
        except UserError as exc:
            llm_call()
            yield f"recovered from {exc}"
        yield "last"

    gen = work()
    assert next(gen) == "first"
    assert gen.throw(UserError("hiccup")) == "recovered from hiccup"
    assert list(gen) == ["last"]

    spans = t.spans()
    own = named(spans, kind.span_name)
    assert_internal(own, kind.span_name)
    assert own.events == ()
    assert is_child(named(spans, "chat m"), own)


@kinds
def test_async_generator_exception_thrown_in(fake, kind):
    t = fake()
    error = UserError("consumer gave up")

    @kind.decorate
    async def work() -> AsyncIterator[str]:
        """Do the work."""
        try:
            yield "first"
        except UserError:
            yield "recovered"
        yield "again"

    async def main() -> None:
        gen = work()
        assert await gen.__anext__() == "first"
        assert await gen.athrow(error) == "recovered"
        with pytest.raises(UserError) as caught:
            await gen.athrow(error)
        assert caught.value is error

    run(main())
    own = t.span()
    assert_internal(own, kind.span_name, StatusCode.ERROR)
    assert_attributes(own, {**kind.attributes, sc.ERROR_TYPE: "UserError"})
    assert_exception_event(own, error)


def test_cancelled_coroutine_ends_its_span_with_the_cancellation(fake):
    t = fake()

    @llmtrace.agent
    async def slow(ready: asyncio.Event) -> None:
        ready.set()
        await asyncio.sleep(10)

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(slow(ready))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    own = t.span()
    assert_internal(own, "invoke_agent slow", StatusCode.ERROR)
    assert own.attributes[sc.ERROR_TYPE] == "CancelledError"
    [point] = histogram_points(t.reader, sc.METRIC_AGENT_DURATION)
    assert dict(point.attributes) == {sc.GEN_AI_AGENT_NAME: "slow", sc.ERROR_TYPE: "CancelledError"}


def test_user_type_error_from_a_bad_call_is_the_users(fake):
    t = fake(capture_content=True)

    @llmtrace.tool
    def work(city: str) -> str:
        return city

    with pytest.raises(TypeError):
        work("Paris", "Oslo")  # type: ignore[call-arg]
    own = t.span()
    assert_internal(own, "execute_tool work", StatusCode.ERROR)
    assert own.attributes[sc.ERROR_TYPE] == "TypeError"
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in own.attributes


# --- a whole agent trace ------------------------------------------------------------------------------


def test_agent_trace_is_a_tree(fake):
    t = fake()

    @llmtrace.retriever(data_source="faq")
    def search(query: str, k: int = 2) -> list[dict[str, Any]]:
        return [{"id": "faq-1", "score": 0.8}]

    @llmtrace.tool
    def lookup_order(order_id: str) -> dict[str, Any]:
        """Look up an order."""
        llm_call(model="summarizer")
        return {"id": order_id, "status": "shipped"}

    @llmtrace.agent
    def support(question: str) -> str:
        """Answers customers."""
        search(question)
        lookup_order("A-1")
        llm_call(model="answerer")
        return "It shipped."

    @llmtrace.workflow
    def pipeline(question: str) -> str:
        return support(question)

    assert pipeline("where is my order?") == "It shipped."
    spans = t.spans()
    assert len(spans) == 6
    workflow = named(spans, "invoke_workflow pipeline")
    agent = named(spans, "invoke_agent support")
    retrieval = named(spans, "retrieval faq")
    tool = named(spans, "execute_tool lookup_order")
    assert workflow.parent is None
    assert is_child(agent, workflow)
    assert is_child(retrieval, agent)
    assert is_child(tool, agent)
    assert is_child(named(spans, "chat summarizer"), tool)
    assert is_child(named(spans, "chat answerer"), agent)
    assert tool.attributes[sc.GEN_AI_AGENT_NAME] == "support"


# --- tools -------------------------------------------------------------------------------------------


def test_tool_description_from_docstring_first_line_or_given_or_none(fake):
    t = fake()

    @llmtrace.tool
    def documented() -> None:
        """
        Get the weather.

        Args: none.
        """

    @llmtrace.tool(description="Explicit wins.")
    def both() -> None:
        """Docstring loses."""

    @llmtrace.tool
    def undocumented() -> None:
        pass

    documented(), both(), undocumented()
    spans = t.spans()
    base = {OP: "execute_tool", sc.GEN_AI_TOOL_TYPE: "function"}
    assert_attributes(
        named(spans, "execute_tool documented"),
        {**base, sc.GEN_AI_TOOL_NAME: "documented", sc.GEN_AI_TOOL_DESCRIPTION: "Get the weather."},
    )
    assert_attributes(
        named(spans, "execute_tool both"),
        {**base, sc.GEN_AI_TOOL_NAME: "both", sc.GEN_AI_TOOL_DESCRIPTION: "Explicit wins."},
    )
    assert_attributes(
        named(spans, "execute_tool undocumented"), {**base, sc.GEN_AI_TOOL_NAME: "undocumented"}
    )


def test_tool_records_the_agent_it_runs_in(fake):
    t = fake()

    @llmtrace.tool
    def fetch() -> None:
        """Fetch."""

    @llmtrace.agent(name="inner")
    def inner() -> None:
        fetch()

    @llmtrace.agent(name="outer")
    def outer() -> None:
        fetch()
        inner()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(fetch).result()
        fetch()

    fetch()
    outer()
    tools = [s for s in t.spans() if s.name == "execute_tool fetch"]
    assert [s.attributes.get(sc.GEN_AI_AGENT_NAME) for s in tools] == [
        None,
        "outer",
        "inner",
        "outer",
        "outer",
    ]
    base = {OP: "execute_tool", sc.GEN_AI_TOOL_NAME: "fetch", sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: "Fetch."}  # fmt: skip
    assert_attributes(tools[0], base)
    assert_attributes(tools[1], {**base, sc.GEN_AI_AGENT_NAME: "outer"})
    # the duration metric carries the agent too (semconv: gen_ai.agent.name is CR on execute_tool.duration)
    labels = {sc.GEN_AI_TOOL_NAME: "fetch", sc.GEN_AI_TOOL_TYPE: "function"}
    assert counts_by_labels(histogram_points(t.reader, sc.METRIC_TOOL_DURATION)) == {
        label_set(labels): 1,
        label_set({**labels, sc.GEN_AI_AGENT_NAME: "outer"}): 3,
        label_set({**labels, sc.GEN_AI_AGENT_NAME: "inner"}): 1,
    }


class _Weather:
    def __init__(self, sky: str) -> None:
        self.sky = sky

    def __str__(self) -> str:
        return f"Weather({self.sky})"


@pytest.mark.parametrize(
    ("returned", "recorded"),
    [
        ({"temperature": 57, "conditions": "rainy"}, {"temperature": 57, "conditions": "rainy"}),
        ('{"temperature": 57, "conditions": "rainy"}', {"temperature": 57, "conditions": "rainy"}),
        ("[1, 2]", [1, 2]),
        ("rainy, 57F", "rainy, 57F"),
        (None, None),
        (_Weather("clear"), "Weather(clear)"),
    ],
    ids=["dict", "json_string", "json_array_string", "plain_string", "none", "object"],
)
def test_tool_arguments_and_result_with_capture_on(fake, returned, recorded):
    t = fake(capture_content=True)

    class Service:
        @llmtrace.tool
        def weather(self, city: str, units: str = "metric", *days: int, **options: Any) -> Any:
            """Weather."""
            return returned

    assert Service().weather("Paris", "imperial", 1, 2, detail=True) is returned
    span = t.span()
    arguments = json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert arguments == {"city": "Paris", "units": "imperial", "days": [1, 2], "options": {"detail": True}}
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == recorded
    assert_attributes(
        span,
        {
            OP: "execute_tool",
            sc.GEN_AI_TOOL_NAME: "weather",
            sc.GEN_AI_TOOL_TYPE: "function",
            sc.GEN_AI_TOOL_DESCRIPTION: "Weather.",
            sc.GEN_AI_TOOL_CALL_ARGUMENTS: ANY,
            sc.GEN_AI_TOOL_CALL_RESULT: ANY,
        },
    )


def test_tool_arguments_include_defaults(fake):
    t = fake(capture_content=True)

    @llmtrace.tool
    def weather(city: str, units: str = "metric") -> str:
        return "ok"

    weather(city="Oslo")
    assert json.loads(t.span().attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "city": "Oslo",
        "units": "metric",
    }


@pytest.mark.parametrize("shape", ["function", "async", "generator"])
def test_tool_content_off_by_default(fake, shape):
    t = fake()

    @llmtrace.tool
    def sync_tool(secret: str) -> str:
        return secret

    @llmtrace.tool
    async def async_tool(secret: str) -> str:
        return secret

    @llmtrace.tool
    def gen_tool(secret: str) -> Iterator[str]:
        yield secret

    if shape == "function":
        sync_tool("hunter2")
    elif shape == "async":
        run(async_tool("hunter2"))
    else:
        list(gen_tool("hunter2"))
    span = t.span()
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in span.attributes
    assert sc.GEN_AI_TOOL_CALL_RESULT not in span.attributes
    assert "hunter2" not in repr(dict(span.attributes))


def test_tool_failure_records_no_result(fake):
    t = fake(capture_content=True)

    @llmtrace.tool
    def weather(city: str) -> str:
        raise UserError("no such city")

    with pytest.raises(UserError):
        weather("Atlantis")
    span = t.span()
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Atlantis"}
    assert sc.GEN_AI_TOOL_CALL_RESULT not in span.attributes
    assert span.attributes[sc.ERROR_TYPE] == "UserError"


# --- retrievers --------------------------------------------------------------------------------------


def by_k(query: str, k: int = 4) -> list[Any]:
    return []


def by_top_k(query: str, top_k: int = 4) -> list[Any]:
    return []


def by_limit(query: str, *, limit: int = 4) -> list[Any]:
    return []


@pytest.mark.parametrize(
    ("fn", "call", "top_k"),
    [
        (by_k, lambda f: f("q"), 4),
        (by_k, lambda f: f("q", 7), 7),
        (by_k, lambda f: f("q", k=9), 9),
        (by_top_k, lambda f: f("q"), 4),
        (by_top_k, lambda f: f(query="q", top_k=5), 5),
        (by_limit, lambda f: f("q", limit=3), 3),
        (by_k, lambda f: f("q", k=True), None),
        (by_k, lambda f: f("q", k="3"), None),
    ],
    ids=["k_default", "k_positional", "k_keyword", "top_k_default", "top_k", "limit", "bool_is_not_k", "str"],
)
def test_retriever_top_k_from_its_argument(fake, fn, call, top_k):
    t = fake()
    call(llmtrace.retriever(fn))
    expected = {OP: "retrieval", sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: 0}
    if top_k is not None:
        expected[sc.GEN_AI_RETRIEVAL_TOP_K] = top_k
    assert_attributes(t.span(), expected)


@dataclass
class Hit:
    id: str
    score: float


@dataclass
class Page:
    """A document object without a score of its own (paired with one by the retriever)."""

    id: str
    text: str


COUNT = sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT
SCORES = {
    sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.25,
    sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 0.75,
    sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.5,
}


@pytest.mark.parametrize(
    ("documents", "quality", "recorded"),
    [
        (
            [{"id": "a", "score": 0.75, "text": "A"}, {"id": "b", "score": 0.25}, {"id": "c", "score": 0.5}],
            {COUNT: 3, **SCORES},
            [{"id": "a", "score": 0.75}, {"id": "b", "score": 0.25}, {"id": "c", "score": 0.5}],
        ),
        (
            [({"id": "a", "text": "A"}, 0.5), (Page("b", "B"), 0.75), ("plain text", 0.25)],
            {COUNT: 3, **SCORES},
            [{"id": "a", "score": 0.5}, {"id": "b", "score": 0.75}, {"score": 0.25}],
        ),
        (
            (Hit("a", 0.25), Hit("b", 0.75)),
            {COUNT: 2, **SCORES},
            [{"id": "a", "score": 0.25}, {"id": "b", "score": 0.75}],
        ),
        (
            [{"id": 7, "score": 1}, {"metadata": {"source": "faq.md"}}],
            {
                COUNT: 2,
                sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 1.0,
                sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 1.0,
                sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.0,
            },
            [{"id": "7", "score": 1.0}, {"id": "faq.md"}],
        ),
        ([{"id": "a"}, {"id": "b"}], {COUNT: 2}, [{"id": "a"}, {"id": "b"}]),
        ([], {COUNT: 0}, []),
    ],
    ids=["dicts", "doc_score_pairs", "objects", "int_ids_metadata_source", "unscored", "empty"],
)
@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
def test_retriever_documents_and_quality(fake, documents, quality, recorded, capture_content):
    t = fake(capture_content=capture_content)

    @llmtrace.retriever(data_source="kb-1")
    def search(query: str, k: int = 3) -> Any:
        return documents

    assert search("what is otel?") is documents
    span = t.span()
    expected = {OP: "retrieval", sc.GEN_AI_DATA_SOURCE_ID: "kb-1", sc.GEN_AI_RETRIEVAL_TOP_K: 3, **quality}
    if capture_content:
        expected[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = "what is otel?"
        expected[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = recorded
    assert_attributes(span, expected)
    assert_internal(span, "retrieval kb-1")


@pytest.mark.parametrize("result", [None, {"id": "a", "score": 1.0}, "text"], ids=["none", "dict", "str"])
def test_retriever_non_list_result_has_no_document_attributes(fake, result):
    t = fake(capture_content=True)

    @llmtrace.retriever
    def search(question: str) -> Any:
        return result

    search("q")
    assert_attributes(t.span(), {OP: "retrieval", sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "q"})


def test_retriever_query_text_from_first_string_argument(fake):
    t = fake(capture_content=True)

    class Store:
        @llmtrace.retriever
        async def lookup(self, collection: int, phrase: str, limit: int = 2) -> list[Hit]:
            return [Hit("x", 0.5)]

    run(Store().lookup(1, "refund policy"))
    assert_attributes(
        t.span(),
        {
            OP: "retrieval",
            sc.GEN_AI_RETRIEVAL_TOP_K: 2,
            sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "refund policy",
            sc.GEN_AI_RETRIEVAL_DOCUMENTS: [{"id": "x", "score": 0.5}],
            COUNT: 1,
            sc.LLMTRACE_RETRIEVAL_SCORE_MIN: 0.5,
            sc.LLMTRACE_RETRIEVAL_SCORE_MAX: 0.5,
            sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD: 0.0,
        },
    )


# --- metrics -----------------------------------------------------------------------------------------


def test_step_duration_metrics_record_each_call(fake):
    t = fake()

    @llmtrace.agent
    def a() -> None:
        pass

    @llmtrace.workflow(name="flow")
    def w(fail: bool) -> None:
        a()
        if fail:
            raise UserError("x")

    w(False)
    with pytest.raises(UserError):
        w(True)

    [agent_point] = histogram_points(t.reader, sc.METRIC_AGENT_DURATION)
    assert dict(agent_point.attributes) == {sc.GEN_AI_AGENT_NAME: "a"}
    assert agent_point.count == 2
    assert tuple(agent_point.explicit_bounds) == sc.AGENT_BUCKETS
    workflow_points = histogram_points(t.reader, sc.METRIC_WORKFLOW_DURATION)
    assert counts_by_labels(workflow_points) == {
        label_set({sc.GEN_AI_WORKFLOW_NAME: "flow"}): 1,
        label_set({sc.GEN_AI_WORKFLOW_NAME: "flow", sc.ERROR_TYPE: "UserError"}): 1,
    }
    for point in workflow_points:
        assert tuple(point.explicit_bounds) == sc.WORKFLOW_BUCKETS
    # the recorded duration is the span's
    spans = [s for s in t.spans() if s.name == "invoke_workflow flow"]
    durations = sum((s.end_time - s.start_time) / 1e9 for s in spans)
    assert sum(p.sum for p in workflow_points) == pytest.approx(durations, abs=0.01)
