"""The provider-neutral core: a call record becomes the span, the metrics and the cost here, once."""

from __future__ import annotations

import contextlib
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace import propagation as trace_propagation
from opentelemetry.util.types import AttributeValue

from llmtrace import _counting, _redact, tokens
from llmtrace import _semconv as sc
from llmtrace._context import CardinalityGuard, PromptRef, current_attributes
from llmtrace._records import LLMRequest, LLMResponse, Usage
from llmtrace._safety import internal_error
from llmtrace._sampling import drop_check
from llmtrace.config import Settings
from llmtrace.pricing import PriceTable

# Set while an llmtrace inference span is current, so that an instrumented method called by another
# instrumented method (a helper that calls create(), a library stacked on another) adds no second span.
_IN_CALL = otel_context.create_key("llmtrace-in-call")
_SUPPRESS = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")
# The key under which the API keeps the current span (private; the public two-step path if it goes).
_SPAN_KEY: str | None = getattr(trace_propagation, "_SPAN_KEY", None)


@dataclass(slots=True)
class Runtime:
    """What instrument() built: the tracer, the instruments, the settings and the prices."""

    settings: Settings
    tracer: Tracer
    prices: PriceTable
    metrics: Instruments | None
    logger: Any = None
    """The OpenTelemetry logger evaluation events go to (None: no logs pipeline)."""
    passes: Callable[[otel_context.Context], bool] | None = field(init=False, default=None)
    """True for a context whose span would certainly be dropped, when nothing else needs the call
    traced (no metrics to record): such calls pass through untouched. None: always trace."""

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.passes = drop_check(self.tracer)


class Instruments:
    """The GenAI client metrics, with the semconv bucket boundaries: the SDK's histograms from `meter`,
    or those `create` makes (llmtrace's own aggregation, see _histograms.py)."""

    __slots__ = ("cost", "duration", "steps", "tokens", "ttfc")

    def __init__(self, meter: Meter | None, create: Callable[..., Any] | None = None) -> None:
        def histogram(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Histogram:
            if create is not None:
                return create(name, unit, description, buckets)  # type: ignore[no-any-return]  # same record()
            assert meter is not None
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
            )

        self.tokens = histogram(
            sc.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", sc.TOKEN_BUCKETS
        )
        self.duration = histogram(
            sc.METRIC_OPERATION_DURATION, "s", "GenAI operation duration.", sc.DURATION_BUCKETS
        )
        self.ttfc = histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            "s",
            "Time from the request to the first chunk of a streamed response.",
            sc.DURATION_BUCKETS,
        )
        self.steps: dict[str, Histogram] = {
            name: histogram(name, "s", description, buckets)
            for name, description, buckets in (
                (sc.METRIC_AGENT_DURATION, "Duration of agent invocations.", sc.AGENT_BUCKETS),
                (sc.METRIC_TOOL_DURATION, "Duration of tool executions.", sc.DURATION_BUCKETS),
                (sc.METRIC_WORKFLOW_DURATION, "Duration of workflows.", sc.WORKFLOW_BUCKETS),
            )
        }
        self.cost = histogram(
            sc.METRIC_COST,
            "USD",
            "Cost of GenAI operations in US dollars, from llmtrace's price table.",
            sc.COST_BUCKETS,
        )


RUNTIME: Runtime | None = None
"""The active runtime; None when llmtrace is not instrumenting."""


