"""Context carried by the user's code into spans and metrics: ``llmtrace.attributes(...)``,
``llmtrace.prompt(...)`` and ``llmtrace.Prompt``, across threads, asyncio tasks and generators; the
business labels on the client metrics and their cardinality guard.

Span attributes are all accounted for (``assert_attributes`` fails on an extra one too); model calls go
through the fake SDK (``steps.FAKE_CALL`` is everything its span carries), or through the real openai
SDK replaying a recording where a real provider matters (the Prompt auto-link).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from helpers import ANY, assert_attributes
from llmtrace import _context, _core
from llmtrace import _semconv as sc
from llmtrace._context import CardinalityGuard, Prompt, PromptText
from replay import load_cassette, openai_client
from steps import (
    FAKE_CALL,
    FAKE_LABELS,
    allm_call,
    histogram_points,
    instrument_fake,
    is_child,
    llm_call,
    named,
    run,
)


@pytest.fixture
def fake(instrument, monkeypatch):
    return lambda **settings: instrument_fake(instrument, monkeypatch, **settings)


def fake_call(model: str) -> dict[str, Any]:
    """Every attribute of the fake SDK's span for a call to `model`."""
    return {**FAKE_CALL, sc.GEN_AI_REQUEST_MODEL: model, sc.GEN_AI_RESPONSE_MODEL: model}


STEP = {sc.GEN_AI_OPERATION_NAME: "step"}


class Plan:
    def __str__(self) -> str:
        return "Plan(pro)"


# --- llmtrace.attributes ---------------------------------------------------------------------------

EVERYTHING = {
    "user_id": "u-1",
    "session_id": "s-1",
    "conversation_id": "c-1",
    "tenant_id": "acme",
    "feature": "search",
    "plan": Plan(),
    "beta": True,
    "retries": 3,
    "ratio": 0.5,
    "tags": ("a", "b"),
}
AS_ATTRIBUTES = {
    "user.id": "u-1",
    "session.id": "s-1",
    "gen_ai.conversation.id": "c-1",
    "llmtrace.tenant.id": "acme",
    "llmtrace.feature": "search",
    "llmtrace.context.plan": "Plan(pro)",
    "llmtrace.context.beta": True,
    "llmtrace.context.retries": 3,
    "llmtrace.context.ratio": 0.5,
    "llmtrace.context.tags": ["a", "b"],
}


def test_attributes_block_names_every_span_started_inside(fake):
    t = fake()

    @llmtrace.step
    def answer() -> None:
        llm_call(model="inside")

    llm_call(model="before")
    with llmtrace.attributes(**EVERYTHING):
        answer()
    llm_call(model="after")

    spans = t.spans()
    step = named(spans, "answer")
    assert_attributes(step, {**STEP, sc.LLMTRACE_STEP_NAME: "answer", **AS_ATTRIBUTES})
    inside = named(spans, "chat inside")
    assert_attributes(inside, {**fake_call("inside"), **AS_ATTRIBUTES})
    assert is_child(inside, step)
    assert_attributes(named(spans, "chat before"), fake_call("before"))
    assert_attributes(named(spans, "chat after"), fake_call("after"))


def test_attributes_reach_other_libraries_spans(fake):
    t = fake()
    other = t.tracer_provider.get_tracer("some.db.client")

    with (
        llmtrace.attributes(user_id="u-1", tenant_id="acme", region="eu"),
        other.start_as_current_span("SELECT orders", attributes={"db.system": "postgresql"}),
    ):
        pass
    with other.start_as_current_span("SELECT later"):
        pass

    spans = t.spans()
    assert_attributes(
        named(spans, "SELECT orders"),
        {
            "db.system": "postgresql",
            "user.id": "u-1",
            "llmtrace.tenant.id": "acme",
            "llmtrace.context.region": "eu",
        },
    )
    assert_attributes(named(spans, "SELECT later"), {})


