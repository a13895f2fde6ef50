"""Provider instrumentors. Each module has `PROVIDER`-level mapping functions and a `PATCHES` table;
they are imported only when `instrument()` runs and never import their SDK at module level."""

from __future__ import annotations

REGISTRY: dict[str, str] = {
    "openai": "llmtrace.instrumentors.openai",
    "anthropic": "llmtrace.instrumentors.anthropic",
    "bedrock": "llmtrace.instrumentors.bedrock",
    "cohere": "llmtrace.instrumentors.cohere",
    "groq": "llmtrace.instrumentors.groq",
    "ollama": "llmtrace.instrumentors.ollama",
    "google_genai": "llmtrace.instrumentors.google_genai",
    "mistralai": "llmtrace.instrumentors.mistralai",
    "litellm": "llmtrace.instrumentors.litellm",
    "langchain": "llmtrace.instrumentors.langchain",
    "llama_index": "llmtrace.instrumentors.llama_index",
    "chromadb": "llmtrace.instrumentors.chromadb",
    "qdrant": "llmtrace.instrumentors.qdrant",
    "mcp": "llmtrace.instrumentors.mcp",
}
"""Instrumentor name -> module holding its PATCHES."""

FRAMEWORKS: frozenset[str] = frozenset({"langchain", "llama_index", "chromadb", "qdrant", "mcp"})
"""The instrumentors of frameworks and vector stores; every other one instruments a model provider and
must pass the provider contract (tests/contract)."""
