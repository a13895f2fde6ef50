"""llmtrace's instrumentors as OpenTelemetry ``BaseInstrumentor`` classes, for ``opentelemetry-instrument``.

Each name in ``llmtrace.instrumentors.REGISTRY`` is an attribute of this module (a class built on first
access) and an ``opentelemetry_instrumentor`` entry point named ``llmtrace_<name>``, so the official
instrumentors (``openai``, ``anthropic``...) keep their names. ``opentelemetry-instrumentation`` is an
optional dependency (``pip install 'llmtrace[instrument]'``): only this module imports it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Collection
from typing import Any

from llmtrace import _safety
from llmtrace.config import ConfigError
from llmtrace.instrumentors import REGISTRY

# The package each instrumentor patches, with the oldest release it is tested against (noxfile.py).
_REQUIRES = {
    "openai": "openai >= 1.66.0",
    "anthropic": "anthropic >= 0.30.0",
    "bedrock": "botocore >= 1.34.116",
    "cohere": "cohere >= 5.16.0",
    "groq": "groq >= 0.8.0",
    "ollama": "ollama >= 0.3.0",
    "google_genai": "google-genai >= 1.11.0",
    "mistralai": "mistralai >= 1.0.1",
    "litellm": "litellm >= 1.53.1",
    "langchain": "langchain-core",
    "llama_index": "llama-index-core",
    "chromadb": "chromadb",
    "qdrant": "qdrant-client",
    "mcp": "mcp",
}

_lock = threading.Lock()
_active: set[str] = set()
"""Instrumentors turned on through this module (llmtrace patches them all under one handle)."""
_classes: dict[str, type] = {}


def _base() -> Any:
    try:
        module = importlib.import_module("opentelemetry.instrumentation.instrumentor")
    except ImportError as exc:
        raise ImportError(
            "llmtrace's opentelemetry-instrument entry points need opentelemetry-instrumentation: "
            "pip install 'llmtrace[instrument]'"
        ) from exc
    return module.BaseInstrumentor


def _instrument(name: str, kwargs: dict[str, Any]) -> None:
    from llmtrace import _setup

    with _lock:
        try:
            # The providers the caller passed, else the global ones opentelemetry-instrument configured.
            _setup.instrument(
                providers=[name],
                tracer_provider=kwargs.get("tracer_provider"),
                meter_provider=kwargs.get("meter_provider"),
                logger_provider=kwargs.get("logger_provider"),
            )
        except ConfigError as exc:
            # Raising would stop opentelemetry-instrument loading every instrumentor after this one.
            _safety.log.warning("%s", exc)
            return
        except Exception:
            _safety.internal_error(f"instrument {name}")
            return
        _active.add(name)


def _uninstrument(name: str) -> None:
    from llmtrace import _setup

    with _lock, _safety.contained(f"uninstrument {name}"):
        _active.discard(name)
        handle = _setup._handle
        _setup.uninstrument()
        if _active and handle is not None:
            # Patches are reverted all at once, so the instrumentors still on are applied again.
            _setup.instrument(
                providers=sorted(_active),
                tracer_provider=handle.tracer_provider,
                meter_provider=handle.meter_provider,
                logger_provider=handle.logger_provider,
            )


def _make(name: str) -> type:
    base = _base()

    def instrumentation_dependencies(self: Any) -> Collection[str]:
        return (_REQUIRES[name],) if name in _REQUIRES else ()

    def instrument(self: Any, **kwargs: Any) -> None:
        _instrument(name, kwargs)

    def uninstrument(self: Any, **kwargs: Any) -> None:
        _uninstrument(name)

    title = "".join(part.capitalize() for part in name.split("_"))
    return type(
        f"Llmtrace{title}Instrumentor",
        (base,),
        {
            "__doc__": f"llmtrace's {name} instrumentation as an OpenTelemetry instrumentor.",
            "__module__": __name__,
            "instrumentation_dependencies": instrumentation_dependencies,
            "_instrument": instrument,
            "_uninstrument": uninstrument,
        },
    )


def __getattr__(name: str) -> type:
    if name not in REGISTRY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:
        if name not in _classes:
            _classes[name] = _make(name)
        return _classes[name]