def test_nesting_merges_and_leaving_restores(fake):
    t = fake()
    with llmtrace.attributes(user_id="u1", tenant_id="acme", plan="free"):
        llm_call(model="outer1")
        with llmtrace.attributes(user_id="u2", plan="pro", region="eu"):
            llm_call(model="inner")
        llm_call(model="outer2")
    llm_call(model="none")

    spans = t.spans()
    outer = {"user.id": "u1", "llmtrace.tenant.id": "acme", "llmtrace.context.plan": "free"}
    assert_attributes(named(spans, "chat outer1"), {**fake_call("outer1"), **outer})
    assert_attributes(
        named(spans, "chat inner"),
        {
            **fake_call("inner"),
            "user.id": "u2",
            "llmtrace.tenant.id": "acme",
            "llmtrace.context.plan": "pro",
            "llmtrace.context.region": "eu",
        },
    )
    assert_attributes(named(spans, "chat outer2"), {**fake_call("outer2"), **outer})
    assert_attributes(named(spans, "chat none"), fake_call("none"))


def test_none_removes_a_key_for_the_inner_block(fake):
    t = fake()
    with llmtrace.attributes(user_id="u1", tenant_id="acme", plan="pro"):
        with llmtrace.attributes(user_id=None, plan=None):
            llm_call(model="inner")
        llm_call(model="outer")

    spans = t.spans()
    assert_attributes(named(spans, "chat inner"), {**fake_call("inner"), "llmtrace.tenant.id": "acme"})
    assert_attributes(
        named(spans, "chat outer"),
        {**fake_call("outer"), "user.id": "u1", "llmtrace.tenant.id": "acme", "llmtrace.context.plan": "pro"},
    )


def test_leaving_by_exception_restores(fake):
    t = fake()
    with pytest.raises(KeyError), llmtrace.attributes(user_id="u1"):
        raise KeyError("x")
    llm_call()
    assert_attributes(t.span(), FAKE_CALL)


def test_attributes_outside_instrumentation_are_harmless(telemetry):
    with llmtrace.attributes(user_id="u1"):
        assert _context.current_attributes() == {"user.id": "u1"}
    assert _context.current_attributes() is None


def test_one_scope_object_entered_by_overlapping_tasks(fake):
    """A module-level ``prompt(...)``/``attributes(...)`` entered by concurrent requests: each leaves
    its own block, in any order."""
    t = fake()
    shared_prompt = llmtrace.prompt("support", version="3")
    shared_attributes = llmtrace.attributes(tenant_id="acme")

    async def first(entered: asyncio.Event, may_leave: asyncio.Event) -> Any:
        with shared_prompt, shared_attributes:
            entered.set()
            await may_leave.wait()
        await allm_call(model="first-after")
        return _context.current_attributes()

    async def second(entered: asyncio.Event, may_leave: asyncio.Event) -> Any:
        await entered.wait()
        with shared_prompt, shared_attributes:
            may_leave.set()  # the first task leaves while this one is inside
            await asyncio.sleep(0.01)
            await allm_call(model="second-inside")
        await allm_call(model="second-after")
        return _context.current_attributes()

    async def main() -> list[Any]:
        entered, may_leave = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(first(entered, may_leave), second(entered, may_leave))

    assert run(main()) == [None, None]
    spans = t.spans()
    assert_attributes(named(spans, "chat first-after"), fake_call("first-after"))
    assert_attributes(named(spans, "chat second-after"), fake_call("second-after"))
    assert_attributes(
        named(spans, "chat second-inside"),
        {**fake_call("second-inside"), "llmtrace.tenant.id": "acme", sc.GEN_AI_PROMPT_NAME: "support",
         sc.GEN_AI_PROMPT_VERSION: "3"},
    )  # fmt: skip


def test_one_scope_object_entered_by_threads_and_nested_in_itself(fake):
    shared = llmtrace.attributes(user_id="u-shared")
    inside = threading.Barrier(4)
    after: list[Any] = []

    def request() -> None:
        with shared:
            inside.wait()  # all four threads are inside at once
        after.append(_context.current_attributes())

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert after == [None] * 4

    with shared:
        with shared:
            assert _context.current_attributes() == {"user.id": "u-shared"}
        assert _context.current_attributes() == {"user.id": "u-shared"}
    assert _context.current_attributes() is None


