"""``llmtrace.record_evaluation``: the semconv ``gen_ai.evaluation.result`` event, emitted as a log
record parented to the evaluated model call's span (found by response id after that span has ended, or
given), and also added to that span while it is still open."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID

import fakesdk
import llmtrace
from llmtrace import _core
from llmtrace import _semconv as sc
from replay import load_cassette, openai_client
from steps import Logs, instrument_fake, llm_call, named

EVALUATION = sc.GEN_AI_EVALUATION_RESULT


@pytest.fixture
def logs() -> Logs:
    pipeline = Logs()
    yield pipeline
    pipeline.provider.shutdown()


@pytest.fixture
def fake(instrument, monkeypatch, logs):
    """The fake SDK instrumented with a logs pipeline; its response ids are ``resp-<text>``."""
    real = fakesdk.response

    def response(result: Any, capture: bool) -> Any:
        mapped = real(result, capture)
        mapped.response_id = f"resp-{result['text']}"
        return mapped

    monkeypatch.setattr(fakesdk, "response", response)
    return lambda **settings: instrument_fake(
        instrument, monkeypatch, logger_provider=logs.provider, **settings
    )


def assert_linked(record: Any, span_context: Any) -> None:
    """The log record is parented to the span of `span_context`."""
    assert record.trace_id == span_context.trace_id
    assert record.span_id == span_context.span_id
    assert record.trace_flags == span_context.trace_flags


def test_by_response_id_after_the_call_ended(fake, logs):
    t = fake()
    llm_call(items=("a",))
    llm_call(items=("b",))
    calls = {s.attributes[sc.GEN_AI_RESPONSE_ID]: s for s in t.spans()}
    assert sorted(calls) == ["resp-a", "resp-b"]

    @llmtrace.step
    def judge() -> None:  # a different span is current: the response id decides
        llmtrace.record_evaluation(
            "relevance", score=0.9, label="pass", explanation="On topic.", response_id="resp-a"
        )

    judge()

    [record] = logs.evaluations()
    assert record.event_name == EVALUATION
    assert dict(record.attributes) == {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.value": 0.9,
        "gen_ai.evaluation.score.label": "pass",
        "gen_ai.evaluation.explanation": "On topic.",
        "gen_ai.response.id": "resp-a",
    }
    assert_linked(record, calls["resp-a"].context)
    assert record.body is None
    for span in t.spans():  # ended spans cannot take events; the judge is not the evaluated span
        assert span.events == ()


def test_score_and_label_are_optional_and_score_is_a_double(fake, logs):
    fake()
    llm_call(items=("x",))
    llmtrace.record_evaluation("thumbs", label="up", response_id="resp-x")
    llmtrace.record_evaluation("accuracy", 1, response_id="resp-x")

    thumbs, accuracy = logs.evaluations()
    assert dict(thumbs.attributes) == {
        "gen_ai.evaluation.name": "thumbs",
        "gen_ai.evaluation.score.label": "up",
        "gen_ai.response.id": "resp-x",
    }
    assert dict(accuracy.attributes) == {
        "gen_ai.evaluation.name": "accuracy",
        "gen_ai.evaluation.score.value": 1.0,
        "gen_ai.response.id": "resp-x",
    }
    assert type(accuracy.attributes["gen_ai.evaluation.score.value"]) is float


def test_a_live_span_given_gets_the_event_and_the_log_is_linked_to_it(fake, logs):
    t = fake()
    tracer = t.tracer_provider.get_tracer("app")
    evaluated = tracer.start_span("generate answer")
    with tracer.start_as_current_span("unrelated current"):
        llmtrace.record_evaluation("faithfulness", score=0.4, label="fail", span=evaluated)
    evaluated.end()

    [record] = logs.evaluations()
    assert_linked(record, evaluated.get_span_context())
    spans = t.spans()
    [event] = named(spans, "generate answer").events
    assert event.name == EVALUATION
    assert dict(event.attributes) == {
        "gen_ai.evaluation.name": "faithfulness",
        "gen_ai.evaluation.score.value": 0.4,
        "gen_ai.evaluation.score.label": "fail",
    }
    assert dict(record.attributes) == dict(event.attributes)
    assert named(spans, "unrelated current").events == ()


def test_a_span_context_given_links_the_log_only(fake, logs):
    t = fake()
    tracer = t.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("call") as span:
        handle = span.get_span_context()
    llmtrace.record_evaluation("toxicity", score=0.0, span=handle)

    [record] = logs.evaluations()
    assert_linked(record, handle)
    assert t.span().events == ()


def test_nothing_given_evaluates_the_current_span(fake, logs):
    t = fake()

    @llmtrace.agent
    def answer() -> None:
        llm_call()
        llmtrace.record_evaluation("self-check", label="pass")

    answer()

    spans = t.spans()
    agent = named(spans, "invoke_agent answer")
    [record] = logs.evaluations()
    assert_linked(record, agent.context)
    [event] = agent.events
    assert event.name == EVALUATION
    assert dict(event.attributes) == {
        "gen_ai.evaluation.name": "self-check",
        "gen_ai.evaluation.score.label": "pass",
    }
    assert named(spans, "chat m").events == ()


def test_nothing_given_and_no_current_span_emits_an_unparented_event(fake, logs):
    fake()
    llmtrace.record_evaluation("overall", score=3.5)
    [record] = logs.evaluations()
    assert dict(record.attributes) == {
        "gen_ai.evaluation.name": "overall",
        "gen_ai.evaluation.score.value": 3.5,
    }
    assert record.trace_id in (None, INVALID_TRACE_ID)
    assert record.span_id in (None, INVALID_SPAN_ID)


def test_forgotten_response_id_falls_back_to_the_current_span(fake, logs, monkeypatch):
    monkeypatch.setattr(_core, "_responses", OrderedDict())
    monkeypatch.setattr(_core, "_RESPONSES_KEPT", 2)
    t = fake()
    for text in ("a", "b", "c"):
        llm_call(items=(text,))
    assert _core.span_of_response("resp-a") is None  # the oldest went
    assert _core.span_of_response("resp-c") is not None

    llmtrace.record_evaluation("late", score=1.0, response_id="resp-a")
    llmtrace.record_evaluation("recent", score=1.0, response_id="resp-c")
    late, recent = logs.evaluations()
    assert late.trace_id in (None, INVALID_TRACE_ID)
    assert late.attributes["gen_ai.response.id"] == "resp-a"  # still says which call it was about
    spans = {s.attributes[sc.GEN_AI_RESPONSE_ID]: s for s in t.spans()}
    assert_linked(recent, spans["resp-c"].context)


def test_without_a_logs_pipeline_the_open_span_still_gets_the_event(instrument, monkeypatch):
    t = instrument_fake(instrument, monkeypatch)  # no logger provider, none global
    assert _core.RUNTIME is not None and _core.RUNTIME.logger is None

    @llmtrace.step
    def review() -> None:
        llmtrace.record_evaluation("style", label="ok")

    review()
    [event] = t.span().events
    assert (event.name, dict(event.attributes)) == (
        EVALUATION,
        {"gen_ai.evaluation.name": "style", "gen_ai.evaluation.score.label": "ok"},
    )


def test_not_instrumented_is_a_no_op(fake, logs, telemetry):
    fake()
    llmtrace.uninstrument()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("current"):
        assert llmtrace.record_evaluation("relevance", score=1.0) is None
        assert llmtrace.record_evaluation("relevance", score="not a number") is None  # type: ignore[arg-type]
    assert logs.records() == []
    assert telemetry.span().events == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"score": "high"},
        {"score": object()},
        {"span": object()},
        {"span": "not a span"},
    ],
    ids=["score_str", "score_object", "span_object", "span_str"],
)
def test_bad_input_never_raises_into_the_user(fake, logs, caplog, bad):
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    t = fake(raise_internal_errors=False)

    @llmtrace.step
    def judge() -> str:
        llmtrace.record_evaluation("relevance", **bad)
        return "still running"

    assert judge() == "still running"
    assert logs.evaluations() == []
    assert t.span().status.is_ok
    assert any(
        r.name == "llmtrace" and r.getMessage() == "llmtrace: record_evaluation failed"
        for r in caplog.records
    )


def test_bad_input_is_an_internal_error_in_test_mode(fake):
    fake()  # raise_internal_errors on: containment is what keeps it from the user
    with pytest.raises(ValueError):
        llmtrace.record_evaluation("relevance", score="high")  # type: ignore[arg-type]


CHAT = (
    Path(__file__).resolve().parent.parent
    / "cassettes"
    / "openai"
    / "chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
)


def test_evaluates_a_real_openai_completion_by_its_id(instrument, logs):
    t = instrument(providers=["openai"], logger_provider=logs.provider)
    client, _ = openai_client(CHAT, interactions=[0])
    completion = client.chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Tell me a joke about opentelemetry"}]
    )
    assert completion.id == load_cassette(CHAT).interactions[0].response.json()["id"]

    llmtrace.record_evaluation("humor", score=0.2, label="groan", response_id=completion.id)

    [record] = logs.evaluations()
    span = t.span()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == completion.id
    assert_linked(record, span.context)
    assert dict(record.attributes) == {
        "gen_ai.evaluation.name": "humor",
        "gen_ai.evaluation.score.value": 0.2,
        "gen_ai.evaluation.score.label": "groan",
        "gen_ai.response.id": completion.id,
    }
    assert trace.get_current_span().get_span_context().is_valid is False
