"""Decorators that trace the user's own agent steps: agent, tool, retriever, workflow, step.

One implementation serves the four call shapes (function, coroutine function, generator function,
async generator function); the wrapper keeps the signature, docstring and `inspect` kind of what it
wraps. Each call is an INTERNAL span, current while the user's code runs, so model calls made inside
(in this thread, in asyncio tasks, or in executor threads) are its children. Exceptions are recorded
and re-raised unchanged; when llmtrace is not instrumenting, the wrapper just calls through.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from llmtrace import _core
from llmtrace import _semconv as sc
from llmtrace._redact import content_attributes, is_content
from llmtrace._safety import internal_error

if TYPE_CHECKING:
    from llmtrace._patch import Wrapper

F = TypeVar("F", bound=Callable[..., Any])

# The agent a step runs in, for the tool spans it makes (semconv: gen_ai.agent.name on execute_tool).
_AGENT = otel_context.create_key("llmtrace-agent")

_TOP_K_ARGS = ("top_k", "k", "limit", "n_results", "similarity_top_k")
_QUERY_ARGS = ("query", "q", "question", "query_text", "text", "input", "prompt")


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one decorated function's spans look like."""

    operation: str
    name: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    metric: str | None = None
    on_call: Callable[[Span, inspect.BoundArguments | None, bool], None] | None = None
    on_result: Callable[[Span, Any, bool], None] | None = None
    failure: Callable[[Any, BaseException | None], dict[str, AttributeValue] | None] | None = None
    """(result, exception) -> error attributes (``error.type``, protocol codes) when the call failed, also
    by returning a result that reports a failure (an MCP ``isError`` result); None when it succeeded."""
    kind: SpanKind = SpanKind.INTERNAL
    """CLIENT for calls to another service (a vector database); INTERNAL for in-process steps."""


class _Run:
    """One traced invocation: its span, its context, its start time."""

    __slots__ = ("context", "labels", "runtime", "span", "spec", "start")

    def __init__(self, spec: _Spec, signature: inspect.Signature | None, args: Any, kwargs: Any) -> None:
        runtime = _core.RUNTIME
        assert runtime is not None
        attributes = dict(spec.attributes)
        agent = otel_context.get_value(_AGENT)
        if spec.operation == sc.OP_EXECUTE_TOOL and agent is not None:
            attributes[sc.GEN_AI_AGENT_NAME] = str(agent)
        if runtime.settings.capture_content:  # a framework's spec may carry arguments or a query
            attributes = _with_content(attributes, None)
        self.runtime = runtime
        self.spec = spec
        # from this call's attributes: a tool's metric carries the agent it runs in, as its span does
        self.labels = {k: v for k, v in attributes.items() if k in _METRIC_LABELS}
        self.span = runtime.tracer.start_span(spec.name, kind=spec.kind, attributes=attributes)
        self.start = time.perf_counter()
        context = trace.set_span_in_context(self.span)
        if spec.operation == sc.OP_INVOKE_AGENT:
            context = otel_context.set_value(_AGENT, spec.attributes[sc.GEN_AI_AGENT_NAME], context)
        self.context = context
        if spec.on_call is not None and self.span.is_recording():
            bound = None
            if signature is not None:
                try:
                    bound = signature.bind(*args, **kwargs)
                    bound.apply_defaults()
                except TypeError:
                    bound = None  # the call itself will raise the user's TypeError
            spec.on_call(self.span, bound, runtime.settings.capture_content)

    def end(self, result: Any = None, exc: BaseException | None = None) -> None:
        try:
            span, spec = self.span, self.spec
            failure = spec.failure(result, exc) if spec.failure is not None else None
            error_type = str(failure[sc.ERROR_TYPE]) if failure and sc.ERROR_TYPE in failure else None
            if exc is not None:
                _core.record_exception(span, exc, error_type)
            elif error_type is not None:
                span.set_status(Status(StatusCode.ERROR))
            if failure:
                span.set_attributes(failure)
            if exc is None and spec.on_result is not None and span.is_recording():
                spec.on_result(span, result, self.runtime.settings.capture_content)
            metrics = self.runtime.metrics
            if metrics is not None and spec.metric is not None:
                labels = dict(self.labels)
                if exc is not None or error_type is not None:
                    labels[sc.ERROR_TYPE] = error_type or type(exc).__qualname__
                metrics.steps[spec.metric].record(time.perf_counter() - self.start, labels)
        except Exception:
            internal_error("decorator")
        finally:
            self.span.end()