def start_call(
    request: LLMRequest,
    runtime: Runtime,
    prompt: PromptRef | None = None,
    context: otel_context.Context | None = None,
) -> Call:
    """Open the CLIENT span for `request` (sampling attributes first, so samplers see them), under the
    prompt template it was rendered from, if any, as a child of `context` (default: the current one)."""
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: request.operation,
        sc.GEN_AI_PROVIDER_NAME: request.provider,
    }
    if request.model is not None:
        attributes[sc.GEN_AI_REQUEST_MODEL] = request.model
    if request.server_address is not None:
        attributes[sc.SERVER_ADDRESS] = request.server_address
        if request.server_port is not None:
            attributes[sc.SERVER_PORT] = request.server_port
    # Request parameters go in at start too: one attribute pass instead of two, and samplers may use them.
    attributes.update(request.params)
    if prompt is not None:
        request.prompt = prompt
        attributes.update(prompt.attributes(runtime.settings))
    if request.stream:
        attributes[sc.GEN_AI_REQUEST_STREAM] = True
    name = f"{request.operation} {request.model}" if request.model else request.operation
    if context is None:
        context = otel_context.get_current()
    span = runtime.tracer.start_span(name, context, SpanKind.CLIENT, attributes)  # positional: cheaper
    call = Call(runtime, span, request, context)
    if call.recording:
        settings = runtime.settings
        if settings.capture_content:
            # what a stream accumulator keeps of each text: past the clip point, so the scrubbers and
            # the redact hook still see a secret cut in two (_redact._MARGIN) before the final clip
            request.keep_chars = settings.max_content_length + 4096
            if request.tool_definitions and not settings.capture_tool_schemas:
                # semconv: only the required fields by default; schemas are large and rarely needed
                request.tool_definitions = [
                    {"type": t.get("type", "function"), "name": t.get("name")}
                    for t in request.tool_definitions
                ]
            content: dict[str, Any] = {
                sc.GEN_AI_INPUT_MESSAGES: request.input_messages,
                sc.GEN_AI_SYSTEM_INSTRUCTIONS: request.system_instructions,
                sc.GEN_AI_TOOL_DEFINITIONS: request.tool_definitions,
            }
            if request.query is not None:
                content[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = request.query
            # content already on the span: prompt variables (the other attributes set above never
            # hold content)
            before = _redact.content_size(attributes) if prompt is not None else 0
            added = _redact.content_attributes(content, settings, before)
            if len(added) == 1:  # the usual case: set_attribute costs half of set_attributes
                ((key, value),) = added.items()
                span.set_attribute(key, value)
            elif added:
                span.set_attributes(added)
            # kept, so the response's content is fitted without re-reading the span's attributes
            request.content_chars = before + _redact.content_size(added)
    return call


class Call:
    """One traced model call; `finish`/`fail` end it exactly once and never raise."""

    __slots__ = (
        "_done",
        "_start",
        "_ttfc",
        "chunks",
        "context",
        "recording",
        "request",
        "runtime",
        "span",
        "streamed",
    )

    def __init__(
        self, runtime: Runtime, span: Span, request: LLMRequest, parent: otel_context.Context
    ) -> None:
        self.runtime = runtime
        self.span = span
        self.request = request
        self.recording = span.is_recording()
        self.context = _call_context(parent, span)
        self.chunks = 0
        self.streamed = False
        self._done = False
        self._start = time.perf_counter()
        self._ttfc: float | None = None

    @property
    def done(self) -> bool:
        """Whether the span has ended."""
        return self._done

    @property
    def wants_response(self) -> bool:
        """Whether mapping the response is worth doing (a recording span or metrics to feed)."""
        return self.recording or self.runtime.metrics is not None

    def first_chunk(self) -> None:
        """Note the arrival of the first stream chunk."""
        if self._ttfc is None:
            self._ttfc = time.perf_counter() - self._start

    def finish(self, response: LLMResponse | None, *, abandoned: bool = False) -> None:
        """Record the response, usage and cost, then end the span."""
        self._end(response, None, abandoned)

    def fail(self, exc: BaseException, response: LLMResponse | None = None) -> None:
        """Record `exc` as the call's error (with any partial response), then end the span."""
        self._end(response, exc, False)

    def _end(self, response: LLMResponse | None, exc: BaseException | None, abandoned: bool) -> None:
        if self._done:
            return
        self._done = True
        duration = time.perf_counter() - self._start
        if (
            response is not None
            and self.request.prompt_texts is not None
            and (
                (usage := response.usage) is None
                or usage.input_tokens is None
                or (usage.output_tokens is None and response.output_texts is not None)
            )
        ):  # the provider reported no (or half the) usage
            # Count tokens off the caller's thread; the span keeps the end time taken now.
            end_time = time.time_ns()

            def count() -> None:
                counted = response
                try:
                    counted = _with_estimate(self.request, response)
                finally:
                    self._complete(counted, exc, duration, abandoned, end_time)

            try:
                if _counting.submit(count):
                    return
            except Exception:  # e.g. no thread can be started: finish now, without counts
                internal_error("token counting")
        self._complete(response, exc, duration, abandoned, None)

    def _complete(
        self,
        response: LLMResponse | None,
        exc: BaseException | None,
        duration: float,
        abandoned: bool,
        end_time: int | None,
    ) -> None:
        try:
            error_type = None
            if exc is not None:
                error_type = _error_type(exc)
                if self.recording:
                    self._record_error(exc, error_type)
            self._record(response, duration, error_type, abandoned)
        except Exception:
            try:
                internal_error("finish")
            finally:
                self._end_span(end_time)
        else:
            self._end_span(end_time)

    def _end_span(self, end_time: int | None) -> None:
        try:
            self.span.end(end_time)
        except Exception:  # a span processor's on_end raised (the span has ended by then)
            internal_error("span processor")

    def _record_error(self, exc: BaseException, error_type: str) -> None:
        record_exception(self.span, exc, error_type)

    def _record(
        self, response: LLMResponse | None, duration: float, error_type: str | None, abandoned: bool
    ) -> None:
        runtime = self.runtime
        request = self.request
        usage = response.usage if response is not None else None
        model = (response.model if response is not None else None) or request.model
        cost = None
        if usage is not None:
            try:
                # the answering snapshot may be unpriced ("davinci:2023-07-21-v2" for davinci-002):
                # then the requested model's price applies
                cost = runtime.prices.cost_of(usage, model, request.model)
            except Exception:  # a pricing problem must not cost the span its tokens
                internal_error("pricing")
        if self.recording:
            attributes: dict[str, AttributeValue] = {}
            if response is not None:
                _response_attributes(attributes, response, runtime.settings, request.content_chars)
                if response.response_id:
                    _remember_response(response.response_id, self.span)
            if self._ttfc is not None:
                attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._ttfc
            if self.streamed:
                attributes[sc.LLMTRACE_STREAM_CHUNKS] = self.chunks
            if abandoned:
                attributes[sc.LLMTRACE_STREAM_ABANDONED] = True
            if cost is not None:
                attributes[sc.GEN_AI_USAGE_COST_AMOUNT] = cost.total_usd
                attributes[sc.GEN_AI_USAGE_COST_CURRENCY] = "USD"
                attributes[sc.GEN_AI_USAGE_COST_SOURCE] = "local"
                attributes[sc.LLMTRACE_COST_INPUT_USD] = cost.input_usd
                attributes[sc.LLMTRACE_COST_OUTPUT_USD] = cost.output_usd
            self.span.set_attributes(attributes)
        metrics = runtime.metrics
        if metrics is None:
            return
        labels: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: request.operation,
            sc.GEN_AI_PROVIDER_NAME: request.provider,
        }
        if request.model is not None:
            labels[sc.GEN_AI_REQUEST_MODEL] = request.model
        if response is not None and response.model is not None:
            labels[sc.GEN_AI_RESPONSE_MODEL] = response.model
        if request.server_address is not None:
            labels[sc.SERVER_ADDRESS] = request.server_address
            if request.server_port is not None:
                labels[sc.SERVER_PORT] = request.server_port
        _business_labels(labels, request)
        if error_type is not None:
            metrics.duration.record(duration, {**labels, sc.ERROR_TYPE: error_type})
        else:
            metrics.duration.record(duration, labels)
        if self._ttfc is not None:
            metrics.ttfc.record(self._ttfc, labels)
        # Only provider-reported counts feed the token metric (semconv: no offline counts by default).
        if usage is not None and not usage.estimated:
            if usage.input_tokens is not None:
                metrics.tokens.record(usage.input_tokens, {**labels, sc.GEN_AI_TOKEN_TYPE: "input"})
            if usage.output_tokens is not None:
                metrics.tokens.record(usage.output_tokens, {**labels, sc.GEN_AI_TOKEN_TYPE: "output"})
        if cost is not None and cost.total_usd > 0:
            metrics.cost.record(cost.total_usd, labels)


