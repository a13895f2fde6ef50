"""Context carried by the user's code into every span: attributes (user, session, tenant...) and prompts.

Both live in contextvars, so they follow asyncio tasks, and threads started through executors once
llmtrace propagates context into them (see `_threads.py`). A span processor copies the attributes onto
every span started inside, llmtrace's and other libraries' alike.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from llmtrace import _semconv as sc
from llmtrace._redact import content_attributes

if TYPE_CHECKING:
    from llmtrace.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Keyword -> attribute name; standard names where they exist, llmtrace's namespace otherwise.
_NAMES = {
    "user_id": sc.USER_ID,
    "session_id": sc.SESSION_ID,
    "conversation_id": sc.GEN_AI_CONVERSATION_ID,
    "tenant_id": sc.LLMTRACE_TENANT_ID,
    "feature": sc.LLMTRACE_FEATURE,
}

# In the OpenTelemetry context (contextvars underneath), so scopes nest, restore and travel exactly
# like the current span does.
_ATTRIBUTES = otel_context.create_key("llmtrace-attributes")
_PROMPT = otel_context.create_key("llmtrace-prompt")


attributes_given = False
"""Whether `attributes()` was ever called: until then no context holds any, and nothing looks."""


def current_attributes(context: Context | None = None) -> Mapping[str, AttributeValue] | None:
    """The context attributes in force (as span attribute names)."""
    if not attributes_given:
        return None
    value = otel_context.get_value(_ATTRIBUTES, context)
    return value if isinstance(value, Mapping) else None


def attribute_name(key: str) -> str:
    """The span attribute a context keyword becomes (``user_id`` -> ``user.id``, ``plan`` ->
    ``llmtrace.context.plan``)."""
    return _NAMES.get(key) or sc.LLMTRACE_CONTEXT_PREFIX + key


def _value(value: Any) -> AttributeValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    return str(value)


def merged_attributes(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The current context attributes with `values` (keywords) laid over them; None values drop out."""
    current = dict(current_attributes() or {})
    for key, value in values.items():
        name = attribute_name(key)
        if value is None:
            current.pop(name, None)
        else:
            current[name] = _value(value)
    return current


@dataclass(frozen=True, slots=True)
class PromptRef:
    """The prompt template behind a model call: name, version and the variables it was rendered with."""

    name: str
    version: str | None = None
    variables: Mapping[str, Any] | None = None

    def attributes(self, settings: Settings) -> dict[str, AttributeValue]:
        """``gen_ai.prompt.*`` attributes; the variables only with content capture on (they may be
        personal data), as captured content."""
        out: dict[str, AttributeValue] = {sc.GEN_AI_PROMPT_NAME: self.name}
        if self.version is not None:
            out[sc.GEN_AI_PROMPT_VERSION] = self.version
        if settings.capture_content and self.variables:
            variables = {sc.GEN_AI_PROMPT_VARIABLE_PREFIX + k: _value(v) for k, v in self.variables.items()}
            out.update(content_attributes(variables, settings))
        return out


class PromptText(str):
    """A string rendered by `Prompt.format`; it remembers its prompt, so a model call that gets it as a
    message, unmodified, is linked to that prompt. Any change to the text yields a plain `str`."""

    prompt: PromptRef


propagate_baggage = False
"""Set by instrument(propagate_baggage=True): context attributes also travel as W3C baggage."""

rendered_prompts = 0
"""How many PromptTexts were ever made: while 0, model calls skip looking for them (no cost)."""
_rendered_lock = threading.Lock()


class Prompt:
    """A named, versioned prompt template.

    The version defaults to a short hash of the template text, so an edited template is never reported
    under an old version.

    Example:
        >>> greeting = Prompt("greeting", "Hello {name}!")
        >>> text = greeting.format(name="Ada")
        >>> text, greeting.version == Prompt("greeting", "Hello {name}!").version
        ('Hello Ada!', True)
    """

    def __init__(self, name: str, template: str, version: str | None = None) -> None:
        self.name = name
        self.template = template
        self.version = version or hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]

    def format(self, **variables: Any) -> PromptText:
        """Render the template with `str.format`; the result links model calls to this prompt."""
        global rendered_prompts
        text = PromptText(self.template.format(**variables))
        text.prompt = PromptRef(self.name, self.version, variables)
        if not rendered_prompts:
            with _rendered_lock:
                rendered_prompts += 1
        return text

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, version={self.version!r})"


def find_prompt(value: Any, depth: int = 0) -> PromptRef | None:
    """The prompt of the first PromptText inside request arguments (messages, parts...), if any."""
    if type(value) is PromptText:
        return value.prompt
    if depth > 4 or isinstance(value, str):
        return None
    if isinstance(value, Mapping):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return None
    for item in value:
        found = find_prompt(item, depth + 1)
        if found is not None:
            return found
    return None


