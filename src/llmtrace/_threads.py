"""Context into executor threads: work submitted to a ThreadPoolExecutor runs in the submitter's
OpenTelemetry context (current span, llmtrace attributes and prompt), so model calls made there are
children of the step that submitted them. asyncio tasks copy the context by themselves."""

from __future__ import annotations

import contextvars
import functools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import wrapt

_handle: Any = None


def _submit(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
    if not args:
        return wrapped(*args, **kwargs)  # type: ignore[no-any-return]
    fn, rest = args[0], args[1:]
    context = contextvars.copy_context()
    return wrapped(functools.partial(context.run, fn), *rest, **kwargs)  # type: ignore[no-any-return]


def propagate_context() -> None:
    """Patch ThreadPoolExecutor.submit (map() goes through it too); idempotent."""
    global _handle
    if _handle is None:
        _handle = wrapt.wrap_function_wrapper(ThreadPoolExecutor, "submit", _submit)


def stop_propagating() -> None:
    """Restore ThreadPoolExecutor.submit exactly."""
    global _handle
    if _handle is not None:
        wrapt.unwrap_object(ThreadPoolExecutor, "submit", _handle, missing_ok=True)
        _handle = None
