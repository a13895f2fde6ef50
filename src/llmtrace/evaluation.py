"""Evaluation scores for model calls, as the GenAI ``gen_ai.evaluation.result`` event."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext
from opentelemetry.util.types import AttributeValue

from llmtrace import _core
from llmtrace import _semconv as sc
from llmtrace._safety import contained


def record_evaluation(
    name: str,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    *,
    span: Span | SpanContext | None = None,
    response_id: str | None = None,
) -> None:
    """Record an evaluation of a model call (relevance, faithfulness, a thumbs-up...).

    Emits the semconv ``gen_ai.evaluation.result`` event (over OTLP logs, beside the traces) parented
    to the evaluated call's span, which may have ended long ago: name it with ``response_id`` (the
    provider's response id, e.g. ``completion.id``; llmtrace remembers the last 10,000), or pass its
    ``span``. Without either, the current span is the one evaluated. While that span is still open the
    result is also added to it as a span event.

    Example:
        >>> record_evaluation("relevance", score=0.92, label="pass", response_id="chatcmpl-123")
    """
    runtime = _core.RUNTIME
    if runtime is None:
        return
    with contained("record_evaluation"):
        attributes: dict[str, AttributeValue] = {sc.GEN_AI_EVALUATION_NAME: name}
        if score is not None:
            attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
        if label is not None:
            attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] = label
        if explanation is not None:
            attributes[sc.GEN_AI_EVALUATION_EXPLANATION] = explanation
        if response_id is not None:
            attributes[sc.GEN_AI_RESPONSE_ID] = response_id
        target = _target(span, response_id)
        if isinstance(target, Span) and target.is_recording():
            target.add_event(sc.GEN_AI_EVALUATION_RESULT, attributes)
        if runtime.logger is not None:
            context = target.get_span_context() if isinstance(target, Span) else target
            parent = trace.set_span_in_context(NonRecordingSpan(context))
            runtime.logger.emit(event_name=sc.GEN_AI_EVALUATION_RESULT, context=parent, attributes=attributes)


def _target(span: Span | SpanContext | None, response_id: str | None) -> Any:
    if span is not None:
        return span
    if response_id is not None:
        remembered = _core.span_of_response(response_id)
        if remembered is not None:
            return remembered
    return trace.get_current_span()