# --- the decorator form ------------------------------------------------------------------------------


def test_attributes_decorator_on_a_function(fake):
    t = fake()

    @llmtrace.attributes(feature="checkout", user_id="u-dec")
    def handler(model: str) -> str:
        """Handle it."""
        llm_call(model=model)
        return model

    with llmtrace.attributes(tenant_id="acme", user_id="u-outer"):
        assert handler("a") == "a"
    assert handler("b") == "b"
    llm_call(model="c")

    assert handler.__doc__ == "Handle it."
    assert list(inspect.signature(handler).parameters) == ["model"]
    spans = t.spans()
    assert_attributes(
        named(spans, "chat a"),
        {**fake_call("a"), "llmtrace.feature": "checkout", "user.id": "u-dec", "llmtrace.tenant.id": "acme"},
    )
    assert_attributes(
        named(spans, "chat b"), {**fake_call("b"), "llmtrace.feature": "checkout", "user.id": "u-dec"}
    )
    assert_attributes(named(spans, "chat c"), fake_call("c"))


def test_attributes_decorator_on_a_coroutine_function(fake):
    t = fake()

    @llmtrace.attributes(user_id="u-async")
    async def handler(model: str) -> None:
        await asyncio.sleep(0)
        await allm_call(model=model)

    assert inspect.iscoroutinefunction(handler)

    async def main() -> None:
        await handler("a")
        await allm_call(model="b")

    run(main())
    spans = t.spans()
    assert_attributes(named(spans, "chat a"), {**fake_call("a"), "user.id": "u-async"})
    assert_attributes(named(spans, "chat b"), fake_call("b"))


def test_attributes_decorator_on_a_generator_applies_only_while_it_runs(fake):
    t = fake()

    @llmtrace.attributes(user_id="u-gen")
    def produce() -> Iterator[int]:
        for i in range(2):
            llm_call(model=f"item{i}")
            yield i

    assert inspect.isgeneratorfunction(produce)
    for i in produce():
        llm_call(model=f"consumer{i}")

    spans = t.spans()
    for i in range(2):
        assert_attributes(named(spans, f"chat item{i}"), {**fake_call(f"item{i}"), "user.id": "u-gen"})
        assert_attributes(named(spans, f"chat consumer{i}"), fake_call(f"consumer{i}"))


def test_attributes_decorator_on_an_async_generator(fake):
    t = fake()

    @llmtrace.attributes(user_id="u-agen")
    async def produce() -> AsyncIterator[int]:
        for i in range(2):
            await allm_call(model=f"item{i}")
            yield i

    assert inspect.isasyncgenfunction(produce)

    async def main() -> None:
        async for i in produce():
            await allm_call(model=f"consumer{i}")

    run(main())
    spans = t.spans()
    for i in range(2):
        assert_attributes(named(spans, f"chat item{i}"), {**fake_call(f"item{i}"), "user.id": "u-agen"})
        assert_attributes(named(spans, f"chat consumer{i}"), fake_call(f"consumer{i}"))


# --- propagation: executor threads and asyncio tasks ------------------------------------------------


def test_executor_submit_and_map_carry_span_and_attributes(fake):
    t = fake()
    threads: set[int] = set()

    def work(name: str) -> str:
        threads.add(threading.get_ident())
        llm_call(model=name)
        return name

    @llmtrace.step
    def fan_out() -> list[str]:
        with ThreadPoolExecutor(max_workers=3) as pool:
            first = pool.submit(work, "submitted")
            rest = list(pool.map(work, ["mapped1", "mapped2"]))
            return [first.result(), *rest]

    with llmtrace.attributes(user_id="u-1", tenant_id="acme"), llmtrace.prompt("fan", version="1"):
        assert fan_out() == ["submitted", "mapped1", "mapped2"]

    assert threading.get_ident() not in threads
    spans = t.spans()
    step = named(spans, "fan_out")
    for name in ("submitted", "mapped1", "mapped2"):
        span = named(spans, f"chat {name}")
        assert is_child(span, step)
        assert_attributes(
            span,
            {
                **fake_call(name),
                "user.id": "u-1",
                "llmtrace.tenant.id": "acme",
                sc.GEN_AI_PROMPT_NAME: "fan",
                sc.GEN_AI_PROMPT_VERSION: "1",
            },
        )


