"""Provider-neutral records: what a provider instrumentor maps its SDK's shapes into.

Messages and parts are plain dicts already in the GenAI JSON-schema shape
(``{"role": ..., "parts": [{"type": "text", "content": ...}]}``), so the core can
serialize them without knowing any provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.util.types import AttributeValue

Message = dict[str, Any]
Part = dict[str, Any]


@dataclass(slots=True)
class Usage:
    """Token counts, already normalized to the semconv meaning (input includes cached tokens)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    cache_write_1h_input_tokens: int | None = None
    """Of the cache writes, those to Anthropic's 1-hour cache (the rest are 5-minute writes)."""
    reasoning_output_tokens: int | None = None
    estimated: bool = False
    tokenizer: str | None = None
    """For estimated counts: the tiktoken encoding used, or ``chars/4``."""


@dataclass(slots=True)
class LLMRequest:
    """One model call as the user asked for it."""

    operation: str
    provider: str
    model: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    params: dict[str, AttributeValue] = field(default_factory=dict)
    """Request attributes by semconv name (temperature, max_tokens, openai.api.type, ...)."""
    input_messages: list[Message] | None = None
    system_instructions: list[Part] | None = None
    tool_definitions: list[dict[str, Any]] | None = None
    prompt_texts: Callable[[], list[str]] | None = None
    """The prompt's text, one string per message, for counting tokens when the provider reports none."""
    expects_usage: bool = True
    """False when the provider is known not to report usage (a stream without include_usage)."""
    content_chars: int = 0
    """Characters of content the span got at its start (set by the core), counted against the span's
    content budget when the response's content is added."""
    keep_chars: int = 0
    """Characters of each streamed text (per choice, content block or tool-call arguments) worth keeping:
    set by the core when the span records content; an accumulator keeps no more (0: none)."""
    prompt: Any = None
    """The `PromptRef` the call was made under (set by the core)."""
    query: str | None = None
    """A retrieval's query text: content, recorded (through the content policy) only with capture on."""


@dataclass(slots=True)
class LLMResponse:
    """What came back, whether from one response object or folded from a stream."""

    response_id: str | None = None
    model: str | None = None
    finish_reasons: list[str] | None = None
    usage: Usage | None = None
    output_messages: list[Message] | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    """Provider-specific response attributes by name (service tier, fingerprint, dimensions, ...)."""
    output_texts: list[str] | None = None
    """Generated text, one string per choice, for counting tokens when usage is missing."""


class Accumulator(Protocol):
    """Folds stream chunks into one `LLMResponse`; `add` runs once per chunk, so keep it cheap."""

    def add(self, chunk: Any) -> None: ...

    def result(self) -> LLMResponse: ...
