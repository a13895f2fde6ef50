"""llmtrace: OpenTelemetry GenAI tracing for LLM applications.

    import llmtrace
    llmtrace.instrument()   # every installed provider SDK, exported over OTLP/HTTP

``import llmtrace`` is cheap: the OpenTelemetry SDK, pydantic and the instrumentors load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmtrace._version import __version__

if TYPE_CHECKING:
    from llmtrace._context import Prompt, attributes, prompt
    from llmtrace._setup import Handle, instrument, uninstrument
    from llmtrace.config import ConfigError, Settings
    from llmtrace.decorators import agent, retriever, step, tool, workflow
    from llmtrace.evaluation import record_evaluation
    from llmtrace.pricing import ModelPrice

__all__ = [
    "ConfigError",
    "Handle",
    "ModelPrice",
    "Prompt",
    "Settings",
    "__version__",
    "agent",
    "attributes",
    "instrument",
    "prompt",
    "record_evaluation",
    "retriever",
    "step",
    "tool",
    "uninstrument",
    "workflow",
]

_LAZY = {
    "Prompt": "llmtrace._context",
    "attributes": "llmtrace._context",
    "prompt": "llmtrace._context",
    "agent": "llmtrace.decorators",
    "retriever": "llmtrace.decorators",
    "step": "llmtrace.decorators",
    "tool": "llmtrace.decorators",
    "workflow": "llmtrace.decorators",
    "record_evaluation": "llmtrace.evaluation",
    "Handle": "llmtrace._setup",
    "instrument": "llmtrace._setup",
    "uninstrument": "llmtrace._setup",
    "ConfigError": "llmtrace.config",
    "Settings": "llmtrace.config",
    "ModelPrice": "llmtrace.pricing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmtrace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