def test_executor_worker_does_not_keep_the_submitters_context(fake):
    t = fake()
    with ThreadPoolExecutor(max_workers=1) as pool:
        with llmtrace.attributes(user_id="u-1"):
            pool.submit(llm_call, model="inside").result()
        pool.submit(llm_call, model="after").result()  # same worker thread

    spans = t.spans()
    assert named(spans, "chat inside").attributes["user.id"] == "u-1"
    after = named(spans, "chat after")
    assert_attributes(after, fake_call("after"))
    assert after.parent is None


def test_asyncio_tasks_each_keep_their_own_attributes(fake):
    t = fake()
    tasks = 50
    entered = 0

    @llmtrace.step
    async def answer(i: int) -> str:
        await asyncio.sleep(0)
        await allm_call(model=f"m{i}")
        return _context.current_attributes()["user.id"]  # type: ignore[index]

    async def handle(i: int, all_in: asyncio.Event) -> str:
        nonlocal entered
        with llmtrace.attributes(user_id=f"u{i}"):
            entered += 1
            if entered == tasks:
                all_in.set()
            await all_in.wait()  # every task is inside its own block before any proceeds
            return await answer(i)

    async def main() -> list[str]:
        all_in = asyncio.Event()
        with llmtrace.attributes(tenant_id="acme"):
            return await asyncio.gather(*(handle(i, all_in) for i in range(tasks)))

    assert run(main()) == [f"u{i}" for i in range(tasks)]
    spans = t.spans()
    assert len(spans) == 2 * tasks
    steps = {s.context.span_id: s for s in spans if s.name == "answer"}
    for i in range(tasks):
        llm = named(spans, f"chat m{i}")
        assert_attributes(llm, {**fake_call(f"m{i}"), "user.id": f"u{i}", "llmtrace.tenant.id": "acme"})
        step = steps[llm.parent.span_id]
        assert step.attributes["user.id"] == f"u{i}"
        assert is_child(llm, step)


def test_uninstrument_restores_executor_and_stops_adding_attributes(fake, telemetry):
    original = ThreadPoolExecutor.__dict__["submit"]
    t = fake()
    assert ThreadPoolExecutor.__dict__["submit"] is not original
    other = t.tracer_provider.get_tracer("other")

    def current_is_valid() -> bool:
        return trace.get_current_span().get_span_context().is_valid

    with ThreadPoolExecutor(max_workers=1) as pool, other.start_as_current_span("outer"):
        assert pool.submit(current_is_valid).result() is True

    llmtrace.uninstrument()

    assert ThreadPoolExecutor.__dict__["submit"] is original
    assert ThreadPoolExecutor.submit is original
    with ThreadPoolExecutor(max_workers=1) as pool, other.start_as_current_span("outer"):
        assert pool.submit(current_is_valid).result() is False
    with llmtrace.attributes(user_id="u-1"), other.start_as_current_span("plain"):
        pass
    assert_attributes(named(t.spans(), "plain"), {})

    fake()  # instrumenting again turns both back on
    with llmtrace.attributes(user_id="u-2"), other.start_as_current_span("again"):
        pass
    assert_attributes(named(t.spans(), "again"), {"user.id": "u-2"})