def _call_context(parent: otel_context.Context, span: Span) -> otel_context.Context:
    """`parent` with `span` current and the in-call mark: one copy of the context, not two."""
    if _SPAN_KEY is None:
        return otel_context.set_value(_IN_CALL, True, trace.set_span_in_context(span, parent))
    return otel_context.Context({**parent, _SPAN_KEY: span, _IN_CALL: True})


_responses: OrderedDict[str, SpanContext] = OrderedDict()
_RESPONSES_KEPT = 10_000


def _remember_response(response_id: str, span: Span) -> None:
    # A plain dict write per call; the oldest entry goes once the bound is reached.
    _responses[response_id] = span.get_span_context()
    if len(_responses) > _RESPONSES_KEPT:
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):
            _responses.popitem(last=False)


def span_of_response(response_id: str) -> SpanContext | None:
    """The span context of the call that produced `response_id`, if it is among the last 10,000."""
    return _responses.get(response_id)


def record_exception(span: Span, exc: BaseException, error_type: str | None = None) -> None:
    """`error.type`, ERROR status and an ``exception`` event, with credentials scrubbed from the text."""
    if not span.is_recording():
        return
    message = _redact.credentials(str(exc))
    span.set_attribute(sc.ERROR_TYPE, error_type or _error_type(exc))
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:1024]))
    stack = _redact.credentials("".join(traceback.format_exception(exc)))
    event = {
        "exception.type": type(exc).__qualname__,
        "exception.message": message,
        "exception.stacktrace": stack,
    }
    span.add_event("exception", event)


