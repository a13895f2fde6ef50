"""The patch table: what to wrap, applied lazily when the SDK module is imported, and reverted exactly.

A provider module lists `Patch` entries; each names a module, an attribute path in it, and an
`Endpoint` (pure mapping functions). The wrapper built here is the only place that touches the user's
call: it runs the SDK method once, outside any containment, and returns exactly what the SDK returned
(or a stream proxy around it).

A provider whose SDK method does not fit a `Patch` with an endpoint (botocore's one entry point for every
operation) builds its raw wrapper from the same hooks: `start` opens the traced call, `finish` ends it
with the SDK's result, `traced` runs the user's call between the two, and `endpoint_wrappers` is what
the patch table itself uses.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from llmtrace import _core
from llmtrace._context import current_prompt
from llmtrace._core import Call, start_call, suppressed
from llmtrace._records import Accumulator, LLMRequest, LLMResponse
from llmtrace._safety import internal_error, log
from llmtrace._stream import AsyncStreamProxy, StreamProxy

RequestMapper = Callable[[Any, Mapping[str, Any], bool], LLMRequest]
ResponseMapper = Callable[[Any, bool], LLMResponse | None]
AccumulatorFactory = Callable[[LLMRequest, bool], Accumulator]
Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How one SDK method maps to call records. Every function is pure and synchronous."""

    request: RequestMapper
    """(instance, kwargs, capture_content) -> LLMRequest"""
    response: ResponseMapper
    """(returned object, capture_content) -> LLMResponse"""
    accumulator: AccumulatorFactory | None = None
    """Builds the accumulator for a streamed result."""
    is_stream: Callable[[Any], bool] | None = None
    """Whether a returned object is a stream to proxy (default: the request asked to stream)."""
    is_deferred: Callable[[Any], bool] | None = None
    """Whether a returned object is an unread response whose ``parse()`` yields the real result."""
    positional: tuple[str, ...] = ()
    """The names of the method's positional parameters, in order (``self`` excluded), for SDKs taking
    arguments by position: a call's positional arguments reach the request mapper under these names,
    while the SDK still gets the call exactly as made. Empty (keyword-only methods): nothing is bound."""


@dataclass(frozen=True, slots=True)
class Patch:
    """Wrap ``module.path`` (e.g. ``"Completions.create"``) with a traced endpoint or a raw wrapper."""

    module: str
    path: str
    endpoint: Endpoint | None = None
    wrapper: Wrapper | None = None


def finish(call: Call, endpoint: Endpoint, result: Any, is_async: bool) -> Any:
    """End `call` with the SDK's `result` mapped by `endpoint`, or hand back the stream (or unread
    response) proxy that ends it later; returns what the user gets. Never raises."""
    capture = call.runtime.settings.capture_content
    try:
        if endpoint.is_deferred is not None and endpoint.is_deferred(result):
            return (AsyncDeferredProxy if is_async else DeferredProxy)(result, call, endpoint)
        if endpoint.accumulator is not None and (
            endpoint.is_stream(result) if endpoint.is_stream is not None else call.request.stream
        ):
            # by the result, too: a plain method may return an async generator (an `async def` with yield);
            # an object that is both (LiteLLM's CustomStreamWrapper) is read as the call's kind says
            kind = type(result)
            is_async = is_async or (hasattr(kind, "__anext__") and not hasattr(kind, "__next__"))
            proxy = AsyncStreamProxy if is_async else StreamProxy
            return proxy(result, call, endpoint.accumulator(call.request, capture))
        wanted = call.recording or call.runtime.metrics is not None  # Call.wants_response, inlined
        call.finish(endpoint.response(result, capture) if wanted else None)
    except Exception:
        internal_error("finish")
        call.finish(None)
    return result