def test_attributes_on_every_new_provider_instrumented_in_turn():
    """Each instrument() on a fresh TracerProvider enriches that provider, even when an earlier,
    collected provider lived at the same address."""
    missing = []
    for i in range(20):
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        handle = llmtrace.instrument(tracer_provider=provider, providers=[], raise_internal_errors=True)
        try:
            with llmtrace.attributes(user_id=f"u{i}"):
                provider.get_tracer("t").start_span("s").end()
        finally:
            handle.uninstrument()
            provider.shutdown()
        [span] = exporter.get_finished_spans()
        if span.attributes.get("user.id") != f"u{i}":
            missing.append(i)
        del provider, exporter, span, handle
        gc.collect()
    assert missing == []


# --- business labels on the client metrics -----------------------------------------------------------


def test_tenant_feature_and_prompt_label_the_client_metrics(fake):
    t = fake(pricing={"priced": {"input": 1.0, "output": 2.0}})
    with (
        llmtrace.attributes(tenant_id="acme", feature="search", user_id="u-1", plan="pro"),
        llmtrace.prompt("support", version="3"),
    ):
        llm_call(model="priced")

    business = {
        "llmtrace.tenant.id": "acme",
        "llmtrace.feature": "search",
        sc.GEN_AI_PROMPT_NAME: "support",
        sc.GEN_AI_PROMPT_VERSION: "3",
    }
    labels = {
        **FAKE_LABELS,
        sc.GEN_AI_REQUEST_MODEL: "priced",
        sc.GEN_AI_RESPONSE_MODEL: "priced",
        **business,
    }
    [duration] = histogram_points(t.reader, sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == labels  # user id and custom keys are not metric attributes
    tokens = {
        p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in histogram_points(t.reader, sc.METRIC_TOKEN_USAGE)
    }
    assert {k: dict(p.attributes) for k, p in tokens.items()} == {
        "input": {**labels, sc.GEN_AI_TOKEN_TYPE: "input"},
        "output": {**labels, sc.GEN_AI_TOKEN_TYPE: "output"},
    }
    assert (tokens["input"].sum, tokens["output"].sum) == (3, 3)
    [cost] = histogram_points(t.reader, sc.METRIC_COST)
    assert dict(cost.attributes) == labels
    assert cost.sum == pytest.approx((3 * 1.0 + 3 * 2.0) / 1e6)


def test_metrics_without_context_have_no_business_labels(fake):
    t = fake()
    llm_call()
    [duration] = histogram_points(t.reader, sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == FAKE_LABELS


def test_cardinality_guard_maps_later_values_to_other(fake, monkeypatch):
    monkeypatch.setattr(_core, "_guard", CardinalityGuard(limit=2))
    t = fake()
    for tenant in ("t1", "t2", "t3", "t4", "t1"):
        with llmtrace.attributes(tenant_id=tenant):
            llm_call(model=f"for-{tenant}")

    per_tenant = Counter()
    for point in histogram_points(t.reader, sc.METRIC_OPERATION_DURATION):
        per_tenant[point.attributes["llmtrace.tenant.id"]] += point.count
    assert per_tenant == {"t1": 2, "t2": 1, sc.OTHER: 2}
    # spans keep the real value
    spans = [s for s in t.spans() if s.name == "chat for-t4"]
    assert spans[0].attributes["llmtrace.tenant.id"] == "t4"


def test_cardinality_guard_bounds_prompt_versions_per_prompt_name(fake, monkeypatch):
    monkeypatch.setattr(_core, "_guard", CardinalityGuard(limit=2))
    t = fake()
    calls = [("a", "1"), ("a", "2"), ("a", "3"), ("b", "9"), ("c", "1")]
    for name, version in calls:
        with llmtrace.prompt(name, version=version):
            llm_call()

    seen = Counter()
    for point in histogram_points(t.reader, sc.METRIC_OPERATION_DURATION):
        seen[(point.attributes[sc.GEN_AI_PROMPT_NAME], point.attributes[sc.GEN_AI_PROMPT_VERSION])] += (
            point.count
        )
    assert seen == {("a", "1"): 1, ("a", "2"): 1, ("a", sc.OTHER): 1, ("b", "9"): 1, (sc.OTHER, "1"): 1}


def test_list_valued_tenant_is_other_on_metrics_and_kept_on_spans(fake):
    t = fake()
    with llmtrace.attributes(tenant_id=["acme", "beta"], feature="search"):  # type: ignore[arg-type]
        llm_call()
    assert_attributes(
        t.span(), {**FAKE_CALL, "llmtrace.tenant.id": ["acme", "beta"], "llmtrace.feature": "search"}
    )
    [duration] = histogram_points(t.reader, sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == {
        **FAKE_LABELS,
        "llmtrace.tenant.id": sc.OTHER,
        "llmtrace.feature": "search",
    }
    assert len(histogram_points(t.reader, sc.METRIC_TOKEN_USAGE)) == 2


def test_cardinality_guard_unit():
    guard = CardinalityGuard(limit=3)
    assert [guard("k", v) for v in ("a", "b", "a", "c", "d", "b")] == ["a", "b", "a", "c", sc.OTHER, "b"]
    assert guard("other-key", "d") == "d"  # each key has its own budget
    assert guard("k2", ["not", "primitive"]) == sc.OTHER  # type: ignore[arg-type]


def test_cardinality_guard_is_bounded_under_concurrency():
    guard = CardinalityGuard(limit=10)
    start = threading.Barrier(8)
    passed: list[set[Any]] = []

    def hammer(offset: int) -> None:
        start.wait()
        passed.append({guard("k", f"v{offset + i}") for i in range(200)} - {sc.OTHER})

    threads = [threading.Thread(target=hammer, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set().union(*passed)) == 10


# --- llmtrace.prompt ---------------------------------------------------------------------------------

VARIABLES = {"tone": "friendly", "max_words": 50, "tags": ["a", "b"], "plan": Plan()}
AS_VARIABLES = {
    "gen_ai.prompt.variable.tone": "friendly",
    "gen_ai.prompt.variable.max_words": 50,
    "gen_ai.prompt.variable.tags": ["a", "b"],
    "gen_ai.prompt.variable.plan": "Plan(pro)",
}


@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
def test_prompt_block_names_the_model_calls_inside(fake, capture_content):
    t = fake(capture_content=capture_content)

    @llmtrace.step
    def answer() -> None:
        llm_call(model="inside")

    with llmtrace.prompt("support", version="3", variables=VARIABLES):
        answer()
    llm_call(model="after")

    spans = t.spans()
    expected = {**fake_call("inside"), sc.GEN_AI_PROMPT_NAME: "support", sc.GEN_AI_PROMPT_VERSION: "3"}
    if capture_content:
        expected.update(AS_VARIABLES)
    assert_attributes(named(spans, "chat inside"), expected)
    assert_attributes(named(spans, "answer"), {**STEP, sc.LLMTRACE_STEP_NAME: "answer"})  # model calls only
    assert_attributes(named(spans, "chat after"), fake_call("after"))


def test_prompt_without_version_or_variables(fake):
    t = fake(capture_content=True)
    with llmtrace.prompt("bare"):
        llm_call()
    assert_attributes(t.span(), {**FAKE_CALL, sc.GEN_AI_PROMPT_NAME: "bare"})


def test_prompt_nesting_inner_wins_and_leaving_restores(fake):
    t = fake()
    with llmtrace.prompt("outer", version="1"):
        with llmtrace.prompt("inner", version="7"):
            llm_call(model="a")
        llm_call(model="b")

    spans = t.spans()
    assert_attributes(
        named(spans, "chat a"),
        {**fake_call("a"), sc.GEN_AI_PROMPT_NAME: "inner", sc.GEN_AI_PROMPT_VERSION: "7"},
    )
    assert_attributes(
        named(spans, "chat b"),
        {**fake_call("b"), sc.GEN_AI_PROMPT_NAME: "outer", sc.GEN_AI_PROMPT_VERSION: "1"},
    )


def test_prompt_decorator_form(fake):
    t = fake(capture_content=True)

    @llmtrace.prompt("summarize", version="2", variables={"length": "short"})
    def summarize(model: str) -> None:
        llm_call(model=model)

    @llmtrace.prompt("translate", version="5")
    async def translate(model: str) -> None:
        await allm_call(model=model)

    summarize("s")
    run(translate("t"))
    llm_call(model="plain")

    spans = t.spans()
    assert_attributes(
        named(spans, "chat s"),
        {
            **fake_call("s"),
            sc.GEN_AI_PROMPT_NAME: "summarize",
            sc.GEN_AI_PROMPT_VERSION: "2",
            "gen_ai.prompt.variable.length": "short",
        },
    )
    assert_attributes(
        named(spans, "chat t"),
        {**fake_call("t"), sc.GEN_AI_PROMPT_NAME: "translate", sc.GEN_AI_PROMPT_VERSION: "5"},
    )
    assert_attributes(named(spans, "chat plain"), fake_call("plain"))


# --- llmtrace.Prompt ---------------------------------------------------------------------------------


def test_prompt_version_is_a_stable_short_hash_of_the_template():
    v1 = Prompt("support", "Answer {question} kindly.").version
    assert re.fullmatch(r"[0-9a-f]{12}", v1)
    assert Prompt("support", "Answer {question} kindly.").version == v1
    assert Prompt("renamed", "Answer {question} kindly.").version == v1  # the text is what is versioned
    assert Prompt("support", "Answer {question} briefly.").version != v1
    assert Prompt("support", "Answer {question} kindly. ").version != v1
    assert Prompt("support", "Answer {question} kindly.", version="v4").version == "v4"


def test_prompt_format_renders_a_str_that_remembers_its_prompt():
    p = Prompt("greet", "Hello {name}, you are {age}.")
    text = p.format(name="Ada", age=36)
    assert text == "Hello Ada, you are 36."
    assert isinstance(text, str)
    assert type(text) is PromptText
    assert (text.prompt.name, text.prompt.version, dict(text.prompt.variables)) == (
        "greet",
        p.version,
        {"name": "Ada", "age": 36},
    )
    for changed in (
        text + "!",
        text.strip(),
        text.upper(),
        f"{text}",
        text[:5],
        str(text),
        text.replace("A", "A"),
    ):
        assert type(changed) is str
    with pytest.raises(KeyError):
        p.format(name="Ada")


CHAT = (
    Path(__file__).resolve().parent.parent
    / "cassettes"
    / "openai"
    / "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
)
JOKE = Prompt("joke", "Tell me a joke about {topic}")


def openai_span(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Every attribute of the span of a chat call replaying interaction 0 of CHAT (values from the
    recording; cost checked elsewhere)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo",
        "server.address": "api.openai.com",
        "server.port": 443,
        "openai.api.type": "chat_completions",
        "gen_ai.response.id": body["id"],
        "gen_ai.response.model": body["model"],
        "gen_ai.response.finish_reasons": [body["choices"][0]["finish_reason"]],
        "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
        "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"],
        "openai.response.system_fingerprint": body["system_fingerprint"],
        "gen_ai.usage.cost.amount": ANY,
        "gen_ai.usage.cost.currency": "USD",
        "gen_ai.usage.cost.source": "local",
        "llmtrace.cost.input_usd": ANY,
        "llmtrace.cost.output_usd": ANY,
        **extra,
    }


def recorded_body() -> dict[str, Any]:
    body: dict[str, Any] = load_cassette(CHAT).interactions[0].response.json()
    return body


def chat(content: str) -> Any:
    """One chat completion with the real openai client, replaying CHAT; returns the transport."""
    client, transport = openai_client(CHAT, interactions=[0])
    client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
    )
    transport.assert_all_played()
    return transport


@pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])
def test_prompt_text_sent_unmodified_links_the_openai_call(instrument, capture_content):
    t = instrument(providers=["openai"], capture_content=capture_content)
    text = JOKE.format(topic="opentelemetry")

    transport = chat(text)

    assert transport.request_json()["messages"][1] == {
        "role": "user",
        "content": "Tell me a joke about opentelemetry",
    }
    body = recorded_body()
    linked = {sc.GEN_AI_PROMPT_NAME: "joke", sc.GEN_AI_PROMPT_VERSION: JOKE.version}
    if capture_content:
        linked["gen_ai.prompt.variable.topic"] = "opentelemetry"
        linked[sc.GEN_AI_INPUT_MESSAGES] = [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Tell me a joke about opentelemetry"}]},
        ]
        linked[sc.GEN_AI_OUTPUT_MESSAGES] = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": body["choices"][0]["message"]["content"]}],
                "finish_reason": "stop",
            }
        ]
    assert_attributes(t.span(), openai_span(body, **linked))