_guard = CardinalityGuard()
_CONTEXT_LABELS = (sc.LLMTRACE_TENANT_ID, sc.LLMTRACE_FEATURE)


def _business_labels(labels: dict[str, AttributeValue], request: LLMRequest) -> None:
    """Tenant, feature and prompt name/version on the metrics ("who spent it", "did v4 cost more"),
    each through the cardinality guard."""
    context = current_attributes()
    if context:
        for key in _CONTEXT_LABELS:
            value = context.get(key)
            if value is not None:
                labels[key] = _guard(key, value)
    prompt = request.prompt
    if prompt is not None:
        labels[sc.GEN_AI_PROMPT_NAME] = _guard(sc.GEN_AI_PROMPT_NAME, prompt.name)
        if prompt.version is not None:
            labels[sc.GEN_AI_PROMPT_VERSION] = _guard(
                f"{sc.GEN_AI_PROMPT_VERSION}:{prompt.name}", prompt.version
            )


def _with_estimate(request: LLMRequest, response: LLMResponse) -> LLMResponse:
    """`response` with the token counts the provider did not report, counted (and flagged as such)."""
    usage = response.usage if response.usage is not None else Usage()
    model = response.model or request.model
    tokenizer = None
    if usage.input_tokens is None and request.prompt_texts is not None:
        texts = request.prompt_texts()
        count = tokens.count_chat if request.operation == sc.OP_CHAT else tokens.count_tokens
        usage.input_tokens, tokenizer = count(texts, model)
    if usage.output_tokens is None and response.output_texts is not None:
        usage.output_tokens, tokenizer = tokens.count_tokens(response.output_texts, model)
    usage.estimated = True
    usage.tokenizer = tokenizer
    response.usage = usage
    return response


def _error_type(exc: BaseException) -> str:
    # semconv prefers the provider's error code: botocore's ClientError/EventStreamError carry it
    # (e.g. "ThrottlingException") where the class name is generic.
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__qualname__ or sc.OTHER


def _response_attributes(
    out: dict[str, AttributeValue], response: LLMResponse, settings: Settings, content_chars: int
) -> None:
    if response.response_id is not None:
        out[sc.GEN_AI_RESPONSE_ID] = response.response_id
    if response.model is not None:
        out[sc.GEN_AI_RESPONSE_MODEL] = response.model
    if response.finish_reasons:
        out[sc.GEN_AI_RESPONSE_FINISH_REASONS] = response.finish_reasons
    usage = response.usage
    if usage is not None:
        _usage_attributes(out, usage)
    out.update(response.attributes)
    if settings.capture_content and response.output_messages is not None:
        content = {sc.GEN_AI_OUTPUT_MESSAGES: response.output_messages}
        # the input side's content on the span counts toward the span's total
        out.update(_redact.content_attributes(content, settings, content_chars))


def _usage_attributes(out: dict[str, AttributeValue], usage: Usage) -> None:
    if usage.input_tokens is not None:
        out[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        out[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_input_tokens is not None:
        out[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_input_tokens
    if usage.cache_write_input_tokens is not None:
        out[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_input_tokens
    if usage.reasoning_output_tokens is not None:
        out[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_output_tokens
    if usage.estimated:
        out[sc.LLMTRACE_USAGE_ESTIMATED] = True
        if usage.tokenizer is not None:
            out[sc.LLMTRACE_USAGE_TOKENIZER] = usage.tokenizer


def suppressed(context: otel_context.Context | None = None) -> bool:
    """Whether the (current) context asks instrumentation to stand aside (or we are inside a call)."""
    ctx = otel_context.get_current() if context is None else context
    return bool(ctx.get(_IN_CALL) or ctx.get(_SUPPRESS))