class DeferredProxy(wrapt.BaseObjectProxy[Any]):
    """An unread HTTP response (openai's ``with_streaming_response``): the span ends when the user
    parses it (with the parsed result, or continues as a stream), closes it, or drops it."""

    def __init__(self, wrapped: Any, call: Call, endpoint: Endpoint) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_endpoint = endpoint

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The SDK's parse(); its result finishes the span (or becomes a traced stream)."""
        try:
            result = self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_call.fail(exc)
            raise
        return finish(self._self_call, self._self_endpoint, result, False)

    def close(self) -> None:
        """Close the response; a body read without parse() ends the span without response details."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.finish(None)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._self_call.finish(None, abandoned=True)


class AsyncDeferredProxy(DeferredProxy):
    """`DeferredProxy` for ``AsyncAPIResponse`` (whose parse() and close() are coroutines)."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The SDK's parse(); its result finishes the span (or becomes a traced stream)."""
        try:
            result = await self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_call.fail(exc)
            raise
        return finish(self._self_call, self._self_endpoint, result, True)

    async def close(self) -> None:  # type: ignore[override]
        """Close the response and end the span if parse() did not."""
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.finish(None)


def start(endpoint: Endpoint, instance: Any, kwargs: Mapping[str, Any]) -> Call | None:
    """Open the traced call of `endpoint` for a call on `instance` with `kwargs`. None, for the call to
    pass through untraced: not instrumented, instrumentation suppressed, inside a traced call already,
    a span the sampler would drop and no metrics to record, or the request mapper failed (logged).
    Never raises."""
    runtime = _core.RUNTIME
    if runtime is None:
        return None
    context = otel_context.get_current()  # read once for the lookups below
    if suppressed(context):
        return None
    try:
        if runtime.passes is not None and runtime.passes(context):
            return None
        request = endpoint.request(instance, kwargs, runtime.settings.capture_content)
        return start_call(request, runtime, current_prompt(kwargs, context), context)
    except Exception:
        internal_error("start")
        return None


Starter = Callable[[Any, tuple[Any, ...], Mapping[str, Any]], "Call | None"]
"""(instance, args, kwargs) of the user's call -> the call opened for it (`start`), None to pass through."""
Finisher = Callable[[Call, Any, bool], Any]
"""(call, the SDK's result, is_async) -> what the user gets; the call ends now or with its stream."""


def traced(open_call: Starter, then: Finisher) -> tuple[Wrapper, Wrapper]:
    """The (sync, async) wrappers around a user's call: `open_call` opens the call (None: pass through),
    the SDK method runs once with the span current, and `then` turns its result into what the user gets.
    The SDK gets the call's arguments as they were; its exception is recorded and re-raised unchanged."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = open_call(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            otel_context.detach(token)
        return then(call, result, False)

    async def async_wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = open_call(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:  # CancelledError too: the span must end
            call.fail(exc)
            raise
        finally:
            otel_context.detach(token)
        return then(call, result, True)

    return wrapper, async_wrapper


def endpoint_wrappers(endpoint: Endpoint) -> tuple[Wrapper, Wrapper]:
    """The (sync, async) traced wrappers of an SDK method that `endpoint` maps."""
    names = endpoint.positional

    def open_call(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Call | None:
        return start(endpoint, instance, kwargs)

    def open_named(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Call | None:
        # the mapper's view only: the SDK is called with `args` and `kwargs` as they are
        return start(
            endpoint, instance, {**dict(zip(names, args, strict=False)), **kwargs} if args else kwargs
        )

    def then(call: Call, result: Any, is_async: bool) -> Any:
        return finish(call, endpoint, result, is_async)

    return traced(open_named if names else open_call, then)


def unless_in_call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Raw wrapper: run the wrapped function only outside a call llmtrace is tracing; inside one,
    return None. For an SDK's own span-starting hook, so that a traced call has one span, llmtrace's."""
    if otel_context.get_value(_core._IN_CALL):
        return None
    return wrapped(*args, **kwargs)


# --- SDK stream helpers that send their request later ----------------------------------------------
#
# Some helpers (anthropic's messages.stream()) take the call's arguments but return a manager that sends
# the request only when entered, and hand the raw stream to a helper object that reads it. The method
# that took the arguments keeps them on the manager (`remember_request`); entering the manager is the
# traced call (`stream_helper_entry`), and the helper's raw stream is swapped for our proxy, so every
# way of reading it (iteration, text_stream, get_final_message()) is folded and ends the span once.

_REQUEST = "_llmtrace_request"


