"""The core: containment, sampling, settings, providers, content limits, console tree."""

from __future__ import annotations

import io

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import fakesdk
import llmtrace
from helpers import metric_points
from llmtrace import _core
from llmtrace._export import TreeConsoleExporter
from llmtrace.config import ConfigError, load_settings
from llmtrace.instrumentors import REGISTRY
from llmtrace.pricing import PriceTable


@pytest.fixture
def fake(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    return lambda **kw: instrument(providers=["fake"], **kw)


# --- containment ---------------------------------------------------------------------------------


def test_failing_response_mapper_returns_sdk_result_and_ends_span(fake, monkeypatch):
    t = fake(raise_internal_errors=False)
    monkeypatch.setattr(fakesdk, "response", lambda *a: 1 / 0)
    result = fakesdk.Client().create(model="m")
    assert result == {"id": "r-1", "model": "m", "text": "abc", "usage": True}
    assert len(t.spans()) == 1


def test_failing_request_mapper_passes_the_call_through(fake, monkeypatch):
    t = fake(raise_internal_errors=False)
    monkeypatch.setattr(fakesdk, "request", lambda *a: 1 / 0)
    assert fakesdk.Client().create(model="m")["id"] == "r-1"
    assert t.spans() == []


def test_sdk_exception_reaches_user_unchanged(fake):
    t = fake()
    error = fakesdk.ProviderError("rate limited")
    with pytest.raises(fakesdk.ProviderError) as caught:
        fakesdk.Client().create(model="m", error=error)
    assert caught.value is error
    span = t.span()
    assert span.attributes["error.type"] == "ProviderError"


def test_internal_errors_raise_in_test_mode(fake, monkeypatch):
    fake()
    monkeypatch.setattr(_core, "_response_attributes", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fakesdk.Client().create(model="m")


def test_pricing_failure_keeps_tokens(fake, monkeypatch):
    t = fake(raise_internal_errors=False)
    monkeypatch.setattr(PriceTable, "cost_of", lambda *a: 1 / 0)
    fakesdk.Client().create(model="m")
    assert t.span().attributes["gen_ai.usage.input_tokens"] == 3


# --- sampling -------------------------------------------------------------------------------------


def test_unsampled_call_sets_no_attributes_but_still_feeds_metrics(instrument, monkeypatch, telemetry):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    telemetry.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.exporter))
    t = instrument(providers=["fake"])
    assert fakesdk.Client().create(model="m")["id"] == "r-1"
    assert t.spans() == []
    points = metric_points(t.reader)
    assert [p.sum for p in points["gen_ai.client.token.usage"]] == [3, 3]


# --- settings -------------------------------------------------------------------------------------


def test_settings_precedence_kwargs_over_env_over_defaults():
    env = {"LLMTRACE_CAPTURE_CONTENT": "true", "LLMTRACE_EXPORTER": "console"}
    assert load_settings({}, env).capture_content is True
    assert load_settings({"capture_content": False}, env).capture_content is False
    assert load_settings({}, {}).exporter == "otlp"
    assert load_settings({}, env).exporter == "console"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("NO_CONTENT", False),
        ("EVENT_ONLY", False),
        ("true", True),
    ],
)
def test_otel_content_variable_is_honoured(value, expected):
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert load_settings({}, env).capture_content is expected


def test_invalid_settings_fail_at_instrument_naming_the_setting(monkeypatch):
    with pytest.raises(ConfigError, match=r"'exporter'.*got 'jaeger'"):
        llmtrace.instrument(exporter="jaeger")
    monkeypatch.setenv("LLMTRACE_MAX_CONTENT_LENGTH", "tiny")
    with pytest.raises(ConfigError, match=r"'max_content_length' \(from LLMTRACE_MAX_CONTENT_LENGTH\)"):
        llmtrace.instrument()
    monkeypatch.delenv("LLMTRACE_MAX_CONTENT_LENGTH")
    with pytest.raises(ConfigError, match="'no_such_setting'"):
        llmtrace.instrument(no_such_setting=1)
    with pytest.raises(ConfigError, match="'providers'"):
        llmtrace.instrument(providers=["nope"])
    with pytest.raises(ConfigError, match="'pricing'"):
        llmtrace.instrument(pricing={"m": {"input": -1, "output": 1}})
    assert _core.RUNTIME is None


def test_instrument_is_idempotent_and_handle_is_a_context_manager(fake):
    t = fake()
    assert llmtrace.instrument() is t.handle
    with t.handle:
        fakesdk.Client().create(model="m")
    assert _core.RUNTIME is None
    fakesdk.Client().create(model="m")
    assert len(t.spans()) == 1


def test_uninstrument_restores_the_exact_originals(fake):
    before = (fakesdk.Client.__dict__["create"], fakesdk.AsyncClient.__dict__["create"])
    t = fake()
    assert fakesdk.Client.__dict__["create"] is not before[0]
    t.handle.uninstrument()
    assert (fakesdk.Client.__dict__["create"], fakesdk.AsyncClient.__dict__["create"]) == before


# --- providers: use the application's, else ours ------------------------------------------------


def test_existing_global_provider_is_used_and_nothing_added(monkeypatch):
    from opentelemetry import trace

    exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", app_provider)
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    processors_before = list(app_provider._active_span_processor._span_processors)
    handle = llmtrace.instrument(providers=["fake"], exporter="console", metrics_exporter="none")
    try:
        assert handle.tracer_provider is app_provider
        added = list(app_provider._active_span_processor._span_processors)[len(processors_before) :]
        # no exporter of ours: only the processor that copies llmtrace.attributes(...) onto spans
        assert [type(p).__name__ for p in added] == ["ContextAttributesProcessor"]
        fakesdk.Client().create(model="m")
        assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]
    finally:
        handle.uninstrument()


# --- console exporter -------------------------------------------------------------------------------


def test_console_tree_shows_nesting_tokens_and_cost(fake):
    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TreeConsoleExporter(out)))
    tracer = provider.get_tracer("test")
    llmtrace.uninstrument()
    handle = llmtrace.instrument(providers=["fake"], tracer_provider=provider, raise_internal_errors=True)
    with handle, tracer.start_as_current_span("handle request"):
        fakesdk.Client().create(model="gpt-4o-mini")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("trace ")
    assert lines[1].startswith("└─ handle request")
    assert lines[2].startswith("   └─ chat gpt-4o-mini")
    assert "tokens in=3 out=3" in lines[2]
    assert "$0.000002" in lines[2]  # 3 x 0.15 + 3 x 0.60 per million
