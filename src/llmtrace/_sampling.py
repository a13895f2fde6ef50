"""Knowing, before mapping a request, that its span would be dropped.

An unsampled call still costs what it takes to build the request's attributes and ask the SDK for a span
it then throws away. With the OpenTelemetry SDK's own samplers the answer is often known from the parent
alone: ``ALWAYS_OFF``, a zero ratio, or a ``ParentBased`` sampler whose delegate for this kind of parent
is one of those. `drop_check` turns such a sampler into a predicate on the context; any other sampler
(custom, or a ratio that depends on the new trace id) gives None, and calls go through the SDK as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import propagation

_SPAN_KEY: str | None = getattr(propagation, "_SPAN_KEY", None)


def drop_check(tracer: Any) -> Callable[[Context], bool] | None:
    """A predicate true when `tracer` would certainly not sample a span started in a context, or None
    when that can only be known by asking the sampler (not an SDK tracer, or a sampler of unknown kind)."""
    try:
        from opentelemetry.sdk.trace import sampling
    except ImportError:
        return None
    sampler = getattr(tracer, "sampler", None)
    if sampler is None:
        return None
    if _never(sampler, sampling):
        return _always
    # exact types only: a subclass may decide differently
    if type(sampler) not in _parent_based_types(sampling):
        return None
    delegates = [
        getattr(sampler, name, None)
        for name in (
            "_root",
            "_remote_parent_sampled",
            "_remote_parent_not_sampled",
            "_local_parent_sampled",
            "_local_parent_not_sampled",
        )
    ]
    if any(d is None for d in delegates):  # a ParentBased laid out differently: do not guess
        return None
    root, remote_sampled, remote_not, local_sampled, local_not = (_never(d, sampling) for d in delegates)
    if not (root or remote_sampled or remote_not or local_sampled or local_not):
        return None
    key = _SPAN_KEY

    def drops(context: Context) -> bool:
        span: Any = context.get(key) if key is not None else trace.get_current_span(context)
        parent = span.get_span_context() if span is not None else None
        if parent is None or not parent.is_valid:
            return root
        if parent.is_remote:
            return remote_sampled if parent.trace_flags.sampled else remote_not
        return local_sampled if parent.trace_flags.sampled else local_not

    return drops


def _always(context: Context) -> bool:
    return True


def _parent_based_types(sampling: Any) -> tuple[type, ...]:
    names = ("ParentBased", "ParentBasedTraceIdRatio", "_ParentBasedAlwaysOff", "_ParentBasedAlwaysOn")
    return tuple(t for t in (getattr(sampling, n, None) for n in names) if isinstance(t, type))


def _never(sampler: Any, sampling: Any) -> bool:
    """Whether `sampler` is one of the SDK's samplers that drop every span whatever the trace id."""
    kind = type(sampler)
    if kind in (sampling.StaticSampler, getattr(sampling, "_AlwaysOff", None)):
        return bool(sampler.get_description() == "AlwaysOffSampler")
    if kind is sampling.TraceIdRatioBased:
        return getattr(sampler, "bound", None) == 0
    return False
