"""Provider instrumentors. Each module has `PROVIDER`-level mapping functions and a `PATCHES` table;
they are imported only when `instrument()` runs and never import their SDK at module level."""

from __future__ import annotations

REGISTRY: dict[str, str] = {
    "openai": "llmtrace.instrumentors.openai",
    "anthropic": "llmtrace.instrumentors.anthropic",
}
"""Instrumentor name -> module holding its PATCHES."""
