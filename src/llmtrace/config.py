"""Settings: keyword arguments override ``LLMTRACE_*`` variables, which override the defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ExporterName = Literal["otlp", "console", "none"]

# Values of the standard OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT that put content on spans.
_OTEL_CONTENT_ON = {"span_only", "span_and_event", "true"}
# Values of the standard OTEL_TRACES_EXPORTER llmtrace can honour (when LLMTRACE_EXPORTER is unset).
_OTEL_TRACES_EXPORTERS = {"otlp": "otlp", "otlp_proto_http": "otlp", "console": "console", "none": "none"}


class ConfigError(ValueError):
    """An invalid llmtrace setting, raised by `instrument()` and naming the setting."""


class Settings(BaseModel):
    """Everything `llmtrace.instrument()` can be told. Each field is also ``LLMTRACE_<FIELD>``."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    providers: tuple[str, ...] | None = None
    """Instrument only these providers (default: every one that is installed)."""
    capture_content: bool = False
    """Record prompts and completions on spans (off by default: they may hold personal data)."""
    capture_tool_schemas: bool = False
    """With content on, also record tool descriptions and JSON schemas, not only their names."""
    max_content_length: int = Field(default=16384, ge=64)
    """Captured text longer than this many characters is truncated, keeping the JSON valid (one JSON
    attribute holds at most four times this: the oldest messages go first)."""
    max_span_content_length: int = Field(default=131072, ge=256)
    """All the captured content on one span together: past this many characters, later content
    attributes are shortened (still valid JSON) or left out, and ``llmtrace.content.truncated`` is set."""
    scrub: tuple[Literal["email", "phone", "card", "secret"], ...] = ()
    """Built-in scrubbers run on every captured content string: ``email``, ``phone`` (9-15 digits
    written as a phone number), ``card`` (payment card numbers passing the Luhn check), ``secret`` (API
    keys, tokens, passwords in URLs); matches become ``[email]``, ``[phone]``, ``[card]``, ``[REDACTED]``.
    The environment value is comma-separated: ``LLMTRACE_SCRUB=email,phone,card``."""
    redact: Callable[[str], str] | None = None
    """Your redaction hook, ``str -> str``: applied to every captured content string (message text,
    system instructions, tool definitions, arguments and results, retrieval queries and documents,
    prompt variables) after the scrubbers and before clipping; what it returns is recorded. If it raises
    or returns a non-string, ``[redaction failed]`` is recorded instead. A keyword argument only
    (``instrument(redact=...)``): never read from the environment."""
    service_name: str | None = None
    """``service.name`` of a provider llmtrace creates (default: ``OTEL_SERVICE_NAME`` or the SDK's)."""
    exporter: str = "otlp"
    """Where spans go when llmtrace creates the TracerProvider: ``otlp``, ``console``, ``none``, or
    ``file`` / ``file:<path>`` (OTLP/JSON lines, default path ``llmtrace.jsonl``)."""
    file_max_bytes: int = Field(default=100_000_000, ge=1024)
    """With the file exporter, rotate the file once it reaches this size."""
    file_backups: int = Field(default=5, ge=0)
    """With the file exporter, keep this many rotated files (``<path>.1`` is the newest)."""
    metrics_exporter: ExporterName | None = None
    """Where metrics go (default: ``otlp`` with the OTLP exporter, ``none`` otherwise)."""
    metrics_endpoint: str | None = None
    """OTLP/HTTP metrics endpoint, if it differs from the traces one."""
    shutdown_timeout: float | None = Field(default=None, ge=0)
    """Seconds the exit may wait, in all, for the spans, metrics and evaluation events still buffered in
    the providers llmtrace created (default: ``OTEL_BSP_EXPORT_TIMEOUT`` in milliseconds or
    ``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds if set, else 2). Each export is then one attempt; what is
    not out in time, e.g. because the backend is down or slow, is dropped and logged in one warning."""
    propagate_baggage: bool = False
    """Also put ``llmtrace.attributes(...)`` values in W3C baggage, for downstream services (off by
    default: baggage leaves the process in request headers)."""
    raise_internal_errors: bool = False
    """Re-raise llmtrace's own errors instead of logging them (for llmtrace's test suite)."""
    pricing_file: Path | None = None
    """A JSON file of model prices merged over the shipped table (``instrument(pricing=...)`` goes on top)."""
    model_aliases: dict[str, str] = Field(default_factory=dict)
    """Your model names (e.g. Azure deployment names) mapped to priced ones; the env value is JSON."""

    @field_validator("providers", "scrub", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("metrics_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        problem = endpoint_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("exporter")
    @classmethod
    def _exporter(cls, value: str) -> str:
        value = value.strip()
        if value in ("otlp", "console", "none", "file") or (value.startswith("file:") and value[5:].strip()):
            return value
        raise ValueError("expected otlp, console, none, file or file:<path>")

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not a JSON object: {exc}") from None
        return value


_ENV_PREFIX = "LLMTRACE_"
_KWARGS_ONLY = {"redact"}
"""Settings that are code, not text: never read from the environment."""
OTLP_ENDPOINTS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
"""The standard variables the OTLP/HTTP exporters llmtrace creates read their endpoint from."""


def endpoint_problem(url: str) -> str | None:
    """What is wrong with an OTLP/HTTP endpoint URL, or None."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host"
    return None


def check_otlp_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise `ConfigError` naming the first ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variable that is no URL
    (checked when llmtrace creates an OTLP exporter, which reads them)."""
    env = os.environ if environ is None else environ
    for name in OTLP_ENDPOINTS:
        value = env.get(name)
        problem = endpoint_problem(value) if value else None
        if problem:
            raise ConfigError(f"llmtrace: invalid setting {name!r}: {problem}; got {_shown(value)}")


def _shown(value: Any) -> str:
    from llmtrace._redact import credentials  # an invalid URL may still carry a password

    return credentials(repr(value))


def load_settings(kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from kwargs (None means unset) over the environment; raise `ConfigError`."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name in Settings.model_fields:
        if name in _KWARGS_ONLY:
            continue
        raw = env.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
            origin[name] = _ENV_PREFIX + name.upper()
    if "capture_content" not in values:
        otel = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        if otel:
            values["capture_content"] = otel.strip().lower() in _OTEL_CONTENT_ON
            origin["capture_content"] = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    if "exporter" not in values:
        traces = _OTEL_TRACES_EXPORTERS.get(env.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower())
        if traces:
            values["exporter"] = traces
            origin["exporter"] = "OTEL_TRACES_EXPORTER"
    for name, value in kwargs.items():
        if value is not None:
            values[name] = value
            origin[name] = f"{name}="
    if isinstance(values.get("capture_content"), str):
        values["capture_content"] = values["capture_content"].strip()  # anything but a boolean is refused
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = origin.get(field, field)
            given = values.get(field, "<missing>")
            problems.append(f"setting {field!r} (from {where}): {err['msg']}; got {_shown(given)}")
        raise ConfigError("llmtrace: invalid configuration: " + "; ".join(problems)) from None
