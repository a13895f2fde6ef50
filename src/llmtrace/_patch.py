"""The patch table: what to wrap, applied lazily when the SDK module is imported, and reverted exactly.

A provider module lists `Patch` entries; each names a module, an attribute path in it, and an
`Endpoint` (pure mapping functions). The wrapper built here is the only place that touches the user's
call: it runs the SDK method once, outside any containment, and returns exactly what the SDK returned
(or a stream proxy around it).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from llmtrace import _core
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


@dataclass(frozen=True, slots=True)
class Patch:
    """Wrap ``module.path`` (e.g. ``"Completions.create"``) with a traced endpoint or a raw wrapper."""

    module: str
    path: str
    endpoint: Endpoint | None = None
    wrapper: Wrapper | None = None


def _finish(call: Call, endpoint: Endpoint, result: Any, is_async: bool) -> Any:
    capture = call.runtime.settings.capture_content
    try:
        if endpoint.accumulator is not None and (
            endpoint.is_stream(result) if endpoint.is_stream is not None else call.request.stream
        ):
            proxy = AsyncStreamProxy if is_async else StreamProxy
            return proxy(result, call, endpoint.accumulator(call.request, capture))
        call.finish(endpoint.response(result, capture) if call.wants_response else None)
    except Exception:
        internal_error("finish")
        call.finish(None)
    return result


def _start(endpoint: Endpoint, instance: Any, kwargs: Mapping[str, Any]) -> Call | None:
    runtime = _core.RUNTIME
    if runtime is None or suppressed():
        return None
    try:
        request = endpoint.request(instance, kwargs, runtime.settings.capture_content)
        return start_call(request, runtime)
    except Exception:
        internal_error("start")
        return None


def _sync_wrapper(endpoint: Endpoint) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _start(endpoint, instance, kwargs)
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
        return _finish(call, endpoint, result, False)

    return wrapper


def _async_wrapper(endpoint: Endpoint) -> Wrapper:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _start(endpoint, instance, kwargs)
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
        return _finish(call, endpoint, result, True)

    return wrapper


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
            is_async = inspect.iscoroutinefunction(inspect.unwrap(original))
            wrapper = (_async_wrapper if is_async else _sync_wrapper)(patch.endpoint)
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
                except Exception:
                    log.debug("llmtrace: cannot unpatch %s.%s", module.__name__, path, exc_info=True)

    @property
    def applied(self) -> list[str]:
        """The patched targets, as ``module:path``."""
        with self._lock:
            return [f"{m.__name__}:{p}" for m, p, _ in self._applied]