@pytest.mark.parametrize(
    "change",
    [lambda s: s + "!", lambda s: s.strip(), lambda s: f"Please: {s}", str],
    ids=["appended", "stripped", "embedded", "str()"],
)
def test_modified_prompt_text_does_not_link(instrument, change):
    t = instrument(providers=["openai"])
    chat(change(JOKE.format(topic="opentelemetry")))
    assert_attributes(t.span(), openai_span(recorded_body()))


def test_prompt_and_attributes_blocks_on_the_openai_span(instrument):
    t = instrument(providers=["openai"], capture_content=False)
    with (
        llmtrace.attributes(user_id="u-1", session_id="s-1", tenant_id="acme", feature="jokes"),
        llmtrace.prompt("support", version="3", variables={"tone": "dry"}),
    ):
        chat(JOKE.format(topic="opentelemetry"))  # the enclosing block wins over the rendered text

    assert_attributes(
        t.span(),
        openai_span(
            recorded_body(),
            **{
                sc.GEN_AI_PROMPT_NAME: "support",
                sc.GEN_AI_PROMPT_VERSION: "3",
                "user.id": "u-1",
                "session.id": "s-1",
                "llmtrace.tenant.id": "acme",
                "llmtrace.feature": "jokes",
            },
        ),
    )


def test_prompt_text_links_the_fake_sdk_call_anywhere_in_its_arguments(fake):
    t = fake(capture_content=True)
    p = Prompt("classify", "Classify: {item}", version="9")
    llm_call(prompt=p.format(item="refund"))
    assert_attributes(
        t.span(),
        {**FAKE_CALL, sc.GEN_AI_PROMPT_NAME: "classify", sc.GEN_AI_PROMPT_VERSION: "9",
         "gen_ai.prompt.variable.item": "refund"},
    )  # fmt: skip