def remember_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Raw wrapper for a helper method returning a manager: keep (resource, kwargs) on the manager."""
    manager = wrapped(*args, **kwargs)
    try:
        setattr(manager, _REQUEST, (instance, dict(kwargs)))
    except Exception:
        internal_error("stream helper")
    return manager


def _proxy_helper_stream(call: Call, endpoint: Endpoint, helper: Any, attribute: str, is_async: bool) -> Any:
    try:
        if endpoint.accumulator is None:
            raise TypeError("a stream helper endpoint needs an accumulator")
        accumulator = endpoint.accumulator(call.request, call.runtime.settings.capture_content)
        proxy = AsyncStreamProxy if is_async else StreamProxy
        setattr(helper, attribute, proxy(getattr(helper, attribute), call, accumulator))
    except Exception:
        internal_error("finish")
        call.finish(None)
    return helper


def stream_helper_entry(endpoint: Endpoint, attribute: str) -> tuple[Wrapper, Wrapper]:
    """Raw wrappers for a manager's ``__enter__`` and ``__aenter__``: trace the request it sends with the
    arguments `remember_request` kept, and proxy the raw stream its helper holds in `attribute`."""

    def open_call(manager: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Call | None:
        request = getattr(manager, _REQUEST, None)
        return start(endpoint, request[0], request[1]) if request is not None else None

    def then(call: Call, helper: Any, is_async: bool) -> Any:
        return _proxy_helper_stream(call, endpoint, helper, attribute, is_async)

    return traced(open_call, then)


class Patcher:
    """Applies a set of patches now or on import, and reverts them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pending: dict[str, list[Patch]] = {}
        self._applied: list[tuple[Any, str, Any]] = []
        self._hooked: set[str] = set()

    def apply(self, patches: Iterable[Patch]) -> None:
        """Patch each target now if its module is imported, otherwise as soon as it is."""
        with self._lock:
            by_module: dict[str, list[Patch]] = {}
            for patch in patches:
                by_module.setdefault(patch.module, []).append(patch)
            for module, group in by_module.items():
                self._pending.setdefault(module, []).extend(group)
                if module not in self._hooked:
                    # Import hooks cannot be unregistered, so one per module for the process;
                    # it applies whatever is pending for that module at the time it fires.
                    self._hooked.add(module)
                    wrapt.register_post_import_hook(self._on_import, module)
                else:
                    import sys

                    if module in sys.modules:
                        self._on_import(sys.modules[module])

    def _on_import(self, module: Any) -> None:
        with self._lock:
            for patch in self._pending.pop(module.__name__, []):
                try:
                    self._wrap(module, patch)
                except Exception:
                    log.debug("llmtrace: cannot patch %s.%s", module.__name__, patch.path, exc_info=True)

    def _wrap(self, module: Any, patch: Patch) -> None:
        try:
            original = wrapt.resolve_path(module, patch.path)[2]
        except (AttributeError, wrapt.PathResolutionError):
            return  # not in this SDK version
        if patch.wrapper is not None:
            wrapper = patch.wrapper
        elif patch.endpoint is not None:
            sync_wrapper, async_wrapper = endpoint_wrappers(patch.endpoint)
            wrapper = async_wrapper if inspect.iscoroutinefunction(inspect.unwrap(original)) else sync_wrapper
        else:
            return
        handle = wrapt.wrap_function_wrapper(module, patch.path, wrapper)
        self._applied.append((module, patch.path, handle))

    def revert(self) -> None:
        """Undo every applied patch (leaving the SDK as it was) and drop pending ones."""
        with self._lock:
            self._pending.clear()
            while self._applied:
                module, path, handle = self._applied.pop()
                try:
                    wrapt.unwrap_object(module, path, handle, missing_ok=True)
                    parent, attribute, current = wrapt.resolve_path(module, path)
                    if getattr(current, "_self_parent", None) is handle:
                        # Another library wrapped over ours and, unpatching first, put back what
                        # getattr() gave it: our wrapper bound to the class. Put back what we wrapped.
                        wrapped: Any = handle
                        setattr(parent, attribute, wrapped.__wrapped__)
                except Exception:
                    log.debug("llmtrace: cannot unpatch %s.%s", module.__name__, path, exc_info=True)

    @property
    def applied(self) -> list[str]:
        """The patched targets, as ``module:path``."""
        with self._lock:
            return [f"{m.__name__}:{p}" for m, p, _ in self._applied]
