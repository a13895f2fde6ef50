"""instrument() / uninstrument(): settings, providers, runtime and patches, wired once."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import wrapt

from llmtrace import _context, _core, _counting, _export, _safety, _threads
from llmtrace import _semconv as sc
from llmtrace._context import ContextAttributesProcessor
from llmtrace._core import Instruments, Runtime
from llmtrace._patch import Patcher
from llmtrace._version import __version__
from llmtrace.config import ConfigError, Settings, check_otlp_environment, load_settings
from llmtrace.instrumentors import REGISTRY
from llmtrace.pricing import load_price_table

if TYPE_CHECKING:
    from llmtrace._reliable_export import ExportBudget
    from llmtrace.pricing import ModelPrice  # the models load only when prices are given (startup time)

_lock = threading.RLock()
_patcher = Patcher()
_handle: Handle | None = None
_context_processor = ContextAttributesProcessor()
_enriched: weakref.WeakSet[Any] = weakref.WeakSet()
"""Providers that have the context processor (weakly: a new provider may reuse a collected one's id)."""
_atexit_registered = False
_providers: set[str] = set()
"""The instrumentors whose patches are applied."""


class Handle:
    """What `instrument()` returns: the active configuration, and the way to undo it.

    Also a context manager, which uninstruments on exit.
    """

    def __init__(
        self,
        settings: Settings,
        tracer_provider: Any,
        meter_provider: Any,
        owned: bool,
        logger_provider: Any = None,
        *,
        budget: ExportBudget | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self._owned = owned
        self._budget = budget

    @property
    def patched(self) -> list[str]:
        """The SDK methods patched so far (``module:attribute``); more appear as SDKs are imported."""
        return _patcher.applied

    def force_flush(self, timeout_millis: int = 5000) -> None:
        """Finish pending token counts, then export what is buffered (the providers' force_flush), all
        within the timeout. Meanwhile the exporters llmtrace created make one attempt per export, so a
        backend that is down fails the flush at once rather than after their retries."""
        deadline = time.monotonic() + timeout_millis / 1000
        within = self._budget.window(timeout_millis / 1000) if self._budget else contextlib.nullcontext()
        with within:
            _counting.drain(timeout_millis / 1000)
            for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
                flush = getattr(provider, "force_flush", None)
                if flush is not None:
                    try:
                        flush(int(max(0.0, deadline - time.monotonic()) * 1000))
                    except Exception:  # e.g. a MeterProvider out of time; not llmtrace's to raise
                        _safety.log.debug("llmtrace: flush of %r failed", provider, exc_info=True)

    def uninstrument(self) -> None:
        """Remove every patch and stop tracing; the SDKs are left exactly as they were."""
        global _handle
        with _lock:
            if _handle is not self:
                return
            _patcher.revert()
            _providers.clear()
            _context_processor.active = False
            _context.propagate_baggage = False
            _threads.stop_propagating()
            _core.RUNTIME = None
            _handle = None
        if self._owned:
            # Our providers are global and cannot be uninstalled; flush so nothing recorded is lost.
            self.force_flush()

    def __enter__(self) -> Handle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstrument()


def instrument(
    *,
    providers: list[str] | tuple[str, ...] | str | None = None,
    capture_content: bool | None = None,
    service_name: str | None = None,
    exporter: str | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    metric_readers: Sequence[Any] | None = None,
    logger_provider: Any = None,
    pricing: Mapping[str, ModelPrice | Mapping[str, Any]] | str | Path | None = None,
    **settings: Any,
) -> Handle:
    """Trace every call made through the installed provider SDKs. Idempotent; a later call naming
    other `providers` adds them. With ``OTEL_SDK_DISABLED=true`` it patches nothing.

    Args:
        providers: Instrument only these (names from ``llmtrace.instrumentors.REGISTRY``).
        capture_content: Record prompts and completions (off by default).
        service_name: ``service.name`` when llmtrace creates the TracerProvider.
        exporter: ``"otlp"`` (default), ``"console"`` or ``"none"``; used only when llmtrace creates
            the TracerProvider, i.e. when the application has not installed one.
        tracer_provider: Use this TracerProvider instead of the global one.
        meter_provider: Use this MeterProvider instead of the global one.
        metric_readers: Build a MeterProvider of llmtrace's own with these readers (a Prometheus or
            in-memory reader, say) for llmtrace's metrics, instead of using the global one.
        logger_provider: Use this LoggerProvider (for evaluation events) instead of the global one.
        pricing: Extra or corrected model prices (USD per million tokens), or a JSON file of them;
            merged over the shipped table and ``pricing_file`` (see docs/pricing.md).
        **settings: Any other field of `llmtrace.config.Settings`.

    Returns:
        A `Handle`; ``handle.uninstrument()`` undoes everything.

    Raises:
        ConfigError: A setting is invalid; the message names it.

    Example:
        >>> import llmtrace
        >>> handle = llmtrace.instrument(exporter="none")
        >>> handle.uninstrument()
    """
    global _handle, _atexit_registered
    config = load_settings(
        {
            "providers": providers,
            "capture_content": capture_content,
            "service_name": service_name,
            "exporter": exporter,
            **settings,
        }
    )
    unknown = [p for p in config.providers or () if p not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"llmtrace: invalid setting 'providers': unknown {unknown}; known: {sorted(REGISTRY)}"
        )
    if meter_provider is not None and metric_readers is not None:
        raise ConfigError("llmtrace: invalid setting 'metric_readers': give either it or meter_provider")
    # Raises ConfigError naming 'pricing' or 'pricing_file'.
    prices = load_price_table(pricing, pricing_file=config.pricing_file, model_aliases=config.model_aliases)
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Handle(config, None, None, owned=False)  # the standard off switch: nothing is patched
    if _handle is None and _creates_otlp(config, tracer_provider, meter_provider or metric_readers):
        check_otlp_environment()  # the exporters read these variables: a bad URL fails here, not later
    with _lock:
        if _handle is not None:
            # Providers named by a later call are added: opentelemetry-instrument loads each of
            # llmtrace's instrumentors (entry points) with a call of its own.
            _apply(config.providers or ())
            return _handle
        from llmtrace._reliable_export import ExportBudget

        # Exit and flushes bounded for all the providers created here, traces first.
        budget = ExportBudget(_export.shutdown_seconds(config))
        tp, owned_tp = _export.tracer_provider(config, tracer_provider, budget=budget)
        mp, owned_mp, histograms = _export.meter_provider(
            config, meter_provider, budget=budget, readers=metric_readers
        )
        tracer = tp.get_tracer("llmtrace", __version__, schema_url=sc.SCHEMA_URL)
        instruments = None
        if histograms is not None:  # llmtrace built the provider: it aggregates its histograms itself
            instruments = Instruments(None, histograms.create)
        elif mp is not None:
            instruments = Instruments(mp.get_meter("llmtrace", __version__, schema_url=sc.SCHEMA_URL))
        lp, owned_lp = _export.logger_provider(config, logger_provider, create=owned_tp, budget=budget)
        logger = lp.get_logger("llmtrace", __version__, schema_url=sc.SCHEMA_URL) if lp else None
        _context_processor.active = True
        if tp not in _enriched and hasattr(tp, "add_span_processor"):
            # Context attributes go on every span of this provider, other libraries' too.
            tp.add_span_processor(_context_processor)
            with contextlib.suppress(TypeError):  # not weakly referenceable: added again next time
                _enriched.add(tp)
        _threads.propagate_context()
        _safety.raise_internal_errors = config.raise_internal_errors
        _context.propagate_baggage = config.propagate_baggage
        _core.RUNTIME = Runtime(config, tracer, prices, instruments, logger)
        _apply(config.providers or REGISTRY)
        owned = owned_tp or owned_mp or owned_lp
        _handle = Handle(config, tp, mp, owned, lp, budget=budget if budget.providers else None)
        if budget.providers:
            # Runs before the SDK's own shutdown of these providers (which then has nothing left to
            # do) and after the count drain below (registered later).
            atexit.register(budget.shutdown)
        if not _atexit_registered:
            # Registered after the SDK providers' own atexit shutdown, so it runs before it.
            atexit.register(_counting.drain, 2.0)
            _atexit_registered = True
        if _handle._owned:
            # When (and only if) the application uses multiprocessing: importing it here would load
            # eight modules into every process that never forks a worker.
            handle = _handle
            wrapt.register_post_import_hook(
                lambda util: util.register_after_fork(handle, _flush_at_worker_exit), "multiprocessing.util"
            )
        return _handle


def _flush_at_worker_exit(handle: Handle) -> None:
    """In a multiprocessing child (a Pool worker): flush at its exit, which runs multiprocessing's
    finalizers but not atexit (the process leaves through os._exit), so its spans are not lost."""
    from multiprocessing import util

    util.Finalize(handle, handle.force_flush, exitpriority=10)


def _creates_otlp(config: Settings, tracer_provider: Any, meter_provider: Any) -> bool:
    """Whether instrument() is about to create an OTLP exporter (no provider given or installed)."""
    from opentelemetry import metrics, trace

    if (
        config.exporter == "otlp"
        and tracer_provider is None
        and _export._is_unset(trace.get_tracer_provider())
    ):
        return True  # the logs exporter comes with this one
    chosen = config.metrics_exporter
    if chosen is None and config.exporter == "otlp":
        chosen = "none" if os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none" else "otlp"
    return chosen == "otlp" and meter_provider is None and _export._is_unset(metrics.get_meter_provider())


def _apply(names: Iterable[str]) -> None:
    for name in names:
        if name not in _providers:
            _patcher.apply(importlib.import_module(REGISTRY[name]).PATCHES)
            _providers.add(name)


def uninstrument() -> None:
    """Undo `instrument()`, if it is active."""
    handle = _handle
    if handle is not None:
        handle.uninstrument()