_METRIC_LABELS = {sc.GEN_AI_AGENT_NAME, sc.GEN_AI_TOOL_NAME, sc.GEN_AI_TOOL_TYPE, sc.GEN_AI_WORKFLOW_NAME}


def _begin(spec: _Spec, signature: inspect.Signature | None, args: Any, kwargs: Any) -> _Run | None:
    runtime = _core.RUNTIME
    if runtime is None:
        return None
    try:
        if runtime.passes is not None and runtime.passes(otel_context.get_current()):
            return None
        return _Run(spec, signature, args, kwargs)
    except Exception:
        internal_error("decorator")
        return None


class Run(Protocol):
    """One invocation of a wrapped function: the context it runs in, and how it ends."""

    context: otel_context.Context

    def end(self, result: Any = None, exc: BaseException | None = None) -> None: ...


def wrap(fn: F, begin: Callable[[tuple[Any, ...], dict[str, Any]], Run | None]) -> F:
    """Wrap `fn`, whatever its shape, so each invocation runs in the context `begin` returns (attached
    only while the user's code runs: a generator's context does not leak to its consumer between
    items) and ends through it. `begin` returning None means: just call through."""

    if inspect.isasyncgenfunction(fn):

        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            run = begin(args, kwargs)
            if run is None:
                async for item in fn(*args, **kwargs):
                    yield item
                return
            gen = fn(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                token = otel_context.attach(run.context)
                try:
                    item = await (gen.athrow(thrown) if thrown is not None else gen.asend(sent))
                except StopAsyncIteration:
                    run.end()
                    return
                except BaseException as exc:
                    run.end(exc=exc)
                    raise
                finally:
                    otel_context.detach(token)
                try:
                    sent, thrown = (yield item), None
                except GeneratorExit:
                    # closing runs the user's finally blocks: in the span, and a failure there ends it
                    token = otel_context.attach(run.context)
                    try:
                        await gen.aclose()
                    except BaseException as exc:
                        run.end(exc=exc)
                        raise
                    finally:
                        otel_context.detach(token)
                    run.end()
                    raise
                except BaseException as exc:
                    sent, thrown = None, exc

        return functools.wraps(fn)(async_gen_wrapper)  # type: ignore[return-value]

    if inspect.isgeneratorfunction(fn):

        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            run = begin(args, kwargs)
            if run is None:
                return (yield from fn(*args, **kwargs))
            gen = fn(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                token = otel_context.attach(run.context)
                try:
                    item = gen.throw(thrown) if thrown is not None else gen.send(sent)
                except StopIteration as stop:
                    run.end(stop.value)
                    return stop.value
                except BaseException as exc:
                    run.end(exc=exc)
                    raise
                finally:
                    otel_context.detach(token)
                try:
                    sent, thrown = (yield item), None
                except GeneratorExit:
                    # closing runs the user's finally blocks: in the span, and a failure there ends it
                    token = otel_context.attach(run.context)
                    try:
                        gen.close()
                    except BaseException as exc:
                        run.end(exc=exc)
                        raise
                    finally:
                        otel_context.detach(token)
                    run.end()
                    raise
                except BaseException as exc:
                    sent, thrown = None, exc

        return functools.wraps(fn)(gen_wrapper)  # type: ignore[return-value]

    if inspect.iscoroutinefunction(fn):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = begin(args, kwargs)
            if run is None:
                return await fn(*args, **kwargs)
            token = otel_context.attach(run.context)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                run.end(exc=exc)
                raise
            finally:
                otel_context.detach(token)
            run.end(result)
            return result

        return functools.wraps(fn)(async_wrapper)  # type: ignore[return-value]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = begin(args, kwargs)
        if run is None:
            return fn(*args, **kwargs)
        token = otel_context.attach(run.context)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            run.end(exc=exc)
            raise
        finally:
            otel_context.detach(token)
        run.end(result)
        return result

    return functools.wraps(fn)(wrapper)  # type: ignore[return-value]


def _description(fn: Callable[..., Any], given: str | None) -> str | None:
    if given is not None:
        return given
    doc = inspect.getdoc(fn)
    return doc.strip().splitlines()[0] if doc else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _with_content(attributes: Mapping[str, AttributeValue], span: Span | None) -> dict[str, AttributeValue]:
    """`attributes` with the captured content among them put through the content policy (scrubbers,
    redact hook, size caps), counting what `span` already holds toward its total."""
    content = {k: v for k, v in attributes.items() if is_content(k)}
    runtime = _core.RUNTIME
    if not content or runtime is None:
        return dict(attributes)
    out = {k: v for k, v in attributes.items() if k not in content}
    out.update(content_attributes(content, runtime.settings, getattr(span, "attributes", None)))
    return out


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set `attributes` on `span`; captured content among them goes through the content policy."""
    span.set_attributes(_with_content(attributes, span))


def _arguments(bound: inspect.BoundArguments | None) -> dict[str, Any]:
    if bound is None:
        return {}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


# --- tools ----------------------------------------------------------------------------------------


def _tool_call(span: Span, bound: inspect.BoundArguments | None, capture: bool) -> None:
    if capture and bound is not None:  # None: arguments that do not fit the signature (the call raises)
        set_attributes(span, {sc.GEN_AI_TOOL_CALL_ARGUMENTS: _arguments(bound)})


def _tool_result(span: Span, result: Any, capture: bool) -> None:
    if capture:  # a string result that is JSON is recorded as that JSON; None as JSON null
        set_attributes(span, {sc.GEN_AI_TOOL_CALL_RESULT: "null" if result is None else result})


# --- retrievers -----------------------------------------------------------------------------------


def _retrieval_call(span: Span, bound: inspect.BoundArguments | None, capture: bool) -> None:
    arguments = _arguments(bound)
    for name in _TOP_K_ARGS:
        value = arguments.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            span.set_attribute(sc.GEN_AI_RETRIEVAL_TOP_K, value)
            break
    if capture:
        query = next((arguments[n] for n in _QUERY_ARGS if isinstance(arguments.get(n), str)), None)
        if query is None:
            query = next((v for v in arguments.values() if isinstance(v, str)), None)
        if query is not None:
            set_attributes(span, {sc.GEN_AI_RETRIEVAL_QUERY_TEXT: query})


def document_id_and_score(doc: Any) -> tuple[Any, float | None]:
    """(id, score) of one retrieved document, whatever its shape: (doc, score) pairs, dicts, objects
    with ``id``/``score``, LangChain Documents (``id``, ``metadata``), LlamaIndex NodeWithScore."""
    score: Any = None
    if isinstance(doc, tuple) and len(doc) == 2 and isinstance(doc[1], (int, float)):
        doc, score = doc
    if isinstance(doc, Mapping):
        doc_id, own = doc.get("id"), doc.get("score")
        metadata = doc.get("metadata")
    else:
        node = getattr(doc, "node", None)  # LlamaIndex NodeWithScore
        doc_id = getattr(node, "node_id", None) if node is not None else getattr(doc, "id", None)
        own = getattr(doc, "score", None)
        metadata = getattr(doc, "metadata", None)
    if own is not None:  # a document's own score wins over a pair's; a missing one does not erase it
        score = own
    if doc_id is None and isinstance(metadata, Mapping):
        doc_id = metadata.get("id") or metadata.get("source")
    return doc_id, float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None


def retrieval_attributes(documents: Any, capture: bool) -> dict[str, AttributeValue]:
    """Retrieval-quality attributes of a result list, and the documents (id and score) with capture on."""
    if not isinstance(documents, (list, tuple)):
        return {}
    pairs = [document_id_and_score(d) for d in documents]
    out: dict[str, AttributeValue] = {sc.LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: len(pairs)}
    scores = [s for _, s in pairs if s is not None]
    if scores:
        low, high = min(scores), max(scores)
        out[sc.LLMTRACE_RETRIEVAL_SCORE_MIN] = low
        out[sc.LLMTRACE_RETRIEVAL_SCORE_MAX] = high
        out[sc.LLMTRACE_RETRIEVAL_SCORE_SPREAD] = high - low
    if capture:
        docs = []
        for doc_id, score in pairs:
            entry: dict[str, Any] = {}
            if doc_id is not None:
                entry["id"] = str(doc_id)
            if score is not None:
                entry["score"] = score
            docs.append(entry)
        out[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = _json(docs)
    return out


def _retrieval_result(span: Span, result: Any, capture: bool) -> None:
    set_attributes(span, retrieval_attributes(result, capture))


# --- library methods (the framework instrumentors) --------------------------------------------------

SpecFactory = Callable[[Any, inspect.BoundArguments, bool], "_Spec | None"]
"""(instance, the call's arguments with defaults applied, capture_content) -> the call's span spec."""


def method_wrappers(make: SpecFactory) -> tuple[Wrapper, Wrapper]:
    """Raw wrapt wrappers (sync, async) for a `Patch` of a library method, e.g. a framework's retriever or
    tool: each call is a span of the `_Spec` that `make` returns (None: the call goes through untraced),
    made by the decorators' machinery, so attributes, metrics, content rules and containment are theirs."""
    signatures: dict[Any, inspect.Signature] = {}

    def begin(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run | None:
        runtime = _core.RUNTIME
        if runtime is None or _core.suppressed():
            return None
        try:
            function = getattr(wrapped, "__func__", None)  # wrapt passes the bound method
            signature = signatures.get(function) if function is not None else None
            if signature is None:
                signature = inspect.signature(wrapped)
                if function is not None:
                    signatures[function] = signature
            arguments = signature.bind(*args, **kwargs)
        except (TypeError, ValueError):
            return None  # the call itself will raise the user's TypeError
        try:
            arguments.apply_defaults()
            spec = make(instance, arguments, runtime.settings.capture_content)
        except Exception:
            internal_error("decorator")
            return None
        return _begin(spec, None, args, kwargs) if spec is not None else None

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = begin(wrapped, instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(run.context)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            run.end(exc=exc)
            raise
        finally:
            otel_context.detach(token)
        run.end(result)
        return result

    async def async_wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        run = begin(wrapped, instance, args, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(run.context)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:  # CancelledError too: the span must end
            run.end(exc=exc)
            raise
        finally:
            otel_context.detach(token)
        run.end(result)
        return result

    return wrapper, async_wrapper


# --- the public decorators ------------------------------------------------------------------------


def _decorator(fn: Any, make: Callable[[Callable[..., Any]], _Spec]) -> Any:
    def decorate(target: F) -> F:
        spec = make(target)
        try:
            signature: inspect.Signature | None = inspect.signature(target)
        except (TypeError, ValueError):
            signature = None

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run | None:
            return _begin(spec, signature, args, kwargs)

        return wrap(target, begin)

    return decorate(fn) if fn is not None else decorate


@overload
def agent(fn: F, /) -> F: ...
@overload
def agent(
    *, name: str | None = None, description: str | None = None, version: str | None = None
) -> Callable[[F], F]: ...
def agent(
    fn: Any = None, /, *, name: str | None = None, description: str | None = None, version: str | None = None
) -> Any:
    """Trace each call as an ``invoke_agent {name}`` span (INTERNAL); tools called inside record it.

    Example:
        >>> @agent(name="planner")
        ... def plan(goal: str) -> str:
        ...     return goal.upper()
        >>> plan("ship it")
        'SHIP IT'
    """

    def make(target: Callable[..., Any]) -> _Spec:
        agent_name = name or target.__name__
        attributes: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
            sc.GEN_AI_AGENT_NAME: agent_name,
        }
        text = _description(target, description)
        if text:
            attributes[sc.GEN_AI_AGENT_DESCRIPTION] = text
        if version:
            attributes[sc.LLMTRACE_AGENT_VERSION] = version
        return _Spec(sc.OP_INVOKE_AGENT, f"invoke_agent {agent_name}", attributes, sc.METRIC_AGENT_DURATION)

    return _decorator(fn, make)


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, type: str = "function"
) -> Callable[[F], F]: ...
def tool(
    fn: Any = None, /, *, name: str | None = None, description: str | None = None, type: str = "function"
) -> Any:
    """Trace each call as an ``execute_tool {name}`` span; arguments and result with content capture on.

    Example:
        >>> @tool
        ... def get_weather(city: str) -> dict:
        ...     '''Current weather in a city.'''
        ...     return {"city": city, "sky": "clear"}
        >>> get_weather("Paris")["sky"]
        'clear'
    """

    def make(target: Callable[..., Any]) -> _Spec:
        tool_name = name or target.__name__
        attributes: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: tool_name,
            sc.GEN_AI_TOOL_TYPE: type,
        }
        text = _description(target, description)
        if text:
            attributes[sc.GEN_AI_TOOL_DESCRIPTION] = text
        return _Spec(
            sc.OP_EXECUTE_TOOL, f"execute_tool {tool_name}", attributes, sc.METRIC_TOOL_DURATION,
            _tool_call, _tool_result,
        )  # fmt: skip

    return _decorator(fn, make)


@overload
def retriever(fn: F, /) -> F: ...
@overload
def retriever(*, name: str | None = None, data_source: str | None = None) -> Callable[[F], F]: ...
def retriever(fn: Any = None, /, *, name: str | None = None, data_source: str | None = None) -> Any:
    """Trace each call as a ``retrieval {data source}`` span: top_k (from a ``k``/``top_k``/``limit``
    argument), number of documents and their score range; the query and documents (id and score) with
    content capture on. Results may be lists of dicts, objects, (doc, score) pairs or framework types."""

    def make(target: Callable[..., Any]) -> _Spec:
        attributes: dict[str, AttributeValue] = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL}
        if data_source:
            attributes[sc.GEN_AI_DATA_SOURCE_ID] = data_source
        label = data_source or name or target.__name__
        return _Spec(
            sc.OP_RETRIEVAL, f"retrieval {label}", attributes, None, _retrieval_call, _retrieval_result
        )

    return _decorator(fn, make)


@overload
def workflow(fn: F, /) -> F: ...
@overload
def workflow(*, name: str | None = None) -> Callable[[F], F]: ...
def workflow(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Trace each call as an ``invoke_workflow {name}`` span: a pipeline of several agents or steps."""

    def make(target: Callable[..., Any]) -> _Spec:
        workflow_name = name or target.__name__
        attributes: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
            sc.GEN_AI_WORKFLOW_NAME: workflow_name,
        }
        return _Spec(
            sc.OP_INVOKE_WORKFLOW, f"invoke_workflow {workflow_name}", attributes, sc.METRIC_WORKFLOW_DURATION
        )

    return _decorator(fn, make)


@overload
def step(fn: F, /) -> F: ...
@overload
def step(*, name: str | None = None) -> Callable[[F], F]: ...
def step(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Trace each call as an INTERNAL span named after the function (``gen_ai.operation.name=step``)."""

    def make(target: Callable[..., Any]) -> _Spec:
        step_name = name or target.__name__
        attributes: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_STEP,
            sc.LLMTRACE_STEP_NAME: step_name,
        }
        return _Spec(sc.OP_STEP, step_name, attributes)

    return _decorator(fn, make)


__all__ = ["agent", "retriever", "step", "tool", "workflow"]
