"""Fault injection: each internal step of llmtrace fails in turn, with ``raise_internal_errors=False``.

For every fault and call shape (openai chat sync/async/stream, anthropic stream and stream helper,
a call the provider rejects), the user observes exactly what the un-instrumented SDK gives, the span still
ends exactly once (or, when the fault is in opening it, there is none), and llmtrace logs the failure
exactly once for the call, not once per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from figures import FIGURES
from fuzz_bodies import Body, recorded_body, seed
from fuzz_providers import Shape, run, shapes
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from helpers import boom
from llmtrace import _core, _counting, _patch, tokens
from llmtrace.instrumentors import anthropic as anthropic_instrumentor
from llmtrace.instrumentors import openai as openai_instrumentor
from llmtrace.pricing import PriceTable

SHAPES = {s.name: s for s in shapes()}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}]}
CLAUDE = {
    "model": "claude-3-haiku-20240307",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


@dataclass(frozen=True)
class Case:
    """A call: its shape, arguments and the recorded answer it gets."""

    shape: str
    kwargs: dict[str, Any]
    body: Body


def _case(shape: str, kwargs: dict[str, Any], path: str, drop_usage: bool = False) -> Case:
    return Case(shape, kwargs, recorded_body(seed(path), drop_usage=drop_usage))


CASES = {
    "openai-chat": _case("openai-chat-sync", CHAT, "openai/chat_nonstream_n2_multiple_choices.yaml"),
    "openai-chat-async": _case("openai-chat-async", CHAT, "openai/chat_nonstream_n2_multiple_choices.yaml"),
    # no usage in the answer: the tokens are counted by llmtrace
    "openai-chat-no-usage": _case(
        "openai-chat-sync", CHAT, "openai/chat_nonstream_n2_multiple_choices.yaml", drop_usage=True
    ),
    "openai-chat-stream": _case(
        "openai-chat-stream-sync",
        {**CHAT, "stream": True},
        "openai/chat_stream_async_gpt-3.5_sdk1.14-and-1.99.yaml",  # no usage chunk: counted
    ),
    "openai-chat-rejected": _case("openai-chat-sync", CHAT, "openai/chat_error_404_model_not_found.yaml"),
    "anthropic-stream": _case(
        "anthropic-messages-stream-sync",
        {**CLAUDE, "stream": True},
        "anthropic/messages_stream_claude-3-haiku_sdk0.36.yaml",
    ),
    "anthropic-stream-helper": _case(
        "anthropic-stream-helper-sync", CLAUDE, "anthropic/messages_stream_tool_use_sdk0.57.yaml"
    ),
}


class RaisingProcessor(SpanProcessor):
    """A span processor of the application's that fails on span start or end."""

    def __init__(self, on: str) -> None:
        self.on = on

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.on == "start":
            raise RuntimeError("processor bug")

    def on_end(self, span: Any) -> None:
        if self.on == "end":
            raise RuntimeError("processor bug")


class RaisingExporter(SpanExporter):
    def export(self, spans: Any) -> Any:
        raise RuntimeError("exporter bug")

    def shutdown(self) -> None:
        pass


class RaisingHistogram:
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("metrics bug")


Install = Callable[[pytest.MonkeyPatch, Any], None]


@dataclass(frozen=True)
class Fault:
    """One internal step made to fail: how, which calls reach that step, and what must follow."""

    install: Install
    cases: tuple[str, ...]
    logged: str | None
    """The step llmtrace names in its one log line ("llmtrace: <step> failed"); None: no log of ours."""
    spans: int = 1


def _patch_all(*targets: tuple[Any, str]) -> Install:
    def install(monkeypatch: pytest.MonkeyPatch, telemetry: Any) -> None:
        for owner, name in targets:
            monkeypatch.setattr(owner, name, boom)

    return install


def _processor(on: str) -> Install:
    def install(monkeypatch: pytest.MonkeyPatch, telemetry: Any) -> None:
        telemetry.tracer_provider.add_span_processor(RaisingProcessor(on))

    return install


