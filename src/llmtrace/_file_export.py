"""The local file store: spans appended to a file as OTLP/JSON lines, rotated by size.

Each export writes one line: an ``ExportTraceServiceRequest`` in the OTLP/JSON encoding (lowerCamelCase
field names, hex trace and span ids, enums as integers, 64-bit integers as decimal strings). Several
processes may append to the same file: each line goes out in one ``O_APPEND`` write under a shared
``flock`` on ``<path>.lock``, and rotation (``<path>`` -> ``<path>.1`` -> ... ``<path>.<backups>``) takes
the exclusive lock, so no process writes into a file while it is being renamed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext

from llmtrace._safety import log
from llmtrace.config import Settings

if sys.platform != "win32":
    import fcntl

DEFAULT_PATH = "llmtrace.jsonl"
"""Where ``exporter="file"`` writes when no path follows ``file:``."""

_HAS_IS_REMOTE = 0x100  # SpanFlags: the is_remote bit below is meaningful
_IS_REMOTE = 0x200


def file_path(exporter: str) -> Path:
    """The file named by an ``exporter`` setting of ``file`` or ``file:<path>``."""
    _, _, path = exporter.partition(":")
    return Path(path.strip() or DEFAULT_PATH).expanduser()


def span_processor(settings: Settings) -> BatchSpanProcessor:
    """The file exporter behind a BatchSpanProcessor: export off the caller's thread, a line per batch."""
    exporter = FileSpanExporter(
        file_path(settings.exporter), max_bytes=settings.file_max_bytes, backups=settings.file_backups
    )
    return BatchSpanProcessor(exporter)


class FileSpanExporter(SpanExporter):
    """Appends each batch of spans to `path` as one OTLP/JSON line; rotates past `max_bytes`."""

    def __init__(self, path: str | Path, max_bytes: int = 100_000_000, backups: int = 5) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            line = encode_line(spans)
            with self._mutex:
                self._append(line)
        except Exception:
            log.debug("llmtrace: cannot write spans to %s", self.path, exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._mutex:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is written before it returns

    def _append(self, line: bytes) -> None:
        lock = self._lock()
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            fd = self._current()
            view = memoryview(line)
            while view:  # one write for a regular file; the loop only guards against a short one
                view = view[os.write(fd, view) :]
            full = os.fstat(fd).st_size >= self.max_bytes
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if full:
            self._rotate(lock)

    def _lock(self) -> int | None:
        if sys.platform == "win32":  # no flock: one writing process per file
            return None
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        return self._lock_fd

    def _current(self) -> int:
        """The open file at `path`, reopened if another process rotated it away."""
        if self._fd is not None:
            try:
                on_disk = os.stat(self.path)
                mine = os.fstat(self._fd)
                if (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino):
                    return self._fd
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def _rotate(self, lock: int | None) -> None:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                if os.stat(self.path).st_size < self.max_bytes:
                    return  # another process rotated it first
            except FileNotFoundError:
                return
            if self.backups == 0:
                os.remove(self.path)
                return
            for n in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{n}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


# --- OTLP/JSON encoding ---------------------------------------------------------------------------


def encode_line(spans: Sequence[ReadableSpan]) -> bytes:
    """One ``ExportTraceServiceRequest`` as a line of OTLP/JSON (ASCII, ends with a newline)."""
    grouped: dict[Any, dict[Any, list[dict[str, Any]]]] = {}
    for span in spans:
        grouped.setdefault(span.resource, {}).setdefault(span.instrumentation_scope, []).append(
            encode_span(span)
        )
    resource_spans = []
    for resource, scopes in grouped.items():
        scope_spans = []
        for scope, encoded in scopes.items():
            entry: dict[str, Any] = {"scope": _scope(scope), "spans": encoded}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        item: dict[str, Any] = {"resource": {"attributes": attributes(resource.attributes)}}
        item["scopeSpans"] = scope_spans
        if resource.schema_url:
            item["schemaUrl"] = resource.schema_url
        resource_spans.append(item)
    text = json.dumps({"resourceSpans": resource_spans}, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii") + b"\n"


def encode_span(span: ReadableSpan) -> dict[str, Any]:
    """A span as an OTLP/JSON ``Span`` object."""
    context = span.get_span_context()
    assert context is not None  # a finished SDK span always has one
    out: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
    }
    if context.trace_state:
        out["traceState"] = ",".join(f"{k}={v}" for k, v in context.trace_state.items())
    if span.parent is not None:
        out["parentSpanId"] = f"{span.parent.span_id:016x}"
    out["flags"] = _flags(context, span.parent)
    out["name"] = span.name
    out["kind"] = span.kind.value + 1  # SDK INTERNAL=0..CONSUMER=4; OTLP has UNSPECIFIED=0 first
    out["startTimeUnixNano"] = str(span.start_time or 0)
    out["endTimeUnixNano"] = str(span.end_time or 0)
    out["attributes"] = attributes(span.attributes)
    if span.dropped_attributes:
        out["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        out["events"] = [_event(e.name, e.timestamp, e.attributes, e.dropped_attributes) for e in span.events]
    if span.dropped_events:
        out["droppedEventsCount"] = span.dropped_events
    if span.links:
        out["links"] = [_link(link) for link in span.links]
    if span.dropped_links:
        out["droppedLinksCount"] = span.dropped_links
    status: dict[str, Any] = {}
    if span.status.status_code.value:
        status["code"] = span.status.status_code.value  # UNSET=0, OK=1, ERROR=2 in both
    if span.status.description:
        status["message"] = span.status.description
    out["status"] = status
    return out


def _flags(context: SpanContext, parent: SpanContext | None) -> int:
    flags = int(context.trace_flags) | _HAS_IS_REMOTE
    return flags | _IS_REMOTE if parent is not None and parent.is_remote else flags


def _event(name: str, timestamp: int, attrs: Any, dropped: int) -> dict[str, Any]:
    out: dict[str, Any] = {"timeUnixNano": str(timestamp), "name": name, "attributes": attributes(attrs)}
    if dropped:
        out["droppedAttributesCount"] = dropped
    return out


def _link(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": f"{link.context.trace_id:032x}",
        "spanId": f"{link.context.span_id:016x}",
        "attributes": attributes(link.attributes),
        "flags": _flags(link.context, link.context),
    }
    if link.dropped_attributes:
        out["droppedAttributesCount"] = link.dropped_attributes
    return out


def _scope(scope: Any) -> dict[str, Any]:
    if scope is None:
        return {}
    out: dict[str, Any] = {"name": scope.name}
    if scope.version:
        out["version"] = scope.version
    if scope.attributes:
        out["attributes"] = attributes(scope.attributes)
    return out


def attributes(attrs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Attributes as OTLP/JSON ``KeyValue`` objects."""
    return [{"key": key, "value": any_value(value)} for key, value in (attrs or {}).items()]


def any_value(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP/JSON ``AnyValue``."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": attributes({str(k): v for k, v in value.items()})}}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def from_any_value(value: Mapping[str, Any]) -> Any:
    """An OTLP/JSON ``AnyValue`` as a Python value (the inverse of `any_value`)."""
    for kind, raw in value.items():
        if kind in ("stringValue", "boolValue"):
            return raw
        if kind == "intValue":
            return int(raw)
        if kind == "doubleValue":
            return float(raw)
        if kind == "arrayValue":
            return [from_any_value(v) for v in raw.get("values", ())]
        if kind == "kvlistValue":
            return {kv["key"]: from_any_value(kv.get("value", {})) for kv in raw.get("values", ())}
        if kind == "bytesValue":
            return base64.b64decode(raw)
    return None