def current_prompt(kwargs: Mapping[str, Any], context: Context | None = None) -> PromptRef | None:
    """The prompt a model call is made under: an enclosing ``llmtrace.prompt(...)``, else a PromptText
    among its arguments (looked for only once any Prompt has rendered anything)."""
    ref = (otel_context.get_current() if context is None else context).get(_PROMPT)
    if not isinstance(ref, PromptRef):
        ref = None
    if ref is None and rendered_prompts:
        ref = find_prompt(kwargs)
    return ref


class ContextAttributesProcessor(SpanProcessor):
    """Copies the context attributes onto every span as it starts. Inert once llmtrace is uninstrumented
    (an SDK TracerProvider has no way to remove a processor)."""

    active = True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.active:
            values = current_attributes(parent_context)
            if values:
                span.set_attributes(values)

    def on_end(self, span: ReadableSpan) -> None:
        pass


class CardinalityGuard:
    """Lets through the first `limit` distinct values of each metric attribute; later ones become
    ``_OTHER``, so user-controlled values (tenants, features, prompt versions) cannot explode metrics."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._seen: dict[str, set[AttributeValue]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, value: AttributeValue) -> AttributeValue:
        if not isinstance(value, (str, bool, int, float)):
            return sc.OTHER  # a list value is unhashable: never a set member
        seen = self._seen.get(key)
        if seen is not None and value in seen:
            return value
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return value
            if len(seen) < self.limit:
                seen.add(value)
                return value
        return sc.OTHER


class _ScopeRun:
    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context

    def end(self, result: Any = None, exc: BaseException | None = None) -> None:
        pass


class Scope:
    """A context manager and decorator that puts a value in the context for the code inside. One Scope
    may be entered by several threads or asyncio tasks at once (e.g. a module-level ``prompt(...)``)."""

    def __init__(self, key: str, value: Callable[[], Any]) -> None:
        self._key = key
        self._value = value
        self._tokens: dict[int, object] = {}
        """id of the context each entry attached -> its token (the entries of all threads and tasks)"""

    def _context(self) -> Context:
        value = self._value()
        context = otel_context.set_value(self._key, value)
        if self._key == _ATTRIBUTES and propagate_baggage and isinstance(value, Mapping):
            # Opt-in: downstream services receive the attributes as W3C baggage (through the
            # application's propagator), e.g. user.id and llmtrace.tenant.id.
            for name, item in value.items():
                context = baggage.set_baggage(name, str(item), context)
        return context

    def __enter__(self) -> Scope:
        context = self._context()
        self._tokens[id(context)] = otel_context.attach(context)
        return self

    def __exit__(self, *exc: object) -> None:
        # Blocks nest, so the context this thread or task attached on entry is the current one.
        token = self._tokens.pop(id(otel_context.get_current()), None)
        if token is None and self._tokens:
            token = self._tokens.popitem()[1]
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def __call__(self, fn: F) -> F:
        from llmtrace.decorators import wrap

        return wrap(fn, lambda args, kwargs: _ScopeRun(self._context()))


class _Unset:
    def __repr__(self) -> str:
        return "unset"


_UNSET: Any = _Unset()


def attributes(
    *,
    user_id: str | None = _UNSET,
    session_id: str | None = _UNSET,
    conversation_id: str | None = _UNSET,
    tenant_id: str | None = _UNSET,
    feature: str | None = _UNSET,
    **custom: Any,
) -> Scope:
    """Put attributes on every span started inside (llmtrace's and other libraries'): a context
    manager, or a decorator for functions of any shape. Nesting merges; leaving restores; a key given
    as None is removed for the code inside.

    ``user_id`` -> ``user.id``, ``session_id`` -> ``session.id``, ``conversation_id`` ->
    ``gen_ai.conversation.id``, ``tenant_id`` -> ``llmtrace.tenant.id``, ``feature`` ->
    ``llmtrace.feature``, anything else -> ``llmtrace.context.<key>``. Tenant and feature are also
    attributes of the token, duration and cost metrics (at most 100 values each; later ones ``_OTHER``).

    Example:
        >>> with attributes(user_id="u-42", tenant_id="acme", plan="pro"):
        ...     pass
    """
    values = {"user_id": user_id, "session_id": session_id, "conversation_id": conversation_id,
              "tenant_id": tenant_id, "feature": feature, **custom}  # fmt: skip
    given = {k: v for k, v in values.items() if v is not _UNSET}
    global attributes_given
    attributes_given = True
    return Scope(_ATTRIBUTES, lambda: merged_attributes(given))


def prompt(name: str, version: str | None = None, variables: Mapping[str, Any] | None = None) -> Scope:
    """Mark the model calls inside as made from prompt template `name` at `version`: they carry
    ``gen_ai.prompt.name``/``.version`` (and ``gen_ai.prompt.variable.<key>`` with content capture on).
    A context manager, or a decorator.

    Example:
        >>> with prompt("support-answer", version="3", variables={"tone": "friendly"}):
        ...     pass
    """
    ref = PromptRef(name, version, dict(variables) if variables else None)
    return Scope(_PROMPT, lambda: ref)