def _exporter(monkeypatch: pytest.MonkeyPatch, telemetry: Any) -> None:
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(RaisingExporter()))


def _metrics(monkeypatch: pytest.MonkeyPatch, telemetry: Any) -> None:
    metrics = _core.RUNTIME.metrics  # type: ignore[union-attr]
    for name in ("duration", "tokens", "cost", "ttfc"):
        monkeypatch.setattr(metrics, name, RaisingHistogram())


ALL = tuple(CASES)
OPENAI = tuple(c for c in CASES if c.startswith("openai"))
STREAMS = ("openai-chat-stream", "anthropic-stream", "anthropic-stream-helper")

FAULTS = {
    "request mapping": Fault(
        _patch_all((openai_instrumentor, "_request"), (anthropic_instrumentor, "_request")), ALL, "start", 0
    ),
    "prompt lookup": Fault(_patch_all((_patch, "current_prompt")), ALL, "start", 0),
    "span processor on_start": Fault(_processor("start"), ALL, "start", 0),
    "response mapping": Fault(
        _patch_all((openai_instrumentor, "_choices_response")), ("openai-chat", "openai-chat-async"), "finish"
    ),
    "stream accumulator add": Fault(
        _patch_all(
            (openai_instrumentor.ChatAccumulator, "add"), (anthropic_instrumentor.MessageAccumulator, "add")
        ),
        STREAMS,
        "stream.add",
    ),
    "stream accumulator result": Fault(
        _patch_all(
            (openai_instrumentor.ChatAccumulator, "result"),
            (anthropic_instrumentor.MessageAccumulator, "result"),
        ),
        STREAMS,
        "stream.result",
    ),
    "pricing": Fault(_patch_all((PriceTable, "cost_of")), ALL[:3] + STREAMS, "pricing"),
    "token counting": Fault(
        _patch_all((tokens, "count_chat"), (tokens, "count_tokens")),
        ("openai-chat-no-usage", "openai-chat-stream"),
        "token counting",
    ),
    "token counting worker": Fault(
        _patch_all((_counting, "submit")), ("openai-chat-no-usage", "openai-chat-stream"), "token counting"
    ),
    "metric recording": Fault(_metrics, ALL, "finish"),
    "response attributes": Fault(_patch_all((_core, "_response_attributes")), ALL[:3] + STREAMS, "finish"),
    "error recording": Fault(_patch_all((_core, "record_exception")), ("openai-chat-rejected",), "finish"),
    "span processor on_end": Fault(_processor("end"), ALL, "span processor"),
    "span exporter": Fault(_exporter, ALL, None),
}

RUNS = [pytest.param(f, c, id=f"{f}-{c}") for f, fault in FAULTS.items() for c in fault.cases]


def observe(case: Case) -> tuple[Any, ...]:
    shape: Shape = SHAPES[case.shape]
    shape.answer.body = case.body
    return run(shape, case.kwargs)


@pytest.mark.parametrize(("fault_name", "case_name"), RUNS)
def test_llmtrace_fault_leaves_the_call_unchanged_and_ends_the_span_once(
    fault_name, case_name, instrument, monkeypatch, caplog, spans_end_once
):
    fault, case = FAULTS[fault_name], CASES[case_name]
    expected = observe(case)  # llmtrace off
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    provider = "anthropic" if case.shape.startswith("anthropic") else "openai"
    t = instrument(providers=[provider], raise_internal_errors=False)
    fault.install(monkeypatch, t)

    assert observe(case) == expected
    spans = t.spans()
    FIGURES["faults injected (fault x call shape)"] += 1
    assert len(spans) == fault.spans, [s.name for s in spans]
    failures = [r for r in caplog.records if r.name == "llmtrace" and r.getMessage().endswith(" failed")]
    if fault.logged is None:
        assert not failures
    else:
        assert [r.getMessage() for r in failures] == [f"llmtrace: {fault.logged} failed"]