def test_no_prompt_rendered_means_no_scan(fake, monkeypatch):
    t = fake()

    def must_not_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("scanned the call's arguments for a PromptText")

    monkeypatch.setattr(_context, "rendered_prompts", 0)
    monkeypatch.setattr(_context, "find_prompt", must_not_scan)
    llm_call(prompt="plain text")
    assert_attributes(t.span(), FAKE_CALL)


def test_scan_starts_once_a_prompt_has_rendered(fake, monkeypatch):
    fake()
    scanned: list[Any] = []
    real = _context.find_prompt

    def spy(value: Any, depth: int = 0) -> Any:
        scanned.append(value)
        return real(value, depth)

    monkeypatch.setattr(_context, "rendered_prompts", 0)
    monkeypatch.setattr(_context, "find_prompt", spy)
    llm_call(model="before")
    assert scanned == []
    Prompt("p", "x{y}").format(y=1)
    assert _context.rendered_prompts
    llm_call(model="after")
    assert len(scanned) >= 1


def test_baggage_propagation_is_off_by_default_and_opt_in(instrument):
    from opentelemetry import baggage

    import llmtrace

    instrument()
    with llmtrace.attributes(user_id="u-1", tenant_id="acme"):
        assert baggage.get_all() == {}  # nothing leaves the process unless asked
    llmtrace.uninstrument()
    instrument(propagate_baggage=True)
    with llmtrace.attributes(user_id="u-1", tenant_id="acme"):
        assert baggage.get_all() == {"user.id": "u-1", "llmtrace.tenant.id": "acme"}
    assert baggage.get_all() == {}
