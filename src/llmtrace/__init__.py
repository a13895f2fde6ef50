"""llmtrace: OpenTelemetry GenAI tracing for LLM applications.

import llmtrace
llmtrace.instrument()   # every installed provider SDK, exported over OTLP/HTTP
"""

from __future__ import annotations

from llmtrace._setup import Handle, instrument, uninstrument
from llmtrace._version import __version__
from llmtrace.config import ConfigError, Settings
from llmtrace.pricing import ModelPrice

__all__ = ["ConfigError", "Handle", "ModelPrice", "Settings", "__version__", "instrument", "uninstrument"]
